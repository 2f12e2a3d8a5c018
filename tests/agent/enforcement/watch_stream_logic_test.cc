#include "agent/enforcement/watch_stream_logic.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

namespace oa::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

PolicyEvent Heartbeat(std::uint32_t interval_s) {
  PolicyEvent e;
  e.kind = PolicyEventKind::kHeartbeat;
  e.heartbeat_interval_s = interval_s;
  return e;
}

PolicyEvent Event(std::uint64_t version, PolicyEventKind kind = PolicyEventKind::kRevoke) {
  PolicyEvent e;
  e.version = version;
  e.kind = kind;
  e.subject = Subject::User("alice");
  return e;
}

class WatchStreamLogicTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  WatchStreamLogic logic_{WatchTimings{}, [] { return 0.5; }};  // no jitter
};

TEST_F(WatchStreamLogicTest, AppliesInVersionOrderAndIgnoresDuplicatesAndOlder) {
  logic_.OnOpen(clock_.now());
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Heartbeat(10)), EventDisposition::kHeartbeat);
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Event(5)), EventDisposition::kApply);
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Event(5)), EventDisposition::kStale) << "duplicate";
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Event(3)), EventDisposition::kStale) << "went backwards";
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Event(9)), EventDisposition::kApply) << "gaps are allowed";
  EXPECT_EQ(logic_.after_version(), 9u);
  EXPECT_EQ(logic_.counters().applied, 2u);
  EXPECT_EQ(logic_.counters().stale, 2u);
}

TEST_F(WatchStreamLogicTest, HeartbeatAdvancesNothing) {
  logic_.OnOpen(clock_.now());
  logic_.OnEvent(clock_.now(), Event(4));
  PolicyEvent hb = Heartbeat(5);
  hb.version = 100;  // a portal that puts a version on a heartbeat still advances nothing
  EXPECT_EQ(logic_.OnEvent(clock_.now(), hb), EventDisposition::kHeartbeat);
  EXPECT_EQ(logic_.after_version(), 4u);
}

TEST_F(WatchStreamLogicTest, UnknownAndInvalidEventsAreSkippedButCountAsDelivered) {
  logic_.OnOpen(clock_.now());
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Event(1, PolicyEventKind::kUnknown)), EventDisposition::kUnknown);
  PolicyEvent bad = Event(2);
  bad.subject.reset();
  bad.invalid = "no subject";
  EXPECT_EQ(logic_.OnEvent(clock_.now(), bad), EventDisposition::kInvalid);
  EXPECT_EQ(logic_.after_version(), 2u) << "resuming must not ask for them again";
  EXPECT_EQ(logic_.counters().unknown, 1u);
  EXPECT_EQ(logic_.counters().invalid, 1u);
}

// A message that is no PolicyEvent has no version: counted as invalid, it advances nothing, so the stream the
// client opens next asks again for everything after the last applied version.
TEST_F(WatchStreamLogicTest, UnparsableMessageIsCountedAndAdvancesNothing) {
  logic_.OnOpen(clock_.now());
  logic_.OnEvent(clock_.now(), Event(3));
  logic_.OnUnparsable();
  logic_.OnClosed(clock_.now(), absl::DataLossError("not a PolicyEvent"));
  EXPECT_EQ(logic_.counters().invalid, 1u);
  EXPECT_EQ(logic_.counters().reconnects, 1u);
  EXPECT_EQ(logic_.state(), StreamState::kBackoff);
  EXPECT_EQ(logic_.after_version(), 3u);
}

// A portal that re-sends the same unparsable message right after its Heartbeat: the Heartbeat does not reset the
// backoff, so the reconnects slow down; the first event that advances the version resets it again.
TEST_F(WatchStreamLogicTest, RepeatedUnparsableMessagesAfterAHeartbeatBackOffUntilAVersionAdvances) {
  logic_.OnOpen(clock_.now());
  logic_.OnEvent(clock_.now(), Event(3));
  std::vector<Millis> delays;
  for (int i = 0; i < 4; ++i) {
    logic_.OnUnparsable();
    delays.push_back(logic_.OnClosed(clock_.now(), absl::DataLossError("not a PolicyEvent")).delay);
    logic_.OnOpen(clock_.now());
    logic_.OnEvent(clock_.now(), Heartbeat(10));
    EXPECT_TRUE(logic_.unparsable_since_progress());
  }
  EXPECT_GT(delays.back(), delays.front()) << "the delay grows instead of restarting at the shortest";
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Event(4)), EventDisposition::kApply);
  EXPECT_FALSE(logic_.unparsable_since_progress());
  logic_.OnClosed(clock_.now(), absl::UnavailableError("gone"));
  logic_.OnOpen(clock_.now());
  logic_.OnEvent(clock_.now(), Heartbeat(10));
  EXPECT_LE(logic_.OnClosed(clock_.now(), absl::UnavailableError("gone")).delay, delays.front() * 2)
      << "progress resets the backoff again";
}

TEST_F(WatchStreamLogicTest, ResumesAfterTheLastAppliedVersionAcrossReconnects) {
  logic_.OnOpen(clock_.now());
  logic_.OnEvent(clock_.now(), Event(7));
  logic_.OnClosed(clock_.now(), absl::UnavailableError("gone"));
  logic_.OnOpen(clock_.now());
  EXPECT_EQ(logic_.after_version(), 7u);
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Event(7)), EventDisposition::kStale) << "re-delivered after resume";
  EXPECT_EQ(logic_.OnEvent(clock_.now(), Event(8)), EventDisposition::kApply);
}

TEST_F(WatchStreamLogicTest, WatchdogFiresAfterThreeHeartbeatIntervalsOfSilence) {
  logic_.OnOpen(clock_.now());
  logic_.OnEvent(clock_.now(), Heartbeat(10));
  clock_.advance(seconds(29));
  EXPECT_FALSE(logic_.CheckWatchdog(clock_.now()));
  logic_.OnEvent(clock_.now(), Heartbeat(10));  // any event resets it
  clock_.advance(seconds(29));
  EXPECT_FALSE(logic_.CheckWatchdog(clock_.now()));
  clock_.advance(seconds(1));
  EXPECT_TRUE(logic_.CheckWatchdog(clock_.now()));
  EXPECT_FALSE(logic_.CheckWatchdog(clock_.now())) << "once per stream";
  EXPECT_EQ(logic_.counters().watchdog_expired, 1u);
}

TEST_F(WatchStreamLogicTest, WatchdogWaitsForTheFirstEventOfANewStream) {
  logic_.OnOpen(clock_.now());
  clock_.advance(seconds(29));
  EXPECT_FALSE(logic_.CheckWatchdog(clock_.now()));
  clock_.advance(seconds(1));
  EXPECT_TRUE(logic_.CheckWatchdog(clock_.now())) << "no first heartbeat within first_heartbeat_wait";
}

TEST_F(WatchStreamLogicTest, AbsurdHeartbeatIntervalsAreClamped) {
  logic_.OnOpen(clock_.now());
  logic_.OnEvent(clock_.now(), Heartbeat(0));
  EXPECT_EQ(logic_.heartbeat_interval(), seconds(1));
  logic_.OnEvent(clock_.now(), Heartbeat(4'000'000'000u));
  EXPECT_EQ(logic_.heartbeat_interval(), seconds(3600));
}

TEST_F(WatchStreamLogicTest, BackoffGrowsExponentiallyToThirtySecondsAndResetsOnAHeartbeat) {
  std::vector<std::int64_t> delays;
  for (int i = 0; i < 12; ++i) {
    logic_.OnOpen(clock_.now());
    delays.push_back(logic_.OnClosed(clock_.now(), absl::UnavailableError("down")).delay.count());
  }
  EXPECT_EQ(delays[0], 100);
  EXPECT_EQ(delays[1], 200);
  EXPECT_EQ(delays[2], 400);
  EXPECT_EQ(delays[9], 30'000) << "capped";
  EXPECT_EQ(delays[11], 30'000);
  EXPECT_EQ(logic_.state(), StreamState::kBackoff);
  logic_.OnOpen(clock_.now());
  logic_.OnEvent(clock_.now(), Heartbeat(10));
  EXPECT_EQ(logic_.state(), StreamState::kStreaming);
  EXPECT_EQ(logic_.OnClosed(clock_.now(), absl::UnavailableError("down")).delay.count(), 100);
}

TEST(ReconnectBackoffTest, JitterStaysWithinItsBandAndUnderTheCap) {
  double u = 0.0;
  ReconnectBackoff low(BackoffOptions{}, [&] { return u; });
  EXPECT_EQ(low.Next().count(), 80);  // 100 ms - 20 %
  u = 0.999999;
  EXPECT_EQ(low.Next().count(), 239);  // 200 ms + just under 20 %
  for (int i = 0; i < 20; ++i) EXPECT_LE(low.Next().count(), 30'000);
}

TEST_F(WatchStreamLogicTest, UnimplementedIsReportedOnceAndRetriedRarely) {
  logic_.OnOpen(clock_.now());
  auto first = logic_.OnClosed(clock_.now(), absl::UnimplementedError("no PolicyWatch"));
  EXPECT_TRUE(first.first_unimplemented);
  EXPECT_EQ(first.delay, milliseconds(600'000));
  EXPECT_EQ(logic_.state(), StreamState::kUnimplemented);
  logic_.OnOpen(clock_.now());
  auto second = logic_.OnClosed(clock_.now(), absl::UnimplementedError("no PolicyWatch"));
  EXPECT_FALSE(second.first_unimplemented) << "logged once";
  EXPECT_EQ(logic_.counters().unimplemented, 2u);
}

}  // namespace
}  // namespace oa::testing
