#include "agent/authorizer/session_events.h"

#include <gtest/gtest.h>

#include "log_capture.h"

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
  sessions.Admit(SessionRecord{"7", "alice", "staff", "198.51.100.7", DecisionSource::kFailOpen, {}});
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

// id, ip and vpn_ip come from the helper (ocserv's environment, or any local client of the socket): quoted and
// escaped, they can neither end the session line nor pose as another of its fields.
TEST(SessionEventRecorderTest, TheSessionLineEscapesEveryFieldTheClientSent) {
  SessionRegistry sessions;
  AuthorizerCounters counters;
  SessionEventRecorder recorder(sessions, counters);
  LogCapture logs;
  auto e = Event(IpcReason::kDisconnect, "7\nsession disconnect id=8 admitted_by=portal");
  e->ip_real = "198.51.100.7 admitted_by=portal";
  e->ip_remote = "10.1.0.2\" user=\"root";
  recorder.OnSessionEvent(e);
  const auto lines = logs.lines_with("session disconnect");
  ASSERT_EQ(lines.size(), 1u) << "a second line was forged";
  const std::string& line = lines[0];
  EXPECT_NE(line.find(R"(id="7\nsession disconnect id=8 admitted_by=portal")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(ip="198.51.100.7 admitted_by=portal")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(vpn_ip="10.1.0.2\" user=\"root")"), std::string::npos) << line;
  EXPECT_NE(line.find(" admitted_by=unknown"), std::string::npos) << line;
}

TEST(SessionRegistryTest, RepeatedConnectReplacesAndBoundHolds) {
  SessionRegistry sessions(3);
  for (int i = 0; i < 10; ++i) {
    sessions.Admit(SessionRecord{std::to_string(i), "u", "g", "ip", DecisionSource::kPortal, {}});
  }
  EXPECT_EQ(sessions.size(), 3u);
  EXPECT_FALSE(sessions.Remove("0").has_value());
  EXPECT_TRUE(sessions.Remove("9").has_value());
  sessions.Admit(SessionRecord{"8", "u2", "g", "ip", DecisionSource::kStale, {}});
  auto r = sessions.Remove("8");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->username, "u2");
}

}  // namespace
}  // namespace oa::testing
