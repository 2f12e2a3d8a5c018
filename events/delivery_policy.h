// How the sender reacts to the end of one delivery, and how long it waits before trying again — two small pure
// policies, kept apart (shared/STYLE.md #5).
//
// Thread-safety: ClassifyDelivery is pure. RetryBackoff is not thread-safe (the sender holds it under its lock).
#pragma once

#include <chrono>
#include <cstdint>
#include "absl/status/status.h"
#include "common/jitter.h"

namespace oa {

enum class DeliveryVerdict : std::uint8_t {
  kDelivered,  // delete it from the outbox
  kRetry,      // keep it; the portal (or the path to it) is not taking events now: back off, then resend
  kPark,       // the portal refused this event for good: move it aside so that it does not block the rest
};

// The one place retryability is decided, by the status code the delivery ended with.
DeliveryVerdict ClassifyDelivery(absl::StatusCode code);

struct RetryBackoffOptions {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{60'000};
  double multiplier = 2.0;
  double jitter = 0.2;  // each delay is drawn uniformly from [d·(1−jitter), d·(1+jitter)]
};

// Jittered exponential backoff: initial, ×multiplier per consecutive failure, capped at max.
class RetryBackoff {
 public:
  // `seed` 0 = a random one. The jitter is common/jitter.h's (SplitMix64 + Jittered), as the breaker's and the
  // cache's.
  explicit RetryBackoff(RetryBackoffOptions options, std::uint64_t seed = 0)
      : options_(options), rng_state_(seed != 0 ? seed : RandomSeed()) {}
  // The delay before the next attempt; each call grows the next one.
  std::chrono::milliseconds Next();
  void Reset() {
    base_ms_ = 0;
    failures_ = 0;
  }
  int failures() const { return failures_; }

 private:
  RetryBackoffOptions options_;
  std::uint64_t rng_state_;
  double base_ms_ = 0;
  int failures_ = 0;
};

}  // namespace oa
