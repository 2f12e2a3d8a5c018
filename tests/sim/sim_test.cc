// The simulation's CTest entries (label `sim`): the soak shards (zero violations over 100 000 schedules, split so
// that `ctest -j 2` runs them in parallel), replay determinism, and the teeth — each planted bug must be found.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "runner.h"

namespace oa::sim {
namespace {

constexpr std::uint64_t kShards = 4;
constexpr std::uint64_t kSchedulesPerShard = 25'000;

void RunShard(std::uint64_t shard) {
  const std::uint64_t first = 1 + shard * kSchedulesPerShard;
  const BatchResult r = RunBatch(first, kSchedulesPerShard);
  std::printf("sim shard %llu: %llu schedules (seeds %llu..%llu), %llu steps, %llu violation(s)\n",
              static_cast<unsigned long long>(shard), static_cast<unsigned long long>(r.schedules),
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + kSchedulesPerShard - 1),
              static_cast<unsigned long long>(r.steps), static_cast<unsigned long long>(r.failures));
  std::printf("sim shard %llu covered %s\n", static_cast<unsigned long long>(shard), Describe(r.coverage).c_str());
  // A run with no violation must also be a run where the hard things happened.
  EXPECT_GT(r.coverage.degraded_answers, 1000u);
  EXPECT_GT(r.coverage.revoked_refusals, 100u);
  EXPECT_GT(r.coverage.breaker_trips, 1000u);
  EXPECT_GT(r.coverage.crashes, 1000u);
  EXPECT_GT(r.coverage.rechecks_owed, 100u);
  EXPECT_GT(r.coverage.events_received, 10000u);
  EXPECT_GT(r.coverage.forced_disconnects, 100u);
  if (r.first_failing_seed) {
    ADD_FAILURE() << FailureReport(*r.first_failing_seed, PlantedBug::kNone);
  }
  EXPECT_EQ(r.schedules, kSchedulesPerShard);
}

TEST(Simulation, Shard0) { RunShard(0); }
TEST(Simulation, Shard1) { RunShard(1); }
TEST(Simulation, Shard2) { RunShard(2); }
TEST(Simulation, Shard3) { RunShard(3); }

TEST(Simulation, SameSeedReplaysExactly) {
  for (std::uint64_t seed : {7ULL, 8ULL, 123ULL, 4242ULL, 99991ULL}) {
    const Outcome a = RunSeed(seed, PlantedBug::kNone, true);
    const Outcome b = RunSeed(seed, PlantedBug::kNone, true);
    EXPECT_EQ(a.hash, b.hash) << "seed " << seed;
    EXPECT_EQ(a.steps, b.steps) << "seed " << seed;
    EXPECT_EQ(a.trace, b.trace) << "seed " << seed;
    EXPECT_GT(a.steps, 30u);
  }
  // And different seeds are different schedules.
  EXPECT_NE(RunSeed(1).hash, RunSeed(2).hash);
}

TEST(Simulation, SchedulesWithCrashesReplayExactly) {
  int crashing = 0;
  for (std::uint64_t seed = 1; seed < 400 && crashing < 3; ++seed) {
    if (!UsesFileOutbox(seed)) continue;  // crashes with session events: the outbox survives in its file
    const auto actions = GenerateSchedule(seed);
    bool crashes = false;
    for (const auto& a : actions) crashes |= a.kind == Action::Kind::kCrash;
    if (!crashes) continue;
    ++crashing;
    EXPECT_EQ(RunSeed(seed).hash, RunSeed(seed).hash) << "seed " << seed;
  }
  EXPECT_EQ(crashing, 3);
}

// Teeth: each broken variant must be caught, within this many seeds, by the invariant that guards against it.
constexpr std::uint64_t kSeedsToFindABug = 3'000;

// `invariants`: the ones that may catch it first (one bug can break two promises at once).
void ExpectFound(PlantedBug bug, std::initializer_list<std::string_view> invariants) {
  const BatchResult r = RunBatch(1, kSeedsToFindABug, bug, /*stop_at_first=*/true);
  ASSERT_TRUE(r.first_failing_seed.has_value()) << to_string(bug) << " not found in " << kSeedsToFindABug << " seeds";
  std::printf("planted bug %s: found by seed %llu (invariant %s)\n", to_string(bug),
              static_cast<unsigned long long>(*r.first_failing_seed), r.first_invariant.c_str());
  EXPECT_NE(std::find(invariants.begin(), invariants.end(), r.first_invariant), invariants.end())
      << FailureReport(*r.first_failing_seed, bug);
}

TEST(SimulationTeeth, CacheThatIgnoresInFlightInvalidationIsFound) {
  ExpectFound(PlantedBug::kCacheIgnoresGeneration, {"2-degraded-only-when-failing"});
}
TEST(SimulationTeeth, SenderThatAcknowledgesBeforeThePortalIsFound) {
  ExpectFound(PlantedBug::kSenderAcksBeforePortal, {"6-events-exactly-once-in-order"});
}
TEST(SimulationTeeth, FailOpenOverridingAFreshDenyIsFound) {
  ExpectFound(PlantedBug::kFailOpenOverridesDeny, {"2-degraded-only-when-failing", "1-revoked-never-admitted"});
}
TEST(SimulationTeeth, BreakerCountingDenyAsFailureIsFound) {
  ExpectFound(PlantedBug::kBreakerCountsDeny, {"4-breaker-follows-rules"});
}
TEST(SimulationTeeth, DeadlineTimerFiringLateIsFound) {
  ExpectFound(PlantedBug::kTimerFiresLate, {"3-answered-by-deadline"});
}
TEST(SimulationTeeth, AuthorizersWithoutSharedSingleFlightAreFound) {
  ExpectFound(PlantedBug::kNoSingleFlight, {"5-one-call-per-key"});
}
TEST(SimulationTeeth, BreakerCloseNotWiredToRecheckIsFound) {
  ExpectFound(PlantedBug::kNoRecheckAfterOutage, {"7-degraded-rechecked-after-outage"});
}

TEST(SimulationTeeth, FailureReportNamesSeedAndShrinksTheTrace) {
  const BatchResult r = RunBatch(1, kSeedsToFindABug, PlantedBug::kBreakerCountsDeny, true);
  ASSERT_TRUE(r.first_failing_seed.has_value());
  const std::string report = FailureReport(*r.first_failing_seed, PlantedBug::kBreakerCountsDeny);
  EXPECT_NE(report.find("seed " + std::to_string(*r.first_failing_seed)), std::string::npos) << report;
  EXPECT_NE(report.find("--replay"), std::string::npos) << report;
  EXPECT_NE(report.find("VIOLATION of 4-breaker-follows-rules"), std::string::npos) << report;
  const auto full = GenerateSchedule(*r.first_failing_seed).size();
  const auto shrunk = Shrink(*r.first_failing_seed, GenerateSchedule(*r.first_failing_seed),
                             PlantedBug::kBreakerCountsDeny, "4-breaker-follows-rules");
  EXPECT_LT(shrunk.size(), full);
}

}  // namespace
}  // namespace oa::sim
