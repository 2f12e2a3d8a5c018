#include "agent/enforcement/session_enforcer.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>

#include "agent/enforcement/policy_enforcer.h"
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

// Forced disconnects go into a real outbox (a file in a temporary directory) through the SessionEventRecorder, as
// in the daemon; the test reads them back as the sender would.
class RecordedDisconnects {
 public:
  explicit RecordedDisconnects(const Clock& clock) : outbox_(Options(dir_), clock) {}
  SessionEventRecorder* recorder() { return &recorder_; }
  std::vector<SessionEvent> disconnects() {
    outbox_.Flush();
    std::vector<SessionEvent> out;
    for (auto& e : outbox_.Pending(100'000)) {
      if (e.event.kind == SessionEventKind::kDisconnect) out.push_back(std::move(e.event));
    }
    return out;
  }

 private:
  static OutboxOptions Options(const TempDir& dir) {
    OutboxOptions o;
    o.path = dir / "outbox.db";
    return o;
  }
  TempDir dir_;
  Outbox outbox_;
  SessionRegistry unused_sessions_;
  AuthorizerCounters counters_;
  SessionEventRecorder recorder_{unused_sessions_, counters_, &outbox_};
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
  RecordedDisconnects reporter_{clock_};
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
  EXPECT_EQ(registry_.size(), 1u);
  EXPECT_EQ(enforcer_.counters().disconnected_revocation, 2u);
  ASSERT_EQ(reporter_.disconnects().size(), 2u);
  EXPECT_EQ(reporter_.disconnects()[0].reason, DisconnectReason::kCertificateRevoked);
  EXPECT_EQ(reporter_.disconnects()[0].metadata.at("disconnect_reason_text"), "account locked");
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
  EXPECT_EQ(registry_.size(), 1u);
  EXPECT_EQ(enforcer_.counters().disconnected_revocation, 10'000u);
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
  EXPECT_EQ(registry_.size(), 3u);
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
  EXPECT_EQ(reporter_.disconnects().size(), 1u);
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
  occtl_.list_result = std::vector<SessionRecord>{Session("71", "frank", "g"), Session("73", "new", "g")};
  clock_.advance(1s);  // the admits above happened before occtl was asked
  enforcer_.ReconcileNow();
  enforcer_.WaitIdle();
  auto list = registry_.List();
  ASSERT_EQ(list.size(), 2u);
  std::map<std::string, SessionRecord> by_id;
  for (auto& r : list) by_id[r.id] = r;
  EXPECT_EQ(by_id.at("71").admitted_by, DecisionSource::kFailOpen);
  EXPECT_FALSE(by_id.at("71").reconstructed);
  EXPECT_TRUE(by_id.at("73").reconstructed);
  EXPECT_EQ(enforcer_.counters().reconcile_added, 1u);
  EXPECT_EQ(enforcer_.counters().reconcile_removed, 1u);
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

}  // namespace
}  // namespace oa::testing
