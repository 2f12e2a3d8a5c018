// SimScheduler: the one Scheduler of a simulated agent — the authorizer's deadlines, the portal's completions, the
// sender's pumps, the re-checks. Tasks run only when the simulation says so, one per step, in (time, insertion)
// order, so that a seed replays exactly. RunAt is thread-safe (a component thread may call it), but the simulation
// arranges that only its own thread does while a step runs (see world.cc: the outbox's wake-up is deferred).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "common/scheduler.h"

namespace oa::sim {

class SimScheduler final : public Scheduler {
 public:
  void RunAt(Clock::MonoTime when, std::function<void()> task) override {
    std::lock_guard lock(mu_);
    tasks_.emplace(std::make_pair(when, next_++), std::move(task));
  }

  std::optional<Clock::MonoTime> NextTime() const {
    std::lock_guard lock(mu_);
    if (tasks_.empty()) return std::nullopt;
    return tasks_.begin()->first.first;
  }

  // Runs the earliest task if it is due at `now`; false if none is.
  bool RunOneDue(Clock::MonoTime now) {
    std::function<void()> task;
    {
      std::lock_guard lock(mu_);
      if (tasks_.empty() || tasks_.begin()->first.first > now) return false;
      task = std::move(tasks_.begin()->second);
      tasks_.erase(tasks_.begin());
    }
    task();
    return true;
  }

  // Drops every task (an agent crash). The callbacks are destroyed outside the lock: they may own permits.
  void Clear() {
    std::map<std::pair<Clock::MonoTime, std::uint64_t>, std::function<void()>> gone;
    {
      std::lock_guard lock(mu_);
      gone.swap(tasks_);
    }
  }

  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }

 private:
  mutable std::mutex mu_;
  std::uint64_t next_ = 0;
  std::map<std::pair<Clock::MonoTime, std::uint64_t>, std::function<void()>> tasks_;
};

}  // namespace oa::sim
