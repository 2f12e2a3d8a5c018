// ManualScheduler: a Scheduler whose tasks run only when the test calls RunDue(now) — pair it with a FakeClock.
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>

#include "common/scheduler.h"
#include "resilience/clock.h"

namespace oa::testing {

class ManualScheduler final : public Scheduler {
 public:
  void RunAt(Clock::MonoTime when, std::function<void()> task) override {
    std::lock_guard lock(mu_);
    tasks_.emplace(when, std::move(task));
  }

  // Runs every task due at or before `now`, in time order. Returns how many ran.
  int RunDue(Clock::MonoTime now) {
    int ran = 0;
    for (;;) {
      std::function<void()> task;
      {
        std::lock_guard lock(mu_);
        if (tasks_.empty() || tasks_.begin()->first > now) return ran;
        task = std::move(tasks_.begin()->second);
        tasks_.erase(tasks_.begin());
      }
      task();
      ++ran;
    }
  }

  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }

 private:
  mutable std::mutex mu_;
  std::multimap<Clock::MonoTime, std::function<void()>> tasks_;
};

}  // namespace oa::testing
