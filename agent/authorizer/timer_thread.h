// TimerThread: the production Scheduler — one thread sleeping until the earliest task is due (steady clock).
// Stop() (or the destructor) runs nothing more and joins the thread; tasks not yet due are dropped.
//
// Thread-safety: RunAt and Stop from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "common/scheduler.h"
#include "resilience/clock.h"

namespace oa {

class TimerThread final : public Scheduler {
 public:
  TimerThread();
  ~TimerThread() override;
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  void RunAt(Clock::MonoTime when, std::function<void()> task) override;
  void Stop();

 private:
  struct Task {
    Clock::MonoTime when;
    std::uint64_t seq;  // keeps tasks due at the same time in submission order
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Task& a, const Task& b) const {
      return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
  };

  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Task, std::vector<Task>, Later> tasks_;
  std::uint64_t next_seq_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace oa
