#include "resilience/circuit_breaker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "fake_clock.h"

namespace oa {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

CircuitBreakerOptions SmallOptions() {
  CircuitBreakerOptions o;
  o.failure_threshold = 3;
  o.failure_rate_threshold = 50;
  o.window = seconds(10);
  o.minimum_calls = 10;
  o.open_timeout = seconds(30);
  o.max_open_timeout = seconds(300);
  o.half_open_max_calls = 1;
  return o;
}

class BreakerTest : public ::testing::Test {
 protected:
  explicit BreakerTest(CircuitBreakerOptions options = SmallOptions())
      : breaker_(options, clock_, [this](const BreakerTransition& t) { transitions_.push_back(t); },
                 [this] { return jitter_; }) {}

  void Call(CallResult result) {
    auto permit = breaker_.TryAcquire();
    ASSERT_TRUE(permit) << to_string(permit.rejection());
    breaker_.Record(permit, result);
  }

  void Trip() {
    for (int i = 0; i < 3; ++i) Call(CallResult::kFailure);
    ASSERT_EQ(breaker_.state(), BreakerState::kOpen);
  }

  FakeClock clock_;
  double jitter_ = 0.5;  // no jitter unless a test says otherwise
  std::vector<BreakerTransition> transitions_;
  CircuitBreaker breaker_;
};

TEST_F(BreakerTest, StartsClosedAndAdmits) {
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  auto permit = breaker_.TryAcquire();
  EXPECT_TRUE(permit);
  EXPECT_FALSE(permit.is_probe());
  EXPECT_EQ(permit.rejection(), BreakerRejection::kNone);
}

TEST_F(BreakerTest, TripsOnConsecutiveFailures) {
  Call(CallResult::kFailure);
  Call(CallResult::kFailure);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  Call(CallResult::kFailure);
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_EQ(transitions_[0].from, BreakerState::kClosed);
  EXPECT_EQ(transitions_[0].to, BreakerState::kOpen);
  EXPECT_NE(transitions_[0].reason.find("consecutive"), std::string_view::npos);
  EXPECT_EQ(transitions_[0].open_for, seconds(30));
  EXPECT_EQ(breaker_.counters().trips, 1u);
}

TEST_F(BreakerTest, SuccessResetsTheConsecutiveCount) {
  Call(CallResult::kFailure);
  Call(CallResult::kFailure);
  Call(CallResult::kSuccess);
  Call(CallResult::kFailure);
  Call(CallResult::kFailure);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, DenyIsASuccessAndNeverTrips) {
  for (int i = 0; i < 100; ++i) Call(ClassifyCall(PortalOutcome::kDeny, absl::StatusCode::kOk));
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_EQ(breaker_.counters().successes, 100u);
}

TEST_F(BreakerTest, IgnoredResultsNeitherTripNorReset) {
  Call(CallResult::kFailure);
  Call(CallResult::kFailure);
  for (int i = 0; i < 10; ++i) Call(CallResult::kIgnored);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  Call(CallResult::kFailure);
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_EQ(breaker_.counters().ignored, 10u);
}

TEST_F(BreakerTest, TripsOnFailureRateOnlyOnceMinimumCallsSeen) {
  // Alternate success/failure: never 3 consecutive failures, rate 50 %.
  for (int i = 0; i < 4; ++i) {
    Call(CallResult::kSuccess);
    Call(CallResult::kFailure);
  }
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed) << "8 calls < minimum_calls 10";
  Call(CallResult::kSuccess);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed) << "a success never trips";
  Call(CallResult::kFailure);  // 10 calls, 5 failures: 50 % >= 50 %
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_NE(transitions_[0].reason.find("rate"), std::string_view::npos);
}

TEST_F(BreakerTest, RateBelowThresholdDoesNotTrip) {
  for (int i = 0; i < 30; ++i) {
    Call(CallResult::kSuccess);
    Call(CallResult::kSuccess);
    Call(i % 2 ? CallResult::kFailure : CallResult::kSuccess);  // ~17 % failures
  }
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

// 9 calls, 5 failures, never 3 failures in a row: below minimum_calls, so no trip yet.
void NineCallsFiveFailures(CircuitBreaker& b) {
  for (int i = 0; i < 9; ++i) {
    auto p = b.TryAcquire();
    b.Record(p, i % 2 == 0 ? CallResult::kFailure : CallResult::kSuccess);
  }
}

TEST_F(BreakerTest, OldResultsRollOutOfTheWindow) {
  NineCallsFiveFailures(breaker_);
  clock_.advance(seconds(11));  // the 10 s window has moved past them
  Call(CallResult::kFailure);   // had they counted: 10 calls, 6 failures
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, ResultsWithinTheWindowCount) {
  NineCallsFiveFailures(breaker_);
  clock_.advance(seconds(5));
  Call(CallResult::kFailure);  // 10 calls, 6 failures within 10 s
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, OpenRefusesAtOnceUntilTimeout) {
  Trip();
  for (int i = 0; i < 5; ++i) {
    auto permit = breaker_.TryAcquire();
    EXPECT_FALSE(permit);
    EXPECT_EQ(permit.rejection(), BreakerRejection::kOpen);
  }
  EXPECT_EQ(breaker_.counters().rejected, 5u);
  clock_.advance(seconds(30) - milliseconds(1));
  EXPECT_FALSE(breaker_.TryAcquire());
  clock_.advance(milliseconds(1));
  auto probe = breaker_.TryAcquire();
  EXPECT_TRUE(probe);
  EXPECT_TRUE(probe.is_probe());
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  EXPECT_EQ(transitions_.back().from, BreakerState::kOpen);
  EXPECT_EQ(transitions_.back().to, BreakerState::kHalfOpen);
}

TEST_F(BreakerTest, HalfOpenAdmitsOnlyMaxProbesAndClosesOnSuccess) {
  Trip();
  clock_.advance(seconds(30));
  auto probe = breaker_.TryAcquire();
  ASSERT_TRUE(probe);
  auto second = breaker_.TryAcquire();
  EXPECT_FALSE(second);
  EXPECT_EQ(second.rejection(), BreakerRejection::kHalfOpenBusy);
  breaker_.Record(probe, CallResult::kSuccess);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_EQ(transitions_.back().reason, "half-open probes succeeded");
  EXPECT_TRUE(breaker_.TryAcquire());
}

TEST_F(BreakerTest, HalfOpenNeedsAllProbesToSucceed) {
  auto options = SmallOptions();
  options.half_open_max_calls = 3;
  breaker_.UpdateOptions(options);
  Trip();
  clock_.advance(seconds(30));
  auto a = breaker_.TryAcquire();
  auto b = breaker_.TryAcquire();
  auto c = breaker_.TryAcquire();
  ASSERT_TRUE(a && b && c);
  EXPECT_FALSE(breaker_.TryAcquire());
  breaker_.Record(a, CallResult::kSuccess);
  breaker_.Record(b, CallResult::kSuccess);
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  EXPECT_FALSE(breaker_.TryAcquire()) << "succeeded probes keep their slots";
  breaker_.Record(c, CallResult::kSuccess);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, ProbeFailureReopensWithGrowingTimeoutUpToTheCap) {
  Trip();
  const std::vector<milliseconds> expected = {seconds(60), seconds(120), seconds(240), seconds(300), seconds(300)};
  milliseconds wait = seconds(30);
  for (auto next : expected) {
    clock_.advance(wait);
    auto probe = breaker_.TryAcquire();
    ASSERT_TRUE(probe);
    breaker_.Record(probe, CallResult::kFailure);
    ASSERT_EQ(breaker_.state(), BreakerState::kOpen);
    EXPECT_EQ(transitions_.back().reason, "half-open probe failed");
    EXPECT_EQ(transitions_.back().open_for, next);
    EXPECT_EQ(breaker_.counters().current_open_timeout, next);
    clock_.advance(next - milliseconds(1));
    EXPECT_FALSE(breaker_.TryAcquire()) << "still open just before " << next.count() << " ms";
    wait = milliseconds(1);
  }
  // Closing resets the open period.
  clock_.advance(seconds(300));
  auto probe = breaker_.TryAcquire();
  breaker_.Record(probe, CallResult::kSuccess);
  ASSERT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_EQ(breaker_.counters().next_open_timeout, seconds(30));
  Trip();
  EXPECT_EQ(transitions_.back().open_for, seconds(30));
}

// The policy stream reconnecting (issue 11): the portal is reachable again, so the next call probes it at once
// instead of every caller waiting out open_timeout.
TEST_F(BreakerTest, PeerReachableMovesAnOpenBreakerToHalfOpenAtOnce) {
  Trip();
  const std::uint64_t open_generation = breaker_.generation();
  clock_.advance(seconds(1));  // far from the 30 s open timeout
  EXPECT_FALSE(breaker_.TryAcquire());
  EXPECT_TRUE(breaker_.OnPeerReachable());
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  EXPECT_EQ(breaker_.generation(), open_generation + 1);
  EXPECT_EQ(transitions_.back().from, BreakerState::kOpen);
  EXPECT_EQ(transitions_.back().to, BreakerState::kHalfOpen);
  EXPECT_NE(transitions_.back().reason.find("policy stream"), std::string_view::npos);
  EXPECT_EQ(breaker_.counters().reachable_half_opens, 1u);
  auto probe = breaker_.TryAcquire();
  ASSERT_TRUE(probe);
  EXPECT_TRUE(probe.is_probe());
  auto second = breaker_.TryAcquire();
  EXPECT_FALSE(second) << "half_open_max_calls (1) still bounds the probes";
  EXPECT_EQ(second.rejection(), BreakerRejection::kHalfOpenBusy);
  EXPECT_FALSE(breaker_.OnPeerReachable()) << "already half-open: no second transition";
  breaker_.Record(probe, CallResult::kSuccess);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_FALSE(breaker_.OnPeerReachable()) << "closed: nothing to do";
  EXPECT_EQ(breaker_.counters().reachable_half_opens, 1u);
}

TEST_F(BreakerTest, PeerReachableThenFailedProbeReopensWithTheGrowingOpenPeriod) {
  Trip();
  EXPECT_EQ(transitions_.back().open_for, seconds(30));
  ASSERT_TRUE(breaker_.OnPeerReachable());
  auto probe = breaker_.TryAcquire();
  ASSERT_TRUE(probe);
  breaker_.Record(probe, CallResult::kFailure);
  ASSERT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_EQ(transitions_.back().reason, "half-open probe failed");
  EXPECT_EQ(transitions_.back().open_for, seconds(60)) << "as after an elapsed open timeout: the period doubles";
  clock_.advance(seconds(59));
  EXPECT_FALSE(breaker_.TryAcquire());
  clock_.advance(seconds(1));
  EXPECT_TRUE(breaker_.TryAcquire());
}

TEST_F(BreakerTest, PeerReachableLeavesAForcedOpenBreakerOpen) {
  breaker_.SetOverride(BreakerOverride::kForceOpen);
  const std::size_t seen = transitions_.size();
  EXPECT_FALSE(breaker_.OnPeerReachable());
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_EQ(transitions_.size(), seen);
  EXPECT_EQ(breaker_.TryAcquire().rejection(), BreakerRejection::kForcedOpen);
  EXPECT_EQ(breaker_.counters().reachable_half_opens, 0u);
}

TEST_F(BreakerTest, ResultOfACallFromBeforeThePeerReachableTransitionIsStale) {
  auto before = breaker_.TryAcquire();  // admitted while closed, answered late
  ASSERT_TRUE(before);
  Trip();
  ASSERT_TRUE(breaker_.OnPeerReachable());
  breaker_.Record(before, CallResult::kSuccess);
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen) << "only a probe of this generation can close it";
  EXPECT_EQ(breaker_.counters().stale_results, 1u);
}

TEST_F(BreakerTest, JitterIsBoundedAndNeverExceedsTheCap) {
  jitter_ = 0.0;  // lowest
  Trip();
  EXPECT_EQ(transitions_.back().open_for, seconds(27));
  clock_.advance(seconds(27));
  jitter_ = 0.999999;  // highest
  auto probe = breaker_.TryAcquire();
  breaker_.Record(probe, CallResult::kFailure);
  EXPECT_GE(transitions_.back().open_for, milliseconds(65'999));
  EXPECT_LE(transitions_.back().open_for, seconds(66));
  // At the cap, upward jitter is clipped.
  for (int i = 0; i < 4; ++i) {
    clock_.advance(seconds(300));
    auto p = breaker_.TryAcquire();
    breaker_.Record(p, CallResult::kFailure);
  }
  EXPECT_EQ(transitions_.back().open_for, seconds(300));
}

TEST(BreakerJitterTest, DefaultJitterSpreadsWithinTenPercent) {
  FakeClock clock;
  CircuitBreakerOptions o = SmallOptions();
  std::vector<milliseconds> seen;
  for (int n = 0; n < 50; ++n) {
    milliseconds open_for{0};
    CircuitBreaker b(o, clock, [&](const BreakerTransition& t) { open_for = t.open_for; });
    for (int i = 0; i < 3; ++i) {
      auto p = b.TryAcquire();
      b.Record(p, CallResult::kFailure);
    }
    EXPECT_GE(open_for, seconds(27));
    EXPECT_LE(open_for, seconds(33));
    seen.push_back(open_for);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_LT(seen.front(), seen.back()) << "50 breakers all drew the same open period";
}

TEST_F(BreakerTest, ProbeFromAnEarlierGenerationIsDropped) {
  auto old_permit = breaker_.TryAcquire();  // taken while closed
  Trip();
  clock_.advance(seconds(30));
  auto probe = breaker_.TryAcquire();
  ASSERT_TRUE(probe);
  // The late success of the pre-trip call must not close the breaker.
  breaker_.Record(old_permit, CallResult::kSuccess);
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  EXPECT_EQ(breaker_.counters().stale_results, 1u);
  breaker_.Record(probe, CallResult::kSuccess);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, LateFailureAfterCloseDoesNotCountInTheNewGeneration) {
  Trip();
  clock_.advance(seconds(30));
  auto probe = breaker_.TryAcquire();
  breaker_.Record(probe, CallResult::kSuccess);
  auto before = breaker_.generation();
  BreakerPermit stale;
  {
    // A permit whose generation is from an earlier state: simulate with one taken before a forced transition.
    stale = breaker_.TryAcquire();
    breaker_.SetOverride(BreakerOverride::kForceClosed);
    breaker_.SetOverride(BreakerOverride::kAuto);
  }
  EXPECT_GT(breaker_.generation(), before);
  Call(CallResult::kFailure);
  Call(CallResult::kFailure);
  breaker_.Record(stale, CallResult::kFailure);  // would be the third consecutive failure
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, CancelledProbeReleasesItsSlot) {
  Trip();
  clock_.advance(seconds(30));
  auto probe = breaker_.TryAcquire();
  ASSERT_TRUE(probe);
  EXPECT_FALSE(breaker_.TryAcquire());
  breaker_.Record(probe, ClassifyCall(PortalOutcome::kError, absl::StatusCode::kCancelled));
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  auto next = breaker_.TryAcquire();
  EXPECT_TRUE(next);
  EXPECT_TRUE(next.is_probe());
}

TEST_F(BreakerTest, AbandonedProbeReleasesItsSlot) {
  Trip();
  clock_.advance(seconds(30));
  {
    auto probe = breaker_.TryAcquire();
    ASSERT_TRUE(probe);
    EXPECT_FALSE(breaker_.TryAcquire());
  }  // destroyed without Record
  EXPECT_TRUE(breaker_.TryAcquire());
  EXPECT_EQ(breaker_.counters().ignored, 2u);  // the abandoned one, and the one just taken and dropped
}

TEST_F(BreakerTest, MovedPermitRecordsOnce) {
  auto permit = breaker_.TryAcquire();
  BreakerPermit moved = std::move(permit);
  breaker_.Record(permit, CallResult::kFailure);  // NOLINT(bugprone-use-after-move): a moved-from permit is inert
  breaker_.Record(moved, CallResult::kFailure);
  breaker_.Record(moved, CallResult::kFailure);  // already recorded
  EXPECT_EQ(breaker_.counters().failures, 1u);
}

TEST_F(BreakerTest, ForceOpenRefusesEverythingUntilReleased) {
  breaker_.SetOverride(BreakerOverride::kForceOpen);
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_EQ(breaker_.override_mode(), BreakerOverride::kForceOpen);
  clock_.advance(seconds(3600));
  auto permit = breaker_.TryAcquire();
  EXPECT_FALSE(permit);
  EXPECT_EQ(permit.rejection(), BreakerRejection::kForcedOpen);
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_EQ(transitions_[0].reason, "forced open by operator");
  breaker_.SetOverride(BreakerOverride::kAuto);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker_.TryAcquire());
  EXPECT_EQ(transitions_.back().from, BreakerState::kOpen);
  EXPECT_EQ(transitions_.back().to, BreakerState::kClosed);
}

TEST_F(BreakerTest, ForceClosedAdmitsAndNeverTrips) {
  Trip();
  breaker_.SetOverride(BreakerOverride::kForceClosed);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  for (int i = 0; i < 50; ++i) Call(CallResult::kFailure);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_EQ(breaker_.counters().failures, 53u);
  breaker_.SetOverride(BreakerOverride::kAuto);
  Call(CallResult::kFailure);
  Call(CallResult::kFailure);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed) << "back to auto starts with a clean count";
  Call(CallResult::kFailure);
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, SameOverrideTwiceIsNoTransition) {
  breaker_.SetOverride(BreakerOverride::kAuto);
  EXPECT_TRUE(transitions_.empty());
  breaker_.SetOverride(BreakerOverride::kForceOpen);
  breaker_.SetOverride(BreakerOverride::kForceOpen);
  EXPECT_EQ(transitions_.size(), 1u);
}

TEST_F(BreakerTest, EveryTransitionIsReportedInOrderWithGenerations) {
  Trip();
  clock_.advance(seconds(30));
  auto probe = breaker_.TryAcquire();
  breaker_.Record(probe, CallResult::kSuccess);
  ASSERT_EQ(transitions_.size(), 3u);
  EXPECT_EQ(transitions_[0].to, BreakerState::kOpen);
  EXPECT_EQ(transitions_[1].to, BreakerState::kHalfOpen);
  EXPECT_EQ(transitions_[2].to, BreakerState::kClosed);
  for (std::size_t i = 1; i < transitions_.size(); ++i) {
    EXPECT_EQ(transitions_[i].from, transitions_[i - 1].to);
    EXPECT_EQ(transitions_[i].generation, transitions_[i - 1].generation + 1);
  }
  EXPECT_EQ(transitions_.back().generation, breaker_.generation());
}

TEST_F(BreakerTest, CountersSnapshot) {
  Call(CallResult::kSuccess);
  Call(CallResult::kIgnored);
  Trip();
  breaker_.TryAcquire();
  const auto c = breaker_.counters();
  EXPECT_EQ(c.admitted, 5u);
  EXPECT_EQ(c.rejected, 1u);
  EXPECT_EQ(c.successes, 1u);
  EXPECT_EQ(c.failures, 3u);
  EXPECT_EQ(c.ignored, 1u);
  EXPECT_EQ(c.trips, 1u);
  EXPECT_EQ(c.probes, 0u);
  EXPECT_EQ(c.current_open_timeout, seconds(30));
  EXPECT_EQ(c.next_open_timeout, seconds(60));
}

TEST_F(BreakerTest, SuccessCountSurvivesWindowRolls) {
  for (int i = 0; i < 5; ++i) Call(CallResult::kSuccess);
  clock_.advance(seconds(4));  // another window slice
  for (int i = 0; i < 5; ++i) Call(CallResult::kSuccess);
  clock_.advance(seconds(60));  // every slice rolled
  for (int i = 0; i < 12; ++i) Call(CallResult::kSuccess);  // rolls a slice that still held old successes
  EXPECT_EQ(breaker_.counters().successes, 22u);
  breaker_.UpdateOptions(SmallOptions());  // restarts the window
  Call(CallResult::kSuccess);
  EXPECT_EQ(breaker_.counters().successes, 23u);
  Trip();
  clock_.advance(seconds(30));
  Call(CallResult::kSuccess);  // a half-open probe
  EXPECT_EQ(breaker_.counters().successes, 24u);
}

TEST_F(BreakerTest, UpdateOptionsAppliesNewThresholds) {
  auto o = SmallOptions();
  o.failure_threshold = 1;
  o.open_timeout = seconds(5);
  o.max_open_timeout = seconds(10);
  breaker_.UpdateOptions(o);
  Call(CallResult::kFailure);
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_EQ(transitions_.back().open_for, seconds(10)) << "pending open period clamped into the new range";
}

TEST(BreakerCallbackTest, CallbackMayCallBackIntoTheBreaker) {
  FakeClock clock;
  CircuitBreaker* self = nullptr;
  std::vector<BreakerState> seen_states;
  CircuitBreaker breaker(SmallOptions(), clock, [&](const BreakerTransition& t) {
    seen_states.push_back(self->state());
    (void)self->counters();
    if (t.to == BreakerState::kOpen && t.reason != "forced open by operator") {
      self->SetOverride(BreakerOverride::kForceOpen);  // nested transition, delivered after this one
    }
  }, [] { return 0.5; });
  self = &breaker;
  for (int i = 0; i < 3; ++i) {
    auto p = breaker.TryAcquire();
    breaker.Record(p, CallResult::kFailure);
  }
  EXPECT_EQ(breaker.override_mode(), BreakerOverride::kForceOpen);
  EXPECT_EQ(seen_states.size(), 2u);
}

TEST(BreakerDisabledRulesTest, ZeroThresholdsDisableRules) {
  FakeClock clock;
  auto o = SmallOptions();
  o.failure_threshold = 0;
  o.failure_rate_threshold = 0;
  CircuitBreaker breaker(o, clock);
  for (int i = 0; i < 100; ++i) {
    auto p = breaker.TryAcquire();
    breaker.Record(p, CallResult::kFailure);
  }
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

}  // namespace
}  // namespace oa

namespace oa {
namespace {

TEST(BreakerDisabledRulesTest, ZeroHalfOpenCallsStillAdmitsOneProbe) {
  FakeClock clock;
  auto o = SmallOptions();
  o.half_open_max_calls = 0;
  CircuitBreaker breaker(o, clock, {}, [] { return 0.5; });
  for (int i = 0; i < 3; ++i) {
    auto p = breaker.TryAcquire();
    breaker.Record(p, CallResult::kFailure);
  }
  clock.advance(seconds(30));
  auto probe = breaker.TryAcquire();
  ASSERT_TRUE(probe);
  EXPECT_FALSE(breaker.TryAcquire());
  breaker.Record(probe, CallResult::kSuccess);
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
}

}  // namespace
}  // namespace oa
