#include "resilience/circuit_breaker.h"

#include <algorithm>

#include "common/jitter.h"

namespace oa {
namespace {

constexpr std::string_view kReasonConsecutive = "consecutive failures reached failure_threshold";
constexpr std::string_view kReasonRate = "failure rate over the window reached failure_rate_threshold";
constexpr std::string_view kReasonOpenElapsed = "open timeout elapsed";
constexpr std::string_view kReasonPeerReachable = "portal reachable again (policy stream): probing before open timeout";
constexpr std::string_view kReasonProbesSucceeded = "half-open probes succeeded";
constexpr std::string_view kReasonProbeFailed = "half-open probe failed";
constexpr std::string_view kReasonForceOpen = "forced open by operator";
constexpr std::string_view kReasonForceClosed = "forced closed by operator";
constexpr std::string_view kReasonAuto = "override released: back to automatic";

}  // namespace

BreakerPermit& BreakerPermit::operator=(BreakerPermit&& other) noexcept {
  if (this != &other) {
    if (breaker_ != nullptr) breaker_->Record(*this, CallResult::kIgnored);
    breaker_ = other.breaker_;
    generation_ = other.generation_;
    probe_ = other.probe_;
    rejection_ = other.rejection_;
    other.breaker_ = nullptr;
  }
  return *this;
}

BreakerPermit::~BreakerPermit() {
  if (breaker_ != nullptr) breaker_->Record(*this, CallResult::kIgnored);
}

CircuitBreaker::CircuitBreaker(const CircuitBreakerOptions& options, const Clock& clock,
                               TransitionCallback on_transition, JitterSource jitter)
    : clock_(clock), on_transition_(std::move(on_transition)), options_(options), jitter_(std::move(jitter)) {
  if (!jitter_) rng_state_ = RandomSeed();
  window_origin_ = clock_.now();
  ResetWindowLocked();  // sets the slice width; no other thread can see the breaker yet
  next_open_timeout_ = options_.open_timeout;
  fast_.store(1, std::memory_order_release);
}

CircuitBreaker::~CircuitBreaker() = default;

BreakerPermit CircuitBreaker::TryAcquire() {
  const std::uint64_t fast = fast_.load(std::memory_order_acquire);
  BreakerPermit permit;
  if (fast & 1) {
    counters_.admitted.fetch_add(1, std::memory_order_relaxed);
    permit.breaker_ = this;
    permit.generation_ = fast >> 1;
    return permit;
  }
  bool deliver = false;
  {
    std::lock_guard lock(mu_);
    if (override_ == BreakerOverride::kForceOpen) {
      permit.rejection_ = BreakerRejection::kForcedOpen;
    } else if (state_ == BreakerState::kOpen) {
      const auto now = clock_.now();
      if (now >= open_until_) {
        TransitionLocked(BreakerState::kHalfOpen, kReasonOpenElapsed, Millis{0});
      } else {
        permit.rejection_ = BreakerRejection::kOpen;
      }
    }
    if (permit.rejection_ == BreakerRejection::kNone) {
      if (state_ == BreakerState::kHalfOpen && override_ == BreakerOverride::kAuto) {
        if (half_open_admitted_ < HalfOpenMaxCallsLocked()) {
          ++half_open_admitted_;
          permit.probe_ = true;
          counters_.probes.fetch_add(1, std::memory_order_relaxed);
        } else {
          permit.rejection_ = BreakerRejection::kHalfOpenBusy;
        }
      }
      // Otherwise Closed (the fast path was just republished under us): admit as usual.
    }
    if (permit.rejection_ == BreakerRejection::kNone) {
      permit.breaker_ = this;
      permit.generation_ = generation_;
      counters_.admitted.fetch_add(1, std::memory_order_relaxed);
    } else {
      counters_.rejected.fetch_add(1, std::memory_order_relaxed);
    }
    deliver = !pending_.empty();
  }
  if (deliver) DeliverTransitions();
  return permit;
}

void CircuitBreaker::Record(BreakerPermit& permit, CallResult result) {
  if (permit.breaker_ != this) return;  // rejected, already recorded, or another breaker's permit
  permit.breaker_ = nullptr;
  const auto now = clock_.now();
  // The common case, a success while closed, needs no lock: it only resets the consecutive count and counts in the
  // current window slice.
  if (result == CallResult::kSuccess && !permit.probe_ && TryRecordClosedSuccessUnlocked(permit.generation_, now)) {
    return;
  }
  bool deliver = false;
  {
    std::lock_guard lock(mu_);
    RecordLocked(permit.generation_, permit.probe_, result, now);
    deliver = !pending_.empty();
  }
  if (deliver) DeliverTransitions();
}

bool CircuitBreaker::TryRecordClosedSuccessUnlocked(std::uint64_t generation, Clock::MonoTime now) {
  const std::uint64_t fast = fast_.load(std::memory_order_acquire);
  if ((fast & 1) == 0 || (fast >> 1) != generation) return false;  // not closed, or an earlier state: locked path
  // A thread preempted from here to the writes below while the breaker trips, waits out open_timeout, probes and
  // closes again would count its old success in the new window. That takes a stall longer than open_timeout; the
  // window tolerates it as it tolerates slice-boundary races, rather than taking the lock on every success.
  const std::int64_t epoch = EpochOf(now);
  Bucket& b = buckets_[epoch % kWindowBuckets];
  if (b.epoch.load(std::memory_order_acquire) != epoch) return false;  // the slice must be rolled: locked path
  // Also the success counter: counters() adds the buckets to what was retired from them (saves an atomic RMW).
  b.successes.fetch_add(1, std::memory_order_relaxed);
  if (consecutive_failures_.load(std::memory_order_relaxed) != 0) {
    consecutive_failures_.store(0, std::memory_order_relaxed);
  }
  return true;
}

std::int64_t CircuitBreaker::EpochOf(Clock::MonoTime now) const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now - window_origin_).count() /
         bucket_width_ns_.load(std::memory_order_relaxed);
}

void CircuitBreaker::RecordLocked(std::uint64_t generation, bool probe, CallResult result, Clock::MonoTime now) {
  if (generation != generation_) {
    counters_.stale_results.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const bool automatic = override_ == BreakerOverride::kAuto;
  switch (result) {
    case CallResult::kIgnored:
      counters_.ignored.fetch_add(1, std::memory_order_relaxed);
      if (probe && state_ == BreakerState::kHalfOpen) --half_open_admitted_;  // free the slot for another probe
      return;
    case CallResult::kSuccess:
      if (state_ == BreakerState::kClosed) {
        consecutive_failures_.store(0, std::memory_order_relaxed);
        CountInWindowLocked(false, now);  // counted as a success through the bucket
        return;
      }
      counters_.successes.fetch_add(1, std::memory_order_relaxed);
      if (state_ == BreakerState::kHalfOpen && probe && automatic) {
        if (++half_open_successes_ >= HalfOpenMaxCallsLocked()) {
          TransitionLocked(BreakerState::kClosed, kReasonProbesSucceeded, Millis{0});
        }
      }
      return;
    case CallResult::kFailure:
      counters_.failures.fetch_add(1, std::memory_order_relaxed);
      if (state_ == BreakerState::kClosed) {
        const int consecutive = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
        CountInWindowLocked(true, now);
        if (!automatic) return;  // forced closed: counted, never trips
        if (options_.failure_threshold > 0 && consecutive >= options_.failure_threshold) {
          TripLocked(kReasonConsecutive, now);
        } else if (RateTrippedLocked(now)) {
          TripLocked(kReasonRate, now);
        }
      } else if (state_ == BreakerState::kHalfOpen && probe && automatic) {
        TripLocked(kReasonProbeFailed, now);
      }
      return;
  }
}

void CircuitBreaker::TripLocked(std::string_view reason, Clock::MonoTime now) {
  const Millis max_open = std::max(options_.max_open_timeout, options_.open_timeout);
  const Millis open_for = JitteredLocked(next_open_timeout_);
  open_until_ = now + open_for;
  // Each further trip without an intervening close doubles the period, up to the cap.
  next_open_timeout_ = std::min(max_open, std::max(next_open_timeout_ * 2, Millis{1}));
  TransitionLocked(BreakerState::kOpen, reason, open_for);
}

Millis CircuitBreaker::JitteredLocked(Millis base) {
  const double u = jitter_ ? jitter_() : NextUnit(rng_state_);
  const Millis max_open = std::max(options_.max_open_timeout, options_.open_timeout);
  return std::clamp(Jittered(base, kOpenJitter, u), Millis{0}, max_open);
}

void CircuitBreaker::TransitionLocked(BreakerState to, std::string_view reason, Millis open_for) {
  const BreakerState from = state_;
  state_ = to;
  ++generation_;
  consecutive_failures_.store(0, std::memory_order_relaxed);
  half_open_admitted_ = 0;
  half_open_successes_ = 0;
  if (to == BreakerState::kClosed) {
    ResetWindowLocked();
    next_open_timeout_ = options_.open_timeout;
  }
  if (to == BreakerState::kOpen) counters_.trips.fetch_add(1, std::memory_order_relaxed);
  if (to == BreakerState::kOpen) last_open_for_ = open_for;
  PublishFastPathLocked();
  pending_.push_back(BreakerTransition{from, to, reason, generation_, open_for});
}

void CircuitBreaker::PublishFastPathLocked() {
  const bool admit_freely = override_ == BreakerOverride::kForceClosed ||
                            (override_ == BreakerOverride::kAuto && state_ == BreakerState::kClosed);
  fast_.store((generation_ << 1) | (admit_freely ? 1 : 0), std::memory_order_release);
}

void CircuitBreaker::ResetWindowLocked() {
  bucket_width_ns_.store(
      std::max<std::int64_t>(
          1, std::chrono::duration_cast<std::chrono::nanoseconds>(options_.window).count() / kWindowBuckets),
      std::memory_order_relaxed);
  for (auto& b : buckets_) {
    b.epoch.store(-1, std::memory_order_relaxed);
    retired_successes_ += b.successes.exchange(0, std::memory_order_relaxed);
    b.failures.store(0, std::memory_order_relaxed);
  }
}

void CircuitBreaker::CountInWindowLocked(bool failure, Clock::MonoTime now) {
  const std::int64_t epoch = EpochOf(now);
  Bucket& b = buckets_[epoch % kWindowBuckets];
  if (b.epoch.load(std::memory_order_relaxed) != epoch) {
    retired_successes_ += b.successes.exchange(0, std::memory_order_relaxed);
    b.failures.store(0, std::memory_order_relaxed);
    b.epoch.store(epoch, std::memory_order_release);
  }
  (failure ? b.failures : b.successes).fetch_add(1, std::memory_order_relaxed);
}

bool CircuitBreaker::RateTrippedLocked(Clock::MonoTime now) const {
  if (options_.failure_rate_threshold <= 0) return false;
  const std::int64_t epoch = EpochOf(now);
  std::uint64_t successes = 0, failures = 0;
  for (const auto& b : buckets_) {
    const std::int64_t e = b.epoch.load(std::memory_order_acquire);
    if (e > epoch - kWindowBuckets && e <= epoch) {
      successes += b.successes.load(std::memory_order_relaxed);
      failures += b.failures.load(std::memory_order_relaxed);
    }
  }
  const std::uint64_t total = successes + failures;
  if (total == 0 || total < static_cast<std::uint64_t>(std::max(options_.minimum_calls, 0))) return false;
  return failures * 100 >= static_cast<std::uint64_t>(options_.failure_rate_threshold) * total;
}

void CircuitBreaker::SetOverride(BreakerOverride mode) {
  {
    std::lock_guard lock(mu_);
    if (mode == override_) return;
    override_ = mode;
    switch (mode) {
      case BreakerOverride::kForceOpen:
        TransitionLocked(BreakerState::kOpen, kReasonForceOpen, Millis{0});
        break;
      case BreakerOverride::kForceClosed:
        TransitionLocked(BreakerState::kClosed, kReasonForceClosed, Millis{0});
        break;
      case BreakerOverride::kAuto:
        TransitionLocked(BreakerState::kClosed, kReasonAuto, Millis{0});
        break;
    }
  }
  DeliverTransitions();
}

bool CircuitBreaker::OnPeerReachable() {
  {
    std::lock_guard lock(mu_);
    // A forced-open breaker is the operator's: only SetOverride releases it.
    if (override_ != BreakerOverride::kAuto || state_ != BreakerState::kOpen) return false;
    TransitionLocked(BreakerState::kHalfOpen, kReasonPeerReachable, Millis{0});
    counters_.reachable_half_opens.fetch_add(1, std::memory_order_relaxed);
  }
  DeliverTransitions();
  return true;
}

BreakerOverride CircuitBreaker::override_mode() const {
  std::lock_guard lock(mu_);
  return override_;
}

void CircuitBreaker::UpdateOptions(const CircuitBreakerOptions& options) {
  std::lock_guard lock(mu_);
  options_ = options;
  ResetWindowLocked();
  consecutive_failures_.store(0, std::memory_order_relaxed);
  const Millis max_open = std::max(options_.max_open_timeout, options_.open_timeout);
  next_open_timeout_ = std::clamp(next_open_timeout_, options_.open_timeout, max_open);
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

std::uint64_t CircuitBreaker::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

BreakerCounters CircuitBreaker::counters() const {
  BreakerCounters c;
  c.admitted = counters_.admitted.load(std::memory_order_relaxed);
  c.probes = counters_.probes.load(std::memory_order_relaxed);
  c.rejected = counters_.rejected.load(std::memory_order_relaxed);

  c.failures = counters_.failures.load(std::memory_order_relaxed);
  c.ignored = counters_.ignored.load(std::memory_order_relaxed);
  c.stale_results = counters_.stale_results.load(std::memory_order_relaxed);
  c.trips = counters_.trips.load(std::memory_order_relaxed);
  c.reachable_half_opens = counters_.reachable_half_opens.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  // Closed-state successes live in the window buckets and, once a bucket is rolled, in retired_successes_.
  c.successes = counters_.successes.load(std::memory_order_relaxed) + retired_successes_;
  for (const auto& b : buckets_) c.successes += b.successes.load(std::memory_order_relaxed);
  c.current_open_timeout = last_open_for_;
  c.next_open_timeout = next_open_timeout_;
  return c;
}

// One deliverer at a time drains the queue; a thread that finds a delivery under way leaves its transitions to that
// thread and returns at once, so no caller (a rejected TryAcquire above all) ever waits behind a callback. The
// deliverer gives up its role only under mu_ and with the queue empty, so no transition is left behind.
void CircuitBreaker::DeliverTransitions() {
  std::unique_lock lock(mu_);
  if (delivering_) return;
  delivering_ = true;
  while (!pending_.empty()) {
    const BreakerTransition t = pending_.front();
    pending_.pop_front();
    lock.unlock();
    if (on_transition_) on_transition_(t);
    lock.lock();
  }
  delivering_ = false;
}

}  // namespace oa
