// CircuitBreaker: stops calling the portal while it is failing, so that every connect gets an immediate answer from
// the fail mode instead of waiting for a timeout (docs/architecture.md#circuit-breaker).
//
//   Closed --(failure_threshold consecutive failures, or failure rate >= failure_rate_threshold % over `window`
//             with >= minimum_calls results)--> Open
//   Open   --(open_timeout elapsed, noticed by the next TryAcquire)--> HalfOpen
//   Open   --(OnPeerReachable: the portal answered elsewhere, e.g. the policy stream reconnected)--> HalfOpen at once
//   HalfOpen: at most half_open_max_calls probes in flight or succeeded; that many successes -> Closed,
//             any failure -> Open again with a longer open period (doubling, capped at max_open_timeout, +-10 %
//             jitter that never exceeds the cap).
//
// Use: `auto permit = breaker.TryAcquire(); if (!permit) -> answer from the fail mode ("breaker open");` else make
// the call and `breaker.Record(permit, ClassifyCall(outcome, code))`. A permit that is destroyed unrecorded (call
// abandoned) counts as kIgnored and so frees its half-open probe slot. Every state change bumps a generation; a
// result recorded with a permit from an earlier generation is dropped (counted in `stale_results`).
//
// The rolling window is kWindowBuckets buckets of window/kWindowBuckets each, so it rolls with that granularity.
// failure_threshold <= 0 or failure_rate_threshold <= 0 disables that trip rule; half_open_max_calls <= 0 acts as 1.
//
// Thread-safety: every method may be called from any thread. In the closed state TryAcquire takes no lock (one
// atomic load) and recording a success takes none either (a few atomics and one clock read); failures, probes and
// transitions take a mutex briefly. The transition callback never runs under the breaker's lock, one callback at a
// time and in transition order, after the state changed: on the thread whose call caused the transition, or — when
// another thread is delivering at that moment — on that thread, so that no caller ever waits for a callback. It may
// call any method of the breaker (its own transitions are delivered after it returns); keep it short (a log line
// and a metric), do not block in it and do not throw from it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>

#include "resilience/call_result.h"
#include "resilience/clock.h"
#include "resilience/options.h"

namespace oa {

enum class BreakerState : std::uint8_t { kClosed, kOpen, kHalfOpen };
enum class BreakerOverride : std::uint8_t { kAuto, kForceOpen, kForceClosed };

constexpr std::string_view to_string(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "unknown";
}

constexpr std::string_view to_string(BreakerOverride o) {
  switch (o) {
    case BreakerOverride::kAuto: return "auto";
    case BreakerOverride::kForceOpen: return "force_open";
    case BreakerOverride::kForceClosed: return "force_closed";
  }
  return "unknown";
}

// One state change, as reported to the TransitionCallback. `reason` points to a static string.
struct BreakerTransition {
  BreakerState from = BreakerState::kClosed;
  BreakerState to = BreakerState::kClosed;
  std::string_view reason;
  std::uint64_t generation = 0;  // the generation the breaker entered
  Millis open_for{0};        // when `to` is kOpen: how long it stays open (0 when forced open: until released)
};

// Why TryAcquire refused a call.
enum class BreakerRejection : std::uint8_t { kNone, kOpen, kForcedOpen, kHalfOpenBusy };

constexpr std::string_view to_string(BreakerRejection r) {
  switch (r) {
    case BreakerRejection::kNone: return "none";
    case BreakerRejection::kOpen: return "breaker open";
    case BreakerRejection::kForcedOpen: return "breaker forced open";
    case BreakerRejection::kHalfOpenBusy: return "breaker half-open, probes busy";
  }
  return "unknown";
}

struct BreakerCounters {
  std::uint64_t admitted = 0;       // permits handed out (probes included)
  std::uint64_t probes = 0;         // of which half-open probes
  std::uint64_t rejected = 0;       // calls refused at once
  std::uint64_t successes = 0;      // results recorded, by class (stale results excluded)
  std::uint64_t failures = 0;
  std::uint64_t ignored = 0;
  std::uint64_t stale_results = 0;  // results dropped because they belonged to an earlier generation
  std::uint64_t trips = 0;          // transitions into Open (forced ones included)
  std::uint64_t reachable_half_opens = 0;  // Open -> HalfOpen before open_timeout, by OnPeerReachable
  Millis current_open_timeout{0};   // the (jittered) open period of the latest trip; 0 if none or forced
  Millis next_open_timeout{0};      // the open period the next trip starts from, before jitter
};

class CircuitBreaker;

// The right to make one portal call. Move-only. Converts to true when admitted.
class BreakerPermit {
 public:
  BreakerPermit() = default;
  BreakerPermit(BreakerPermit&& other) noexcept { *this = std::move(other); }
  BreakerPermit& operator=(BreakerPermit&& other) noexcept;
  BreakerPermit(const BreakerPermit&) = delete;
  BreakerPermit& operator=(const BreakerPermit&) = delete;
  // An admitted permit that was never recorded counts as kIgnored (the call was abandoned).
  ~BreakerPermit();

  bool admitted() const { return rejection_ == BreakerRejection::kNone && breaker_ != nullptr; }
  explicit operator bool() const { return admitted(); }
  BreakerRejection rejection() const { return rejection_; }
  bool is_probe() const { return probe_; }
  std::uint64_t generation() const { return generation_; }

 private:
  friend class CircuitBreaker;
  CircuitBreaker* breaker_ = nullptr;  // null once recorded, or when rejected
  std::uint64_t generation_ = 0;
  bool probe_ = false;
  BreakerRejection rejection_ = BreakerRejection::kNone;
};

class CircuitBreaker {
 public:
  using TransitionCallback = std::function<void(const BreakerTransition&)>;
  // Returns a number in [0, 1); 0.5 means "no jitter". Called under the breaker's lock: must not call back.
  using JitterSource = std::function<double()>;
  static constexpr int kWindowBuckets = 10;
  static constexpr double kOpenJitter = 0.10;  // +-10 % on each open period

  // `clock` must outlive the breaker. An empty `jitter` uses an internal PRNG seeded from std::random_device.
  CircuitBreaker(const CircuitBreakerOptions& options, const Clock& clock, TransitionCallback on_transition = {},
                 JitterSource jitter = {});
  ~CircuitBreaker();
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Never blocks on I/O; refuses at once while open.
  BreakerPermit TryAcquire();
  // Records the result of the call the permit admitted, and disarms the permit. A disarmed or rejected permit is a
  // no-op, so recording twice counts once.
  void Record(BreakerPermit& permit, CallResult result);

  // Manual override. kForceOpen refuses every call until released; kForceClosed admits every call and never
  // trips (results are still counted). Back to kAuto the breaker starts Closed with a clean window and the open
  // period reset to open_timeout: the operator's "resume normal operation".
  void SetOverride(BreakerOverride mode);

  // The portal was seen reachable outside the calls this breaker guards (the policy stream delivered its first
  // message after an outage): an open breaker moves to HalfOpen at once, so that the next call probes the portal
  // instead of every caller waiting out open_timeout. The probe rules stay: at most half_open_max_calls probes, a
  // failed one reopens with the next (growing) open period, the generation moves on as for any transition. Closed,
  // already half-open, or forced open by the operator: nothing. Returns whether the breaker moved.
  bool OnPeerReachable();
  BreakerOverride override_mode() const;

  // Replaces the options at run time. The window restarts; the state and the current open period are kept (the
  // open period is clamped into the new [open_timeout, max_open_timeout]).
  void UpdateOptions(const CircuitBreakerOptions& options);

  BreakerState state() const;
  std::uint64_t generation() const;
  BreakerCounters counters() const;

 private:
  friend class BreakerPermit;
  // Atomics because a success in the closed state is counted without the lock (see Record); a bucket is rolled to
  // a new slice only under the lock. A success racing with a roll may land in the neighbouring slice: the window's
  // counts are exact up to such boundary races.
  struct Bucket {
    std::atomic<std::int64_t> epoch{-1};  // which window slice this bucket currently counts
    std::atomic<std::uint32_t> successes{0};
    std::atomic<std::uint32_t> failures{0};
  };

  // All *Locked helpers require mu_.
  void TransitionLocked(BreakerState to, std::string_view reason, Millis open_for);
  void TripLocked(std::string_view reason, Clock::MonoTime now);
  void ResetWindowLocked();
  void CountInWindowLocked(bool failure, Clock::MonoTime now);
  bool RateTrippedLocked(Clock::MonoTime now) const;
  Millis JitteredLocked(Millis base);
  void PublishFastPathLocked();
  void RecordLocked(std::uint64_t generation, bool probe, CallResult result, Clock::MonoTime now);
  std::int64_t EpochOf(Clock::MonoTime now) const;
  // At least one probe, or a half-open breaker could never close.
  int HalfOpenMaxCallsLocked() const { return options_.half_open_max_calls > 0 ? options_.half_open_max_calls : 1; }
  bool TryRecordClosedSuccessUnlocked(std::uint64_t generation, Clock::MonoTime now);
  void DeliverTransitions();

  const Clock& clock_;
  TransitionCallback on_transition_;

  // Fast path for the closed state: (generation << 1) | 1 while calls may be admitted without the lock
  // (auto+Closed, or forced closed); low bit 0 otherwise.
  std::atomic<std::uint64_t> fast_{1};

  mutable std::mutex mu_;
  CircuitBreakerOptions options_;
  JitterSource jitter_;
  std::uint64_t rng_state_ = 0;  // used when jitter_ is empty
  BreakerState state_ = BreakerState::kClosed;
  BreakerOverride override_ = BreakerOverride::kAuto;
  std::uint64_t generation_ = 0;
  std::atomic<int> consecutive_failures_{0};  // written under mu_, except reset to 0 by a lock-free success
  Bucket buckets_[kWindowBuckets];
  std::atomic<std::int64_t> bucket_width_ns_{1};  // window / kWindowBuckets; written under mu_
  std::uint64_t retired_successes_ = 0;           // closed-state successes moved out of rolled buckets
  Clock::MonoTime window_origin_{};
  Clock::MonoTime open_until_{};
  Millis next_open_timeout_{0};
  Millis last_open_for_{0};
  int half_open_admitted_ = 0;   // probes in flight or succeeded, this generation
  int half_open_successes_ = 0;
  std::deque<BreakerTransition> pending_;  // transitions not yet delivered to the callback

  bool delivering_ = false;  // guarded by mu_: one thread at a time runs the callback and drains pending_

  struct AtomicCounters {
    std::atomic<std::uint64_t> admitted{0}, probes{0}, rejected{0}, successes{0}, failures{0}, ignored{0},
        stale_results{0}, trips{0}, reachable_half_opens{0};
  };
  AtomicCounters counters_;
};

}  // namespace oa
