#include "agent/authorizer/session_events.h"

#include <gtest/gtest.h>

namespace oa::testing {
namespace {

std::shared_ptr<IpcRequest> Event(IpcReason reason, std::string id) {
  auto r = std::make_shared<IpcRequest>();
  r->reason = reason;
  r->id = std::move(id);
  r->username = "alice";
  r->stats_bytes_in = 1234;
  r->stats_bytes_out = 5678;
  r->stats_duration = 42;
  return r;
}

TEST(SessionEventRecorderTest, DisconnectClosesTheAdmittedSession) {
  SessionRegistry sessions;
  AuthorizerCounters counters;
  SessionEventRecorder recorder(sessions, counters);
  sessions.Admit(SessionRecord{"7", "alice", "staff", "198.51.100.7", DecisionSource::kFailOpen, {}, false, {}});
  recorder.OnSessionEvent(Event(IpcReason::kHostUpdate, "7"));
  EXPECT_EQ(sessions.size(), 1u);
  recorder.OnSessionEvent(Event(IpcReason::kDisconnect, "7"));
  EXPECT_EQ(sessions.size(), 0u);
  const auto c = counters.snapshot();
  EXPECT_EQ(c.host_updates, 1u);
  EXPECT_EQ(c.disconnects, 1u);
  EXPECT_EQ(c.disconnects_unknown_session, 0u);
}

TEST(SessionEventRecorderTest, DisconnectWithoutConnectIsCountedNotAnError) {
  SessionRegistry sessions;
  AuthorizerCounters counters;
  SessionEventRecorder recorder(sessions, counters);
  recorder.OnSessionEvent(Event(IpcReason::kDisconnect, "99"));
  EXPECT_EQ(counters.snapshot().disconnects_unknown_session, 1u);
}

TEST(SessionRegistryTest, RepeatedConnectReplacesAndBoundHolds) {
  SessionRegistry sessions(3);
  for (int i = 0; i < 10; ++i) {
    sessions.Admit(SessionRecord{std::to_string(i), "u", "g", "ip", DecisionSource::kPortal, {}, false, {}});
  }
  EXPECT_EQ(sessions.size(), 3u);
  EXPECT_FALSE(sessions.Remove("0").has_value());
  EXPECT_TRUE(sessions.Remove("9").has_value());
  sessions.Admit(SessionRecord{"8", "u2", "g", "ip", DecisionSource::kStale, {}, false, {}});
  auto r = sessions.Remove("8");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->username, "u2");
}

}  // namespace
}  // namespace oa::testing
