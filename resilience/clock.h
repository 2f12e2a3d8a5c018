// Clock: the one source of time for the breaker, the cache and everything that has a deadline, so that tests can
// inject tests/fakes/fake_clock.h and never sleep. Thread-safe: now() may be called from any thread.
#pragma once

#include <chrono>

namespace oa {

class Clock {
 public:
  using MonoTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time: for TTLs, timeouts and windows.
  virtual MonoTime now() const = 0;
  // Wall-clock time: for timestamps sent to the portal or written to logs.
  virtual WallTime wall_now() const = 0;
};

// The real clocks of the process.
class SystemClock final : public Clock {
 public:
  MonoTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }

  // A process-wide instance for production wiring.
  static const SystemClock& instance() {
    static const SystemClock clock;
    return clock;
  }
};

}  // namespace oa
