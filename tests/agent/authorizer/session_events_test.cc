#include "agent/authorizer/session_events.h"

#include <gtest/gtest.h>

#include "fake_clock.h"
#include "log_capture.h"
#include "temp_dir.h"

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

// Every recorded event goes into the outbox, stamped when it happened (not when it is delivered), with how its
// session was admitted.
TEST(SessionEventRecorderTest, RecordsConnectHostUpdateAndDisconnectInTheOutbox) {
  TempDir dir;
  FakeClock clock;
  OutboxOptions o;
  o.path = dir / "outbox.db";
  Outbox outbox(o, clock);
  SessionRegistry sessions;
  AuthorizerCounters counters;
  SessionEventRecorder recorder(sessions, counters, &outbox, clock);
  sessions.Admit(SessionRecord{"7", "alice", "staff", "198.51.100.7", DecisionSource::kFailOpen, {}, false, {}});
  recorder.OnAdmitDelivered(Event(IpcReason::kConnect, "7"), DecisionSource::kFailOpen);
  const auto connected_at = clock.wall_now();
  clock.advance(std::chrono::seconds(5));
  recorder.OnSessionEvent(Event(IpcReason::kHostUpdate, "7"));
  clock.advance(std::chrono::seconds(37));
  recorder.OnSessionEvent(Event(IpcReason::kDisconnect, "7"));
  outbox.Flush();
  const auto events = outbox.Pending(10);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event.kind, SessionEventKind::kConnect);
  EXPECT_EQ(events[0].event.at, connected_at);
  EXPECT_EQ(events[0].event.metadata.at("admitted_by"), "fail_open");
  EXPECT_EQ(events[1].event.kind, SessionEventKind::kHostUpdate);
  EXPECT_EQ(events[2].event.kind, SessionEventKind::kDisconnect);
  EXPECT_EQ(events[2].event.at, connected_at + std::chrono::seconds(42));
  EXPECT_EQ(events[2].event.bytes_received, 1234u);
  EXPECT_EQ(events[2].event.bytes_sent, 5678u);
  EXPECT_EQ(events[2].event.duration_seconds, 42);
  EXPECT_EQ(events[2].event.metadata.at("admitted_by"), "fail_open");
  EXPECT_EQ(events[2].event.username, "alice");
  EXPECT_EQ(events[2].event.session_id, "7");
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
