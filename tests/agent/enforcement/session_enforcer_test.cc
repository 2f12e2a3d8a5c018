#include "agent/enforcement/session_enforcer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "agent/enforcement/policy_enforcer.h"
#include "events/event_sender.h"
#include "events/outbox.h"
#include "fake_clock.h"
#include "temp_dir.h"
#include "manual_scheduler.h"

namespace oa::testing {
namespace {

using namespace std::chrono_literals;

class FakeOcctl final : public OcctlPort {
 public:
  absl::StatusOr<std::vector<SessionRecord>> ListSessions() override {
    std::lock_guard l(mu);
    ++list_calls;
    return list_result;
  }
  absl::Status Disconnect(const std::string& id) override {
    std::unique_lock l(mu);
    ++running;
    max_running = std::max(max_running, running);
    disconnected.push_back(id);
    if (on_disconnect) on_disconnect(id);
    const absl::Status st = disconnect_result;
    // Hold the call a little while others may start, to observe the concurrency bound (no timing assertion).
    cv.wait_for(l, 1ms);
    --running;
    return st;
  }
  std::mutex mu;
  std::condition_variable cv;
  absl::StatusOr<std::vector<SessionRecord>> list_result = std::vector<SessionRecord>{};
  absl::Status disconnect_result = absl::OkStatus();
  std::function<void(const std::string&)> on_disconnect;
  std::vector<std::string> disconnected;
  int list_calls = 0, running = 0, max_running = 0;
};

// The supervised form (OcctlPort::Start*, Poll) the real port implements: calls stay in flight until the enforcer's
// thread polls; each Poll ends them all. Records how many were in flight at once.
class DeferredOcctl final : public OcctlPort {
 public:
  absl::StatusOr<std::vector<SessionRecord>> ListSessions() override { return std::vector<SessionRecord>{}; }
  absl::Status Disconnect(const std::string&) override { return absl::InternalError("the blocking form is not used"); }
  void StartListSessions(ListDone done) override {
    std::lock_guard l(mu);
    pending.push_back([done = std::move(done)] { done(std::vector<SessionRecord>{}); });
    max_pending = std::max(max_pending, pending.size());
  }
  void StartDisconnect(const std::string& id, DisconnectDone done) override {
    std::lock_guard l(mu);
    disconnected.push_back(id);
    pending.push_back([done = std::move(done), st = result] { done(st); });
    max_pending = std::max(max_pending, pending.size());
  }
  void Poll(std::chrono::milliseconds) override {
    std::vector<std::function<void()>> ending;
    {
      std::lock_guard l(mu);
      ending.swap(pending);
      ++polls;
    }
    for (auto& f : ending) f();
  }
  void Wake() override { wakes.fetch_add(1); }
  std::mutex mu;
  std::vector<std::function<void()>> pending;
  std::vector<std::string> disconnected;
  absl::Status result = absl::OkStatus();
  std::size_t max_pending = 0;
  int polls = 0;
  std::atomic<int> wakes{0};
};

// Session events go into a real outbox (a file in a temporary directory) through the SessionEventRecorder on the
// enforcer's registry, as in the daemon; the test reads them back as the sender would. DisconnectScript plays
// ocserv's disconnect-script reaching the IPC server.
class RecordedEvents {
 public:
  RecordedEvents(SessionRegistry& sessions, const Clock& clock)
      : outbox_(Options(dir_), clock), recorder_(sessions, counters_, &outbox_, clock) {}
  SessionEventRecorder* recorder() { return &recorder_; }
  Outbox& outbox() { return outbox_; }
  std::vector<SessionEvent> of_kind(SessionEventKind kind) {
    outbox_.Flush();
    std::vector<SessionEvent> out;
    for (auto& e : outbox_.Pending(100'000)) {
      if (e.event.kind == kind) out.push_back(std::move(e.event));
    }
    return out;
  }
  std::vector<SessionEvent> disconnects() { return of_kind(SessionEventKind::kDisconnect); }
  void DisconnectScript(const std::string& id, const std::string& user, std::uint64_t bytes_in = 0,
                        std::uint64_t bytes_out = 0) {
    auto r = std::make_shared<IpcRequest>();
    r->reason = IpcReason::kDisconnect;
    r->id = id;
    r->username = user;
    r->stats_bytes_in = bytes_in;
    r->stats_bytes_out = bytes_out;
    r->stats_duration = 60;
    recorder_.OnSessionEvent(r);
  }

 private:
  static OutboxOptions Options(const TempDir& dir) {
    OutboxOptions o;
    o.path = dir / "outbox.db";
    return o;
  }
  TempDir dir_;
  Outbox outbox_;
  AuthorizerCounters counters_;
  SessionEventRecorder recorder_;
};

class FakeValidator final : public SessionValidator {
 public:
  void Validate(const SessionRecord& s, std::function<void(SessionValidation)> done) override {
    std::lock_guard l(mu);
    asked.push_back(s.id);
    auto it = answers.find(s.username);
    done(it == answers.end() ? SessionValidation{ValidationOutcome::kValid, ""} : it->second);
  }
  std::mutex mu;
  std::vector<std::string> asked;
  std::map<std::string, SessionValidation> answers;
};

SessionRecord Session(const std::string& id, const std::string& user, const std::string& group,
                      DecisionSource by = DecisionSource::kPortal) {
  SessionRecord r;
  r.id = id;
  r.username = user;
  r.groupname = group;
  r.admitted_by = by;
  return r;
}

class SessionEnforcerTest : public ::testing::Test {
 protected:
  SessionEnforcerTest() { enforcer_.Start(); }
  ~SessionEnforcerTest() override { enforcer_.Stop(); }

  FakeClock clock_;
  ManualScheduler scheduler_;
  SessionRegistry registry_;
  FakeOcctl occtl_;
  RecordedEvents reporter_{registry_, clock_};
  FakeValidator validator_;
  SessionEnforcer enforcer_{{clock_, scheduler_, registry_, occtl_, reporter_.recorder(), &validator_}, {2, 200'000, 10}};
};

TEST_F(SessionEnforcerTest, RevocationDisconnectsExactlyTheSubjectsSessionsAndReportsThem) {
  registry_.Admit(Session("11", "alice", "staff"));
  registry_.Admit(Session("12", "alice", "staff"));
  registry_.Admit(Session("13", "alicia", "staff"));
  RevocationTable table(clock_, 24h);
  Revocation r = table.Revoke(Subject::User("alice"), "account locked", 5, "portal");
  enforcer_.DisconnectRevoked(r, clock_.wall_now() - 30ms);
  enforcer_.WaitIdle();
  EXPECT_EQ(std::set<std::string>(occtl_.disconnected.begin(), occtl_.disconnected.end()),
            (std::set<std::string>{"11", "12"}));
  EXPECT_EQ(enforcer_.counters().disconnected_revocation, 2u);
  // Nothing reported yet: the portal hears of it from ocserv's disconnect-script, once, with the reason.
  EXPECT_TRUE(reporter_.disconnects().empty());
  EXPECT_EQ(registry_.ListWhere([](const SessionRecord& s) { return s.forced.has_value(); }).size(), 2u);
  reporter_.DisconnectScript("11", "alice", 100, 200);
  reporter_.DisconnectScript("12", "alice", 300, 400);
  EXPECT_EQ(registry_.size(), 1u);
  const auto d = reporter_.disconnects();
  ASSERT_EQ(d.size(), 2u);
  for (const auto& e : d) {
    EXPECT_EQ(e.reason, DisconnectReason::kCertificateRevoked);
    EXPECT_EQ(e.metadata.at("disconnect_reason_text"), "account locked");
    EXPECT_EQ(e.metadata.at("disconnect_cause"), "revocation");
    EXPECT_EQ(e.metadata.at("forced"), "true");
    EXPECT_EQ(e.metadata.at("admitted_by"), "portal");
    EXPECT_EQ(e.metadata.count("reconstructed"), 0u);
  }
  EXPECT_EQ(d[0].bytes_received + d[1].bytes_received, 400u) << "ocserv's STATS_* are kept";
  const auto lat = enforcer_.revocation_latency();
  EXPECT_EQ(lat.count, 2u);
  EXPECT_EQ(lat.counts[4], 2u) << "30 ms: the (25, 50] ms bucket";
}

TEST_F(SessionEnforcerTest, RevocationIsInForceBeforeOcctlRuns) {
  registry_.Admit(Session("21", "bob", "staff"));
  DecisionCache cache(DecisionCacheOptions{}, clock_, 1);
  RevocationTable table(clock_, 24h);
  PolicyEnforcer policy({table, cache, &enforcer_});
  bool in_force_at_occtl = false;
  occtl_.on_disconnect = [&](const std::string&) { in_force_at_occtl = table.Covering("bob", "staff").has_value(); };
  ASSERT_TRUE(policy.Revoke(Subject::User("bob"), "r", 0, "local").ok());
  enforcer_.WaitIdle();
  EXPECT_TRUE(in_force_at_occtl);
  reporter_.DisconnectScript("21", "bob");
  EXPECT_EQ(reporter_.disconnects().at(0).reason, DisconnectReason::kPolicyViolation) << "0 means POLICY_VIOLATION";
}

TEST_F(SessionEnforcerTest, GroupRevocationWithTenThousandSessionsRunsWithBoundedConcurrency) {
  for (int i = 0; i < 10'000; ++i) registry_.Admit(Session(std::to_string(100000 + i), "u" + std::to_string(i), "big"));
  registry_.Admit(Session("7", "other", "small"));
  RevocationTable table(clock_, 24h);
  enforcer_.DisconnectRevoked(table.Revoke(Subject::Group("big"), "group off", 0, "portal"), std::nullopt);
  enforcer_.WaitIdle();
  EXPECT_EQ(occtl_.disconnected.size(), 10'000u);
  EXPECT_LE(occtl_.max_running, 2) << "concurrency bound";
  EXPECT_EQ(enforcer_.counters().workers_peak, 1u) << "one thread supervises the occtl calls";
  EXPECT_LE(enforcer_.counters().in_flight_peak, 2u) << "concurrency bound";
  EXPECT_EQ(registry_.ListWhere([](const SessionRecord& s) { return s.forced.has_value(); }).size(), 10'000u);
  EXPECT_EQ(enforcer_.counters().disconnected_revocation, 10'000u);
  // A second revocation while ocserv's disconnect-scripts are still on their way does not run occtl again.
  enforcer_.DisconnectRevoked(table.Revoke(Subject::Group("big"), "again", 0, "portal"), std::nullopt);
  enforcer_.WaitIdle();
  EXPECT_EQ(occtl_.disconnected.size(), 10'000u);
}

TEST_F(SessionEnforcerTest, FailedOrHungOcctlIsCountedAndTheSessionStays) {
  registry_.Admit(Session("31", "carol", "staff"));
  RevocationTable table(clock_, 24h);
  occtl_.disconnect_result = absl::DeadlineExceededError("occtl disconnect did not return in time");
  enforcer_.DisconnectRevoked(table.Revoke(Subject::User("carol"), "r", 0, "portal"), std::nullopt);
  enforcer_.WaitIdle();
  occtl_.disconnect_result = absl::UnavailableError("occtl exited 1");
  enforcer_.DisconnectRevoked(table.Revoke(Subject::User("carol"), "r", 0, "portal"), std::nullopt);
  enforcer_.WaitIdle();
  EXPECT_EQ(enforcer_.counters().disconnect_timed_out, 1u);
  EXPECT_EQ(enforcer_.counters().disconnect_failed, 1u);
  EXPECT_EQ(registry_.size(), 1u);
  EXPECT_FALSE(registry_.List().at(0).forced.has_value()) << "the mark is cleared: the session goes on";
  EXPECT_TRUE(reporter_.disconnects().empty());
}

TEST_F(SessionEnforcerTest, QueueBoundDropsAndCounts) {
  SessionEnforcer small({clock_, scheduler_, registry_, occtl_, nullptr, nullptr}, {1, 3, 10});
  // Not started: nothing runs, so the queue fills.
  for (int i = 0; i < 5; ++i) registry_.Admit(Session(std::to_string(40 + i), "dave", "g"));
  RevocationTable table(clock_, 24h);
  small.DisconnectRevoked(table.Revoke(Subject::User("dave"), "r", 0, "portal"), std::nullopt);
  EXPECT_EQ(small.counters().queued, 3u);
  EXPECT_EQ(small.counters().jobs_dropped, 2u);
}

TEST_F(SessionEnforcerTest, RecheckAfterOutageTakesOnlyDegradedSessionsPacedAtTheRate) {
  registry_.Admit(Session("51", "open1", "g", DecisionSource::kFailOpen));
  registry_.Admit(Session("52", "stale1", "g", DecisionSource::kStale));
  registry_.Admit(Session("53", "portal1", "g", DecisionSource::kPortal));
  registry_.Admit(Session("54", "cache1", "g", DecisionSource::kCache));
  validator_.answers["open1"] = {ValidationOutcome::kInvalid, "account expired"};
  enforcer_.RecheckDegraded("portal reachable again");
  EXPECT_EQ(scheduler_.RunDue(clock_.now()), 1) << "the first at once; rate 10/s: the next 100 ms later";
  clock_.advance(100ms);
  EXPECT_EQ(scheduler_.RunDue(clock_.now()), 1);
  enforcer_.WaitIdle();
  EXPECT_EQ(validator_.asked.size(), 2u);
  EXPECT_EQ(enforcer_.counters().recheck_invalid, 1u);
  EXPECT_EQ(enforcer_.counters().recheck_valid, 1u);
  EXPECT_EQ(enforcer_.counters().disconnected_recheck, 1u);
  EXPECT_EQ(occtl_.disconnected, (std::vector<std::string>{"51"}));
  reporter_.DisconnectScript("51", "open1");
  EXPECT_EQ(registry_.size(), 3u);
  ASSERT_EQ(reporter_.disconnects().size(), 1u);
  EXPECT_EQ(reporter_.disconnects()[0].metadata.at("disconnect_cause"), "recheck");
  EXPECT_EQ(reporter_.disconnects()[0].metadata.at("admitted_by"), "fail_open");
}

TEST_F(SessionEnforcerTest, ASessionReCheckedTwiceIsDisconnectedOnce) {
  // After an outage the stream's reconnect and the portal's Resync both re-check the same session (the e2e's live 2).
  registry_.Admit(Session("81", "carol", "g", DecisionSource::kFailOpen));
  validator_.answers["carol"] = {ValidationOutcome::kInvalid, "carol is not allowed"};
  enforcer_.RecheckDegraded("policy stream reconnected");
  enforcer_.RecheckAll("resync");
  EXPECT_EQ(scheduler_.RunDue(clock_.now()), 1);
  enforcer_.WaitIdle();
  clock_.advance(100ms);
  EXPECT_EQ(scheduler_.RunDue(clock_.now()), 1);
  enforcer_.WaitIdle();
  EXPECT_EQ(validator_.asked.size(), 2u);
  EXPECT_EQ(occtl_.disconnected, (std::vector<std::string>{"81"})) << "no second occtl call for a session gone";
  EXPECT_EQ(enforcer_.counters().disconnected_recheck, 1u);
  EXPECT_EQ(enforcer_.counters().disconnect_failed, 0u);
  // No event of the agent's own: ocserv's disconnect-script reports the one disconnect, with the reason kept here.
  EXPECT_TRUE(reporter_.disconnects().empty());
  const auto live = registry_.Find("81");
  ASSERT_TRUE(live.has_value());
  EXPECT_TRUE(live->forced.has_value()) << "marked once, not cleared by the second re-check";
}

TEST_F(SessionEnforcerTest, ASessionWhoseIdWasReusedIsNotDisconnected) {
  SessionEnforcer paused({clock_, scheduler_, registry_, occtl_, nullptr, nullptr}, {1, 10, 10});
  registry_.Admit(Session("82", "dave", "g"));
  RevocationTable table(clock_, 24h);
  paused.DisconnectRevoked(table.Revoke(Subject::User("dave"), "r", 0, "portal"), std::nullopt);  // queued only
  registry_.Remove("82");                        // dave left (ocserv's disconnect-script) ...
  registry_.Admit(Session("82", "frank", "g"));  // ... and a new worker with the same PID serves frank
  paused.Start();
  paused.WaitIdle();
  EXPECT_TRUE(occtl_.disconnected.empty()) << "frank's session must not be ended for dave's revocation";
  EXPECT_EQ(registry_.size(), 1u);
}

TEST_F(SessionEnforcerTest, RecheckErrorKeepsTheSession) {
  registry_.Admit(Session("61", "erin", "g", DecisionSource::kFailOpen));
  validator_.answers["erin"] = {ValidationOutcome::kError, "UNAVAILABLE"};
  enforcer_.RecheckAll("periodic");
  scheduler_.RunDue(clock_.now());
  enforcer_.WaitIdle();
  EXPECT_EQ(enforcer_.counters().recheck_error, 1u);
  EXPECT_TRUE(occtl_.disconnected.empty());
}

TEST_F(SessionEnforcerTest, ReconcileRebuildsFromOcctlKeepingHowKnownSessionsWereAdmitted) {
  registry_.Admit(Session("71", "frank", "g", DecisionSource::kFailOpen));  // still live
  registry_.Admit(Session("72", "gone", "g"));                             // ocserv no longer has it
  SessionRecord listed = Session("73", "new", "g");
  listed.bytes_received = 5000;
  listed.connected_at = clock_.wall_now() - 1h;
  occtl_.list_result = std::vector<SessionRecord>{Session("71", "frank", "g"), listed};
  clock_.advance(1s);  // the admits above happened before occtl was asked
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  std::map<std::string, SessionRecord> by_id;
  for (auto& r : registry_.List()) by_id[r.id] = r;
  ASSERT_EQ(by_id.size(), 3u) << "72 missed once: kept one more round for its disconnect-script";
  EXPECT_EQ(by_id.at("71").admitted_by, DecisionSource::kFailOpen);
  EXPECT_FALSE(by_id.at("71").reconstructed);
  EXPECT_TRUE(by_id.at("73").reconstructed);
  EXPECT_EQ(enforcer_.counters().reconcile_added, 1u);
  EXPECT_EQ(enforcer_.counters().reconcile_removed, 0u);
  EXPECT_TRUE(reporter_.of_kind(SessionEventKind::kConnect).empty()) << "an admit may be in flight for 73";
  EXPECT_TRUE(reporter_.disconnects().empty()) << "a disconnect-script may be on its way for 72";

  clock_.advance(60s);
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  EXPECT_EQ(registry_.size(), 2u);
  EXPECT_EQ(enforcer_.counters().reconcile_removed, 1u);
  const auto connects = reporter_.of_kind(SessionEventKind::kConnect);
  ASSERT_EQ(connects.size(), 1u);
  EXPECT_EQ(connects[0].session_id, "73");
  EXPECT_EQ(connects[0].metadata.at("reconstructed"), "true");
  EXPECT_EQ(connects[0].metadata.at("admitted_by"), "unknown");
  EXPECT_EQ(connects[0].at, listed.connected_at) << "occtl's connect time";
  const auto disconnects = reporter_.disconnects();
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].session_id, "72");
  EXPECT_EQ(disconnects[0].metadata.at("reconstructed"), "true");
  EXPECT_EQ(disconnects[0].metadata.at("admitted_by"), "portal");
  EXPECT_EQ(enforcer_.counters().reconstructed_connects, 1u);
  EXPECT_EQ(enforcer_.counters().reconstructed_disconnects, 1u);

  // Later rounds report nothing again.
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  EXPECT_EQ(reporter_.of_kind(SessionEventKind::kConnect).size(), 1u);
  EXPECT_EQ(reporter_.disconnects().size(), 1u);
}

TEST_F(SessionEnforcerTest, AnAdmitInFlightDuringTheFirstListingIsReportedByItsOwnConnectOnly) {
  // ocserv lists 74 while its connect-script waits for the agent's answer.
  occtl_.list_result = std::vector<SessionRecord>{Session("74", "kim", "g")};
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  registry_.Admit(Session("74", "kim", "g"));  // the answer: the authorizer registers it (its connect is sent)
  clock_.advance(60s);
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  EXPECT_TRUE(reporter_.of_kind(SessionEventKind::kConnect).empty());
  EXPECT_FALSE(registry_.List().at(0).reconstructed);
}

TEST_F(SessionEnforcerTest, DisconnectScriptBetweenTwoListingsIsTheOnlyDisconnect) {
  registry_.Admit(Session("75", "lee", "g"));
  occtl_.list_result = std::vector<SessionRecord>{};
  clock_.advance(1s);
  enforcer_.ReconcileNow();  // ocserv already ended it; its disconnect-script is on its way
  enforcer_.WaitIdle();
  reporter_.DisconnectScript("75", "lee", 10, 20);
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  const auto d = reporter_.disconnects();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].metadata.count("reconstructed"), 0u);
  EXPECT_EQ(d[0].bytes_received, 10u);
}

TEST_F(SessionEnforcerTest, DisconnectScriptAfterAReconstructedDisconnectIsNotSentAgain) {
  registry_.Admit(Session("76", "max", "g"));
  occtl_.list_result = std::vector<SessionRecord>{};
  clock_.advance(1s);
  for (int i = 0; i < 2; ++i) {
    enforcer_.ReconcileNow();
    enforcer_.WaitIdle();
  }
  ASSERT_EQ(reporter_.disconnects().size(), 1u);
  reporter_.DisconnectScript("76", "max", 10, 20);  // very late
  EXPECT_EQ(reporter_.disconnects().size(), 1u);
  EXPECT_EQ(enforcer_.counters().late_disconnects_not_sent, 1u);
  // The ID is forgotten after that: a later session under the same ID is reported normally.
  reporter_.DisconnectScript("76", "max", 10, 20);
  EXPECT_EQ(reporter_.disconnects().size(), 2u);
}

TEST_F(SessionEnforcerTest, ForcedDisconnectIsOneEventEvenWhenTheScriptBeatsOcctl) {
  registry_.Admit(Session("77", "nina", "g"));
  // ocserv runs the disconnect-script before `occtl disconnect` returns.
  occtl_.on_disconnect = [this](const std::string& id) { reporter_.DisconnectScript(id, "nina", 1, 2); };
  RevocationTable table(clock_, 24h);
  enforcer_.DisconnectRevoked(table.Revoke(Subject::User("nina"), "fired", 2, "portal"), std::nullopt);
  enforcer_.WaitIdle();
  const auto d = reporter_.disconnects();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason, DisconnectReason::kAdminForced);
  EXPECT_EQ(d[0].metadata.at("disconnect_reason_text"), "fired");
  EXPECT_EQ(registry_.size(), 0u);
}

TEST_F(SessionEnforcerTest, ForcedSessionWhoseScriptNeverComesIsClosedByReconciliationWithItsReason) {
  registry_.Admit(Session("78", "omar", "g"));
  RevocationTable table(clock_, 24h);
  enforcer_.DisconnectRevoked(table.Revoke(Subject::User("omar"), "locked", 0, "portal"), std::nullopt);
  enforcer_.WaitIdle();
  occtl_.list_result = std::vector<SessionRecord>{};
  clock_.advance(1s);
  for (int i = 0; i < 2; ++i) {
    enforcer_.ReconcileNow();
    enforcer_.WaitIdle();
  }
  const auto d = reporter_.disconnects();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].metadata.at("reconstructed"), "true");
  EXPECT_EQ(d[0].metadata.at("forced"), "true");
  EXPECT_EQ(d[0].metadata.at("disconnect_reason_text"), "locked");
  EXPECT_EQ(d[0].reason, DisconnectReason::kPolicyViolation);
}

TEST_F(SessionEnforcerTest, ReconcileFailureKeepsTheRegistry) {
  registry_.Admit(Session("81", "henry", "g"));
  occtl_.list_result = absl::DataLossError("occtl show users: unparsable output");
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  occtl_.list_result = absl::UnavailableError("occtl exited 1");
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  EXPECT_EQ(registry_.size(), 1u);
  EXPECT_EQ(enforcer_.counters().reconcile_failed, 2u);
}

TEST_F(SessionEnforcerTest, SessionAdmittedWhileOcctlWasListingIsKept) {
  occtl_.list_result = std::vector<SessionRecord>{};
  SessionRecord fresh = Session("91", "ivy", "g");
  fresh.admitted_at = clock_.wall_now() + 1s;  // admitted after occtl was asked
  registry_.Admit(fresh);
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  EXPECT_EQ(registry_.size(), 1u);
}

SessionRecord Listed(const std::string& id, const std::string& user, std::uint64_t rx, std::uint64_t tx,
                     Clock::WallTime connected_at) {
  SessionRecord r = Session(id, user, "g");
  r.bytes_received = rx;
  r.bytes_sent = tx;
  r.connected_at = connected_at;
  r.reconstructed = true;
  return r;
}

TEST_F(SessionEnforcerTest, SessionUpdatesCarryOcctlBytesForRegisteredSessionsOnly) {
  registry_.Admit(Session("101", "alice", "g"));
  occtl_.list_result = std::vector<SessionRecord>{Listed("101", "alice", 1000, 2000, clock_.wall_now() - 90s),
                                                  Listed("102", "stranger", 5, 5, clock_.wall_now())};
  enforcer_.ReportSessionUpdates();
  enforcer_.WaitIdle();
  const auto updates = reporter_.of_kind(SessionEventKind::kHostUpdate);
  ASSERT_EQ(updates.size(), 1u) << "102 is unknown: reconciliation reports it first";
  EXPECT_EQ(updates[0].session_id, "101");
  EXPECT_EQ(updates[0].bytes_received, 1000u);
  EXPECT_EQ(updates[0].bytes_sent, 2000u);
  EXPECT_EQ(updates[0].duration_seconds, 90);
  EXPECT_EQ(enforcer_.counters().session_updates, 1u);
  EXPECT_EQ(registry_.List().at(0).bytes_received, 1000u) << "kept for a reconstructed disconnect";

  occtl_.list_result = absl::UnavailableError("occtl exited 1");
  enforcer_.ReportSessionUpdates();
  enforcer_.WaitIdle();
  EXPECT_EQ(enforcer_.counters().session_update_listings_failed, 1u);
  EXPECT_EQ(reporter_.of_kind(SessionEventKind::kHostUpdate).size(), 1u);
}

TEST_F(SessionEnforcerTest, PortalShouldDisconnectGoesThroughTheEnforcementPath) {
  registry_.Admit(Session("111", "pat", "g"));
  enforcer_.DisconnectRequested("111", "pat", "over quota");
  enforcer_.DisconnectRequested("999", "nobody", "x");   // not live here
  enforcer_.DisconnectRequested("111", "someone", "x");  // the ID is another user's
  enforcer_.WaitIdle();
  EXPECT_EQ(occtl_.disconnected, (std::vector<std::string>{"111"}));
  EXPECT_EQ(enforcer_.counters().disconnected_session_update, 1u);
  EXPECT_EQ(enforcer_.counters().disconnect_requests_unknown, 2u);
  reporter_.DisconnectScript("111", "pat", 7, 8);
  const auto d = reporter_.disconnects();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason, DisconnectReason::kPolicyViolation);
  EXPECT_EQ(d[0].metadata.at("disconnect_cause"), "session_update");
  EXPECT_EQ(d[0].metadata.at("disconnect_reason_text"), "portal: over quota");
}

// The whole loop of issue 12's session updates: enforcer -> outbox -> sender -> delivery (fake portal that answers
// should_disconnect for one user) -> enforcer -> occtl; then ocserv's disconnect-script is the one disconnect.
class ShouldDisconnectPortal final : public EventDelivery {
 public:
  void SetOnDisconnectRequested(DisconnectRequested handler) override { handler_ = std::move(handler); }
  void Deliver(const StoredEvent& e, Done done) override {
    {
      std::lock_guard l(mu);
      delivered.push_back(e.event);
    }
    if (e.event.kind == SessionEventKind::kHostUpdate && e.event.username == "quota") {
      handler_(e.event.session_id, e.event.username, "over quota");
    }
    done(absl::OkStatus());
  }
  void Shutdown(std::chrono::milliseconds) override {}
  std::mutex mu;
  std::vector<SessionEvent> delivered;

 private:
  DisconnectRequested handler_;
};

TEST_F(SessionEnforcerTest, PeriodicUpdateAnsweredWithShouldDisconnectEndsTheSessionOnce) {
  ShouldDisconnectPortal portal;
  portal.SetOnDisconnectRequested([this](const std::string& id, const std::string& user, const std::string& why) {
    enforcer_.DisconnectRequested(id, user, why);
  });
  ManualScheduler sender_scheduler;
  EventSender sender(reporter_.outbox(), portal, sender_scheduler, clock_);
  sender.Start();
  registry_.Admit(Session("121", "quota", "g"));
  registry_.Admit(Session("122", "fine", "g"));
  occtl_.list_result = std::vector<SessionRecord>{Listed("121", "quota", 1, 2, clock_.wall_now() - 10s),
                                                  Listed("122", "fine", 3, 4, clock_.wall_now() - 10s)};
  enforcer_.ReportSessionUpdates();
  enforcer_.WaitIdle();
  reporter_.outbox().Flush();
  sender_scheduler.RunDue(clock_.now());
  enforcer_.WaitIdle();
  EXPECT_EQ(occtl_.disconnected, (std::vector<std::string>{"121"}));
  reporter_.DisconnectScript("121", "quota", 9, 9);
  reporter_.outbox().Flush();
  sender_scheduler.RunDue(clock_.now());
  std::unique_lock l(portal.mu);
  int disconnects = 0, updates = 0;
  for (const auto& e : portal.delivered) {
    if (e.kind == SessionEventKind::kDisconnect) {
      ++disconnects;
      EXPECT_EQ(e.metadata.at("disconnect_reason_text"), "portal: over quota");
    }
    if (e.kind == SessionEventKind::kHostUpdate) ++updates;
  }
  l.unlock();
  EXPECT_EQ(updates, 2);
  EXPECT_EQ(disconnects, 1);
  sender.Stop();
  // The outbox outlives this sender: unhook it, and let a group in progress finish its call.
  reporter_.outbox().SetOnPending([] {});
  reporter_.outbox().Flush();
}

TEST(SessionEnforcerPoolTest, WorkersStartOnDemandAndLeaveWhenIdle) {
  FakeClock clock;
  ManualScheduler scheduler;
  SessionRegistry registry;
  FakeOcctl occtl;
  SessionEnforcer::Options options;
  options.concurrency = 3;
  options.idle_linger = 0ms;  // leave as soon as the queue is empty
  SessionEnforcer enforcer({clock, scheduler, registry, occtl, nullptr, nullptr}, options);
  enforcer.Start();
  EXPECT_EQ(enforcer.counters().workers, 0u) << "an idle enforcer holds no thread";
  for (int i = 0; i < 200; ++i) registry.Admit(Session(std::to_string(1000 + i), "u", "g"));
  RevocationTable table(clock, 24h);
  enforcer.DisconnectRevoked(table.Revoke(Subject::User("u"), "r", 0, "local"), std::nullopt);
  enforcer.WaitIdle();
  EXPECT_EQ(occtl.disconnected.size(), 200u);
  EXPECT_EQ(enforcer.counters().workers_peak, 1u) << "one thread, whatever the concurrency";
  EXPECT_LE(occtl.max_running, 3);
  enforcer.WaitWorkersGone();
  EXPECT_EQ(enforcer.counters().workers, 0u) << "the thread leaves when idle";
  const auto started = enforcer.counters().workers_started;
  enforcer.ReconcileNow();
  enforcer.WaitIdle();
  EXPECT_GT(enforcer.counters().workers_started, started) << "and starts again for new work";
  EXPECT_EQ(occtl.list_calls, 1);
  enforcer.Stop();
  EXPECT_EQ(enforcer.counters().workers, 0u);
}

// Issue 11's thread budget: one thread keeps `concurrency` occtl calls in flight at once (the supervised form), and
// never more, however long the queue.
TEST(SessionEnforcerSupervisorTest, OneThreadKeepsConcurrencyCallsInFlight) {
  FakeClock clock;
  ManualScheduler scheduler;
  SessionRegistry registry;
  DeferredOcctl occtl;
  SessionEnforcer enforcer({clock, scheduler, registry, occtl, nullptr, nullptr}, {3, 200'000, 10});
  for (int i = 0; i < 1000; ++i) registry.Admit(Session(std::to_string(5000 + i), "u" + std::to_string(i), "big"));
  RevocationTable table(clock, 24h);
  // Queued before the thread starts, so that it finds more work than slots at once.
  enforcer.DisconnectRevoked(table.Revoke(Subject::Group("big"), "r", 0, "portal"), std::nullopt);
  enforcer.Start();
  enforcer.WaitIdle();
  EXPECT_EQ(occtl.disconnected.size(), 1000u);
  EXPECT_EQ(occtl.max_pending, 3u) << "three calls in flight at once, never four";
  EXPECT_EQ(enforcer.counters().in_flight_peak, 3u);
  EXPECT_EQ(enforcer.counters().workers_peak, 1u);
  EXPECT_EQ(enforcer.counters().workers_started, 1u);
  EXPECT_EQ(enforcer.counters().disconnected_revocation, 1000u);
  EXPECT_GE(occtl.polls, 334) << "each Poll ended at most three calls";
  enforcer.Stop();
}

TEST(SessionEnforcerSupervisorTest, SupervisedFailuresAndTimeoutsAreCountedAndTheSessionsStay) {
  FakeClock clock;
  ManualScheduler scheduler;
  SessionRegistry registry;
  DeferredOcctl occtl;
  SessionEnforcer enforcer({clock, scheduler, registry, occtl, nullptr, nullptr}, {4, 200'000, 10});
  enforcer.Start();
  registry.Admit(Session("601", "quinn", "g"));
  RevocationTable table(clock, 24h);
  occtl.result = absl::DeadlineExceededError("occtl disconnect did not return in time");
  enforcer.DisconnectRevoked(table.Revoke(Subject::User("quinn"), "r", 0, "portal"), std::nullopt);
  enforcer.WaitIdle();
  occtl.result = absl::UnavailableError("occtl exited 1");
  enforcer.DisconnectRevoked(table.Revoke(Subject::User("quinn"), "r", 0, "portal"), std::nullopt);
  enforcer.WaitIdle();
  EXPECT_EQ(enforcer.counters().disconnect_timed_out, 1u);
  EXPECT_EQ(enforcer.counters().disconnect_failed, 1u);
  ASSERT_EQ(registry.size(), 1u);
  EXPECT_FALSE(registry.List().at(0).forced.has_value());
  enforcer.ReconcileNow();
  enforcer.WaitIdle();
  EXPECT_EQ(enforcer.counters().reconcile_ok, 1u) << "the listing goes through the supervised form too";
  enforcer.Stop();
}

}  // namespace
}  // namespace oa::testing
