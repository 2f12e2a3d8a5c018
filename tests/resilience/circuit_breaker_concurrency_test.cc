// Threads racing through the breaker. Labelled tsan: CI also runs these under ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "fake_clock.h"
#include "resilience/circuit_breaker.h"

namespace oa {
namespace {

using std::chrono::seconds;
using testing::FakeClock;

constexpr int kThreads = 8;

CircuitBreakerOptions Options(int half_open_max_calls) {
  CircuitBreakerOptions o;
  o.failure_threshold = 1;
  o.open_timeout = seconds(10);
  o.max_open_timeout = seconds(10);  // constant open period: each round advances the same amount
  o.half_open_max_calls = half_open_max_calls;
  return o;
}

class HalfOpenRace : public ::testing::TestWithParam<int> {};

TEST_P(HalfOpenRace, ExactlyTheAllowedNumberOfProbesGetThrough) {
  const int max_probes = GetParam();
  FakeClock clock;
  std::atomic<int> to_closed{0};
  CircuitBreaker breaker(Options(max_probes), clock,
                         [&](const BreakerTransition& t) {
                           if (t.to == BreakerState::kClosed) to_closed.fetch_add(1);
                         },
                         [] { return 0.5; });
  {
    auto p = breaker.TryAcquire();
    breaker.Record(p, CallResult::kFailure);
  }
  ASSERT_EQ(breaker.state(), BreakerState::kOpen);

  constexpr int kRounds = 100;
  std::vector<BreakerPermit> permits(kThreads);
  std::atomic<int> admitted{0};
  std::barrier sync(kThreads + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        sync.arrive_and_wait();  // the open period has elapsed: race
        permits[t] = breaker.TryAcquire();
        if (permits[t]) admitted.fetch_add(1);
        sync.arrive_and_wait();  // everyone tried; the main thread checks
        sync.arrive_and_wait();  // main thread decided the outcome: record concurrently
        if (permits[t]) {
          breaker.Record(permits[t], round % 2 == 0 ? CallResult::kFailure : CallResult::kSuccess);
        }
        sync.arrive_and_wait();
      }
    });
  }
  int closes_expected = 0;
  for (int round = 0; round < kRounds; ++round) {
    clock.advance(seconds(10));
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    EXPECT_EQ(admitted.exchange(0), max_probes) << "round " << round;
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    if (round % 2 == 0) {
      EXPECT_EQ(breaker.state(), BreakerState::kOpen) << "a failed probe reopens";
    } else {
      ++closes_expected;
      EXPECT_EQ(breaker.state(), BreakerState::kClosed) << "all probes succeeded";
      auto p = breaker.TryAcquire();  // trip again for the next round
      breaker.Record(p, CallResult::kFailure);
      ASSERT_EQ(breaker.state(), BreakerState::kOpen);
    }
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(to_closed.load(), closes_expected) << "each round closes at most once";
  const auto c = breaker.counters();
  EXPECT_EQ(c.probes, static_cast<std::uint64_t>(kRounds * max_probes));
}

INSTANTIATE_TEST_SUITE_P(Probes, HalfOpenRace, ::testing::Values(1, 3));

TEST(BreakerStormTest, EveryAdmittedCallIsAccountedOnceUnderRaces) {
  FakeClock clock;
  CircuitBreakerOptions o;
  o.failure_threshold = 4;
  o.minimum_calls = 10;
  o.window = seconds(1);
  o.open_timeout = std::chrono::milliseconds(5);
  o.max_open_timeout = std::chrono::milliseconds(20);
  o.half_open_max_calls = 2;
  std::atomic<std::uint64_t> transitions{0};
  CircuitBreaker breaker(o, clock, [&](const BreakerTransition&) { transitions.fetch_add(1); });

  constexpr int kCalls = 5000;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> attempts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::minstd_rand rng(t + 1);
      for (int i = 0; i < kCalls; ++i) {
        attempts.fetch_add(1);
        auto permit = breaker.TryAcquire();
        if (!permit) continue;
        switch (rng() % 4) {
          case 0: breaker.Record(permit, CallResult::kFailure); break;
          case 1: breaker.Record(permit, CallResult::kIgnored); break;
          case 2: break;  // abandoned: the destructor records kIgnored
          default: breaker.Record(permit, CallResult::kSuccess); break;
        }
      }
    });
  }
  std::thread ticker([&] {
    int n = 0;
    while (!done.load()) {
      clock.advance(std::chrono::milliseconds(1));
      if (++n % 500 == 0) breaker.SetOverride(BreakerOverride::kForceOpen);
      if (n % 500 == 50) breaker.SetOverride(BreakerOverride::kForceClosed);
      if (n % 500 == 100) breaker.SetOverride(BreakerOverride::kAuto);
      (void)breaker.state();
      (void)breaker.counters();
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  done.store(true);
  ticker.join();

  const auto c = breaker.counters();
  EXPECT_EQ(c.admitted + c.rejected, attempts.load());
  EXPECT_EQ(c.admitted, c.successes + c.failures + c.ignored + c.stale_results);
  EXPECT_EQ(transitions.load(), breaker.generation()) << "one callback per generation";
}

// A slow transition callback on one thread never holds up another caller: the open breaker refuses at once, a
// transition caused meanwhile is delivered afterwards by the thread already delivering, and order is kept.
TEST(BreakerCallbackRace, NoCallerWaitsBehindACallbackRunningOnAnotherThread) {
  FakeClock clock;
  std::atomic<bool> in_callback{false}, release{false};
  std::mutex seen_mu;
  std::vector<BreakerState> seen;  // the `to` of each transition, in delivery order
  CircuitBreaker breaker(Options(1), clock, [&](const BreakerTransition& t) {
    {
      std::lock_guard lock(seen_mu);
      seen.push_back(t.to);
    }
    if (t.to == BreakerState::kOpen && !in_callback.exchange(true)) {
      while (!release.load()) std::this_thread::yield();
    }
  });
  std::thread tripper([&] {
    auto p = breaker.TryAcquire();
    breaker.Record(p, CallResult::kFailure);  // trips; the callback blocks until released
  });
  while (!in_callback.load()) std::this_thread::yield();

  EXPECT_FALSE(breaker.TryAcquire());  // refused at once, not after the callback
  breaker.SetOverride(BreakerOverride::kForceClosed);  // a transition of this thread: returns without delivering it
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  {
    std::lock_guard lock(seen_mu);
    EXPECT_EQ(seen, std::vector<BreakerState>{BreakerState::kOpen});
  }
  release.store(true);
  tripper.join();
  std::lock_guard lock(seen_mu);
  EXPECT_EQ(seen, (std::vector<BreakerState>{BreakerState::kOpen, BreakerState::kClosed}));
}

}  // namespace
}  // namespace oa
