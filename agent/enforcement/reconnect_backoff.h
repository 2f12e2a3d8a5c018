// ReconnectBackoff: when to try the policy stream again after it ended — jittered exponential backoff (STYLE.md #5:
// a small policy of its own, separate from the decision of whether to retry). Pure: takes the jitter draw as input.
// Not thread-safe (owned by one WatchStreamLogic).
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>

#include "common/jitter.h"
#include "resilience/options.h"

namespace oa {

struct BackoffOptions {
  Millis initial{100};
  Millis max{30'000};
  double multiplier = 2.0;
  double jitter = 0.2;  // each delay is scaled by a factor in [1 - jitter, 1 + jitter), never above max
};

class ReconnectBackoff {
 public:
  // Returns a number in [0, 1); 0.5 means "no jitter" — the same seam as CircuitBreaker::JitterSource.
  using JitterSource = std::function<double()>;

  ReconnectBackoff(BackoffOptions options, JitterSource jitter) : options_(options), jitter_(std::move(jitter)) {}

  // The delay before the next attempt; each call doubles the base for the following one, up to max.
  Millis Next() {
    const Millis base = std::max(current_, Millis{1});
    const Millis jittered = Jittered(base, options_.jitter, jitter_ ? jitter_() : 0.5);
    current_ = std::min(options_.max, Millis(static_cast<Millis::rep>(static_cast<double>(base.count()) *
                                                                       options_.multiplier)));
    return std::clamp(jittered, Millis{0}, options_.max);
  }
  // A stream that came up and delivered its first heartbeat: start again from `initial`.
  void Reset() { current_ = options_.initial; }
  Millis current_base() const { return current_; }

 private:
  BackoffOptions options_;
  JitterSource jitter_;
  Millis current_{options_.initial};
};

}  // namespace oa
