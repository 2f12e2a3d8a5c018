// The management controls against the REAL authorizer, decision cache and circuit breaker (only the portal is a fake,
// completed by hand, and time is a FakeClock): each control is asserted through the next decisions the authorizer
// makes, not through the control plane's own bookkeeping.
#include "agent/daemon/decision_control_plane.h"

#include <gtest/gtest.h>

#include <optional>

#include "fake_clock.h"
#include "fake_portal_client.h"
#include "manual_scheduler.h"

namespace oa::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Pending {
  std::mutex mu;
  std::optional<IpcReply> reply;
  bool answered() {
    std::lock_guard l(mu);
    return reply.has_value();
  }
  Decision decision() {
    std::lock_guard l(mu);
    EXPECT_TRUE(reply.has_value());
    return reply ? reply->decision : Decision{};
  }
};

CircuitBreakerOptions BreakerOptions() {
  CircuitBreakerOptions o;
  o.failure_threshold = 3;
  o.minimum_calls = 100;
  o.open_timeout = seconds(10);
  o.max_open_timeout = seconds(60);
  return o;
}

AuthorizerSettings Settings() {
  AuthorizerSettings s;
  s.portal_timeout = milliseconds(2000);
  s.agent_id = "edge-7";
  s.fail_mode = {FailMode::kStale, StaleFallback::kClose};
  return s;
}

class DecisionControlPlaneTest : public ::testing::Test {
 protected:
  ~DecisionControlPlaneTest() override {
    // As the daemon stops: the portal client finishes its calls while the authorizer is alive.
    while (portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kCancelled))) {
    }
  }

  std::shared_ptr<Pending> Ask(const std::string& user, const std::string& group = "staff",
                               const std::string& id = "1001") {
    auto request = std::make_shared<IpcRequest>();
    request->reason = IpcReason::kConnect;
    request->username = user;
    request->groupname = group;
    request->vhost = "vpn.example.net";
    request->ip_real = "198.51.100.7";
    request->id = id;
    request->request_id = "req-" + user;
    auto pending = std::make_shared<Pending>();
    authorizer_.Authorize(request, clock_.now() + milliseconds(3000), [pending](IpcReply reply) {
      std::lock_guard l(pending->mu);
      pending->reply = std::move(reply);
    });
    return pending;
  }

  // Asks, lets the portal answer `answer`, and returns the decision.
  Decision Decide(const std::string& user, PolicyAnswer answer, const std::string& group = "staff") {
    auto p = Ask(user, group);
    EXPECT_FALSE(p->answered()) << user << ": expected a portal call, got an inline answer";
    EXPECT_TRUE(portal_.CompleteNext(std::move(answer)));
    return p->decision();
  }

  FakeClock clock_;
  FakePortalClient portal_;
  ManualScheduler scheduler_;
  AuthorizerCounters counters_;
  SessionRegistry sessions_;
  DecisionCacheOptions cache_options_;
  CircuitBreaker breaker_{BreakerOptions(), clock_, nullptr, [] { return 0.5; }};
  DecisionCache cache_{cache_options_, clock_, 42};
  PolicyAuthorizer authorizer_{
      PolicyAuthorizer::Deps{clock_, portal_, breaker_, cache_, scheduler_, counters_, &sessions_},
      *CacheKeyBuilder::Create(cache_options_.key_fields), Settings()};
  bool listening_ = true;
  DecisionControlPlane control_{
      {authorizer_, cache_, breaker_, counters_, &sessions_, &portal_, nullptr, [this] { return listening_; }},
      "9.8.7",
      clock_};
};

TEST_F(DecisionControlPlaneTest, InvalidateUserAffectsExactlyTheNamedUser) {
  EXPECT_EQ(Decide("bob", FakePortalClient::Allow()).source, DecisionSource::kPortal);
  EXPECT_EQ(Decide("bob", FakePortalClient::Allow(), "admins").source, DecisionSource::kPortal);
  EXPECT_EQ(Decide("bobby", FakePortalClient::Allow()).source, DecisionSource::kPortal);
  EXPECT_EQ(Decide("alice", FakePortalClient::Deny("suspended")).source, DecisionSource::kPortal);
  ASSERT_EQ(portal_.calls(), 4);

  EXPECT_EQ(control_.InvalidateUser("bob"), 2u) << "both of bob's entries (two groups), nothing else";
  EXPECT_EQ(control_.Status().cache_stats.at("size"), 2u);

  // bob asks the portal again; bobby and alice are answered from the cache, inline, without a portal call.
  auto bob = Ask("bob");
  EXPECT_FALSE(bob->answered());
  ASSERT_EQ(portal_.calls(), 5);
  EXPECT_EQ(portal_.queries().back().request.username, "bob");
  auto bobby = Ask("bobby");
  ASSERT_TRUE(bobby->answered());
  EXPECT_EQ(bobby->decision().source, DecisionSource::kCache);
  EXPECT_EQ(bobby->decision().verdict, Verdict::kAllow);
  auto alice = Ask("alice");
  ASSERT_TRUE(alice->answered());
  EXPECT_EQ(alice->decision().source, DecisionSource::kCache);
  EXPECT_EQ(alice->decision().verdict, Verdict::kDeny);
  EXPECT_EQ(portal_.calls(), 5);
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(bob->decision().source, DecisionSource::kPortal);
}

TEST_F(DecisionControlPlaneTest, InvalidateGroupAndAllReachTheCache) {
  Decide("bob", FakePortalClient::Allow(), "admins");
  Decide("carol", FakePortalClient::Allow(), "admins");
  Decide("dave", FakePortalClient::Allow(), "staff");
  EXPECT_EQ(control_.InvalidateGroup("admin"), 0u) << "exact group names only";
  EXPECT_EQ(control_.InvalidateGroup("admins"), 2u);
  auto dave = Ask("dave", "staff");
  ASSERT_TRUE(dave->answered());
  EXPECT_EQ(dave->decision().source, DecisionSource::kCache);
  auto carol = Ask("carol", "admins");
  EXPECT_FALSE(carol->answered()) << "carol's entry went with her group";
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));

  EXPECT_EQ(control_.InvalidateAll(), 2u);  // dave and the new carol entry
  EXPECT_FALSE(Ask("dave", "staff")->answered());
}

TEST_F(DecisionControlPlaneTest, SetFailModeTakesEffectOnTheNextDecision) {
  // fail-stale with no stale entry falls back to close.
  Decision d = Decide("erin", FakePortalClient::Error(absl::StatusCode::kUnavailable));
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.source, DecisionSource::kFailClose);

  EXPECT_EQ(control_.SetFailMode(FailMode::kOpen), FailMode::kStale);
  d = Decide("frank", FakePortalClient::Error(absl::StatusCode::kUnavailable));
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.source, DecisionSource::kFailOpen);

  const StatusSnapshot s = control_.Status();
  EXPECT_EQ(s.fail_mode, FailMode::kOpen);
  EXPECT_EQ(s.stale_fallback, StaleFallback::kClose) << "SetFailMode changes the mode only";
  EXPECT_EQ(authorizer_.settings().fail_mode.stale_fallback, StaleFallback::kClose);
  EXPECT_EQ(s.decisions_by_source.at("fail_open"), 1u);
  EXPECT_EQ(s.decisions_by_source.at("fail_close"), 1u);

  EXPECT_EQ(control_.SetFailMode(FailMode::kClose), FailMode::kOpen);
  d = Decide("gina", FakePortalClient::Error(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.source, DecisionSource::kFailClose);
}

TEST_F(DecisionControlPlaneTest, FailStaleSetAtRunTimeServesTheStaleEntry) {
  ASSERT_EQ(control_.SetFailMode(FailMode::kClose), FailMode::kStale);
  Decide("hank", FakePortalClient::Allow(seconds(1)));
  clock_.advance(seconds(5));  // past the fresh TTL, well within stale_ttl
  EXPECT_EQ(Decide("hank", FakePortalClient::Error(absl::StatusCode::kUnavailable)).source,
            DecisionSource::kFailClose);
  EXPECT_EQ(control_.SetFailMode(FailMode::kStale), FailMode::kClose);
  const Decision d = Decide("hank", FakePortalClient::Error(absl::StatusCode::kUnavailable));
  EXPECT_EQ(d.source, DecisionSource::kStale);
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(control_.Status().cache_stats.at("stale_hits"), 1u);
}

TEST_F(DecisionControlPlaneTest, BreakerOverrideReachesTheNextDecision) {
  EXPECT_EQ(control_.SetBreakerOverride(BreakerOverride::kForceOpen), BreakerOverride::kAuto);
  EXPECT_EQ(control_.BreakerState(), "open");
  auto p = Ask("ivan");
  ASSERT_TRUE(p->answered()) << "a forced-open breaker answers at once from the fail mode";
  EXPECT_EQ(p->decision().source, DecisionSource::kFailClose);
  EXPECT_EQ(portal_.calls(), 0);
  StatusSnapshot s = control_.Status();
  EXPECT_EQ(s.breaker_override, BreakerOverride::kForceOpen);
  EXPECT_EQ(s.breaker_counters.at("rejected"), 1u);
  EXPECT_EQ(s.portal.at("breaker_rejected"), 1u);

  EXPECT_EQ(control_.SetBreakerOverride(BreakerOverride::kAuto), BreakerOverride::kForceOpen);
  EXPECT_EQ(control_.BreakerState(), "closed");
  EXPECT_EQ(Decide("ivan", FakePortalClient::Allow()).source, DecisionSource::kPortal);
}

TEST_F(DecisionControlPlaneTest, StatusReportsTheRealCounters) {
  Decide("judy", FakePortalClient::Allow());
  ASSERT_TRUE(Ask("judy")->answered());
  Decide("kim", FakePortalClient::Deny("no"));
  clock_.advance(seconds(90));

  StatusSnapshot s = control_.Status();
  EXPECT_EQ(s.version, "9.8.7");
  EXPECT_EQ(s.agent_id, "edge-7");
  EXPECT_EQ(s.uptime, seconds(90));
  EXPECT_EQ(s.fail_mode, FailMode::kStale);
  EXPECT_EQ(s.breaker_state, "closed");
  EXPECT_EQ(s.decisions_by_source.at("portal"), 2u);
  EXPECT_EQ(s.decisions_by_source.at("cache"), 1u);
  EXPECT_EQ(s.decisions_by_verdict.at("allow"), 2u);
  EXPECT_EQ(s.decisions_by_verdict.at("deny"), 1u);
  EXPECT_EQ(s.portal.at("calls"), 2u);
  EXPECT_EQ(s.portal.at("allow"), 1u);
  EXPECT_EQ(s.portal.at("deny"), 1u);
  EXPECT_EQ(s.cache_stats.at("hits"), 1u);
  EXPECT_EQ(s.cache_stats.at("misses"), 2u);
  EXPECT_EQ(s.cache_stats.at("size"), 2u);
  EXPECT_EQ(s.cache_stats.at("capacity"), cache_options_.max_entries);
  EXPECT_EQ(s.breaker_counters.at("successes"), 2u) << "a Deny is a successful call";
  EXPECT_EQ(s.sessions.at("active"), 1u) << "judy's two connects share one session id; kim was denied";
  EXPECT_EQ(s.ipc.count("accepted"), 1u) << "every IPC counter is listed, zero without a server";
  EXPECT_TRUE(control_.IpcListening());
  listening_ = false;
  EXPECT_FALSE(control_.IpcListening());

  const AgentSnapshot a = control_.Collect();
  EXPECT_EQ(a.decisions.source_portal, 2u);
  EXPECT_EQ(a.cache.hits, 1u);
  EXPECT_FALSE(a.ipc_listening);
}

TEST(DecisionControlPlaneStatusTest, GetStatusShowsTheSessionEventOutbox) {
  AgentSnapshot a;
  EXPECT_TRUE(DecisionControlPlane::ToStatus(a).events.empty()) << "session reports off";
  EXPECT_EQ(DecisionControlPlane::ToStatus(a).events_sender_state, "");
  EventsSnapshot e;
  e.outbox.depth = 5;
  e.outbox.written = 9;
  e.outbox.store_ok = true;
  e.outbox.dropped_full = 1;
  e.outbox.oldest_written_at = Clock::WallTime(seconds(100));
  e.taken_at = Clock::WallTime(seconds(160));
  e.sender.sent = 4;
  e.sender.retried = 6;
  e.sender.parked = 2;
  e.sender.state = SenderState::kSending;
  a.events = e;
  const StatusSnapshot s = DecisionControlPlane::ToStatus(a);
  EXPECT_EQ(s.events.at("outbox_depth"), 5u);
  EXPECT_EQ(s.events.at("outbox_oldest_age_seconds"), 60u);
  EXPECT_EQ(s.events.at("outbox_store_ok"), 1u);
  EXPECT_EQ(s.events.at("written"), 9u);
  EXPECT_EQ(s.events.at("sent"), 4u);
  EXPECT_EQ(s.events.at("retried"), 6u);
  EXPECT_EQ(s.events.at("parked"), 2u);
  EXPECT_EQ(s.events.at("dropped_full"), 1u);
  EXPECT_EQ(s.events_sender_state, "sending");
}

}  // namespace
}  // namespace oa::testing
