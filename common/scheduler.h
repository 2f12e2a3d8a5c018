// Scheduler: runs a callback at a monotonic time. The authorizer uses it to answer a waiting request from the fail
// mode when its own deadline comes before the portal's answer; the event sender and the enforcer use it to try again
// later. Tests inject a manual scheduler that fires when the test advances its FakeClock; production uses TimerThread
// (agent/authorizer/timer_thread.h).
//
// Thread-safety: RunAt may be called from any thread. Callbacks run on the scheduler's own thread (or, for the
// manual test scheduler, on the thread that fires it), never inline in RunAt; they must be short and not block.
#pragma once

#include <chrono>
#include <functional>

namespace oa {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Runs `task` once, at or soon after `when`. There is no cancellation: a task whose work is already done checks
  // that itself (the authorizer's waiters answer at most once).
  // `when` is on the injected Clock (resilience/clock.h Clock::MonoTime, the same type).
  virtual void RunAt(std::chrono::steady_clock::time_point when, std::function<void()> task) = 0;
};

}  // namespace oa
