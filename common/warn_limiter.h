// WarnLimiter: keeps a flood of bad peers from flooding the log. Each kind of event may log `burst` lines per
// second; the rest are counted and the next line that gets through says how many were suppressed. The caller's
// counters still see every event. Used by the IPC server, the metrics endpoint and the capped acceptor (agent/net).
// Not thread-safe: one loop thread owns each limiter.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace oa {

template <std::size_t Kinds>
class WarnLimiter {
 public:
  explicit WarnLimiter(int burst = 20) : burst_(burst) {}

  // True if a line for `kind` may be logged now; *suppressed is how many were dropped since the last one.
  // `now` is Clock::MonoTime (resilience/clock.h): the caller's injected clock.
  bool Allow(std::size_t kind, std::chrono::steady_clock::time_point now, std::uint64_t* suppressed) {
    Slot& s = slots_[kind];
    if (now - s.window_start >= std::chrono::seconds(1)) {
      s.window_start = now;
      s.lines = 0;
    }
    if (s.lines >= burst_) {
      ++s.suppressed;
      return false;
    }
    ++s.lines;
    *suppressed = s.suppressed;
    s.suppressed = 0;
    return true;
  }

 private:
  struct Slot {
    std::chrono::steady_clock::time_point window_start{};
    int lines = 0;
    std::uint64_t suppressed = 0;
  };
  int burst_;
  std::array<Slot, Kinds> slots_{};
};

}  // namespace oa
