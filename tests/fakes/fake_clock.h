// FakeClock: a Clock that moves only when a test advances it. Thread-safe, so concurrency tests can share one.
#pragma once

#include <atomic>
#include <chrono>

#include "resilience/clock.h"

namespace oa::testing {

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary non-zero point so that "time zero" bugs show up.
  FakeClock() : mono_ns_(1'000'000'000'000), wall_ns_(1'790'000'000'000'000'000) {}

  MonoTime now() const override { return MonoTime(std::chrono::nanoseconds(mono_ns_.load())); }
  WallTime wall_now() const override {
    return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(wall_ns_.load())));
  }

  // Moves both clocks forward by d.
  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    mono_ns_ += ns;
    wall_ns_ += ns;
  }

 private:
  std::atomic<long long> mono_ns_;
  std::atomic<long long> wall_ns_;
};

}  // namespace oa::testing
