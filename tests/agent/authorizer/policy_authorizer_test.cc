#include "agent/authorizer/policy_authorizer.h"

#include <gtest/gtest.h>

#include <thread>

#include "fake_clock.h"
#include "fake_portal_client.h"
#include "manual_scheduler.h"

namespace oa::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A pending answer: filled when the authorizer calls `done` (inline or later).
struct Pending {
  std::mutex mu;
  std::optional<IpcReply> reply;
  int calls = 0;
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

class PolicyAuthorizerTest : public ::testing::Test {
 protected:
  PolicyAuthorizerTest() {
    breaker_options_.failure_threshold = 3;
    breaker_options_.minimum_calls = 100;
    breaker_options_.open_timeout = seconds(10);
    breaker_options_.max_open_timeout = seconds(60);
    Make(FailMode::kStale);
  }

  // Like the daemon's shutdown order: the portal client finishes its calls (here: cancels them) while the
  // authorizer, the breaker and the cache are still alive.
  ~PolicyAuthorizerTest() override { DrainPortal(); }
  void DrainPortal() {
    while (portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kCancelled))) {
    }
  }

  void Make(FailMode mode, StaleFallback fallback = StaleFallback::kClose) {
    DrainPortal();
    authorizer_.reset();
    breaker_ = std::make_unique<CircuitBreaker>(breaker_options_, clock_, nullptr, [] { return 0.5; });
    cache_ = std::make_unique<DecisionCache>(cache_options_, clock_, 42);
    auto builder = CacheKeyBuilder::Create(cache_options_.key_fields);
    EXPECT_TRUE(builder.ok());
    AuthorizerSettings settings;
    settings.portal_timeout = milliseconds(2000);
    settings.agent_id = "agent-under-test";
    settings.fail_mode = {mode, fallback};
    authorizer_ = std::make_unique<PolicyAuthorizer>(
        PolicyAuthorizer::Deps{clock_, portal_, *breaker_, *cache_, scheduler_, counters_, &sessions_,
                               &revocations_},
        std::move(*builder), settings);
  }

  std::shared_ptr<Pending> Ask(const std::string& user, milliseconds budget = milliseconds(3000),
                               const std::string& id = "1001") {
    auto request = std::make_shared<IpcRequest>();
    request->reason = IpcReason::kConnect;
    request->username = user;
    request->groupname = "staff";
    request->vhost = "vpn.example.net";
    request->ip_real = "198.51.100.7";
    request->ip_remote = "10.99.1.20";
    request->id = id;
    request->request_id = "req-" + user;
    auto pending = std::make_shared<Pending>();
    authorizer_->Authorize(request, clock_.now() + budget, [pending](IpcReply reply) {
      std::lock_guard l(pending->mu);
      pending->reply = std::move(reply);
      ++pending->calls;
    });
    return pending;
  }

  // Advances the clock and runs the deadline tasks that became due.
  void Advance(milliseconds d) {
    clock_.advance(d);
    scheduler_.RunDue(clock_.now());
  }

  // Drives `failure_threshold` failed portal calls so that the breaker opens.
  void TripBreaker() {
    for (int i = 0; i < breaker_options_.failure_threshold; ++i) {
      auto p = Ask("trip" + std::to_string(i));
      ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
      ASSERT_TRUE(p->answered());
    }
    ASSERT_EQ(breaker_->state(), BreakerState::kOpen);
  }

  FakeClock clock_;
  FakePortalClient portal_;
  ManualScheduler scheduler_;
  AuthorizerCounters counters_;
  SessionRegistry sessions_;
  RevocationTable revocations_{clock_, std::chrono::hours(24)};
  CircuitBreakerOptions breaker_options_;
  DecisionCacheOptions cache_options_;
  std::unique_ptr<CircuitBreaker> breaker_;
  std::unique_ptr<DecisionCache> cache_;
  std::unique_ptr<PolicyAuthorizer> authorizer_;
};

TEST_F(PolicyAuthorizerTest, AllowFromPortalThenFromCacheInline) {
  auto first = Ask("alice");
  EXPECT_FALSE(first->answered());
  ASSERT_EQ(portal_.calls(), 1);
  EXPECT_EQ(portal_.queries()[0].request.username, "alice");
  EXPECT_EQ(portal_.queries()[0].request.ip_real, "198.51.100.7");
  EXPECT_EQ(portal_.queries()[0].request.ip_remote, "10.99.1.20");
  EXPECT_EQ(portal_.queries()[0].request.id, "1001");
  EXPECT_EQ(portal_.queries()[0].request.vhost, "vpn.example.net");
  EXPECT_EQ(portal_.queries()[0].agent_id, "agent-under-test");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(first->decision().verdict, Verdict::kAllow);
  EXPECT_EQ(first->decision().source, DecisionSource::kPortal);

  auto second = Ask("alice");
  ASSERT_TRUE(second->answered()) << "a fresh cache hit is answered inline";
  EXPECT_EQ(second->decision().source, DecisionSource::kCache);
  EXPECT_EQ(portal_.calls(), 1);
  EXPECT_EQ(counters_.snapshot().source_cache, 1u);
  EXPECT_EQ(counters_.snapshot().source_portal, 1u);
}

TEST_F(PolicyAuthorizerTest, DenyIsCachedForDenyTtlAndNeverTripsTheBreaker) {
  for (int i = 0; i < 10; ++i) {
    clock_.advance(seconds(40));  // past deny_ttl (30 s + 10 % jitter): every round asks the portal again
    auto p = Ask("bob");
    ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Deny("not in any allowed group")));
    EXPECT_EQ(p->decision().verdict, Verdict::kDeny);
    EXPECT_EQ(p->decision().source, DecisionSource::kPortal);
    EXPECT_EQ(p->decision().reason, "not in any allowed group");
  }
  EXPECT_EQ(breaker_->state(), BreakerState::kClosed);
  EXPECT_EQ(breaker_->counters().failures, 0u);
  EXPECT_EQ(counters_.snapshot().source_fail_close, 0u) << "a Deny never triggers the fail mode";

  clock_.advance(seconds(26));  // within deny_ttl minus jitter
  auto cached = Ask("bob");
  ASSERT_TRUE(cached->answered());
  EXPECT_EQ(cached->decision().source, DecisionSource::kCache);
  EXPECT_EQ(cached->decision().verdict, Verdict::kDeny);
  EXPECT_EQ(portal_.calls(), 10);
}

TEST_F(PolicyAuthorizerTest, PortalTtlZeroIsNotCached) {
  auto p = Ask("carol");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow(seconds(0))));
  EXPECT_EQ(p->decision().source, DecisionSource::kPortal);
  auto again = Ask("carol");
  EXPECT_FALSE(again->answered());
  EXPECT_EQ(portal_.calls(), 2);
}

TEST_F(PolicyAuthorizerTest, PortalTtlOverridesConfiguredTtl) {
  auto p = Ask("dave");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow(seconds(10))));
  clock_.advance(seconds(12));  // past 10 s + 10 % jitter, far below allow_ttl (5 min)
  auto again = Ask("dave");
  EXPECT_FALSE(again->answered());
  EXPECT_EQ(portal_.calls(), 2);
}

TEST_F(PolicyAuthorizerTest, ConcurrentMissesForOneKeyMakeOnePortalCall) {
  std::vector<std::shared_ptr<Pending>> waiting;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto p = Ask("erin");
        std::lock_guard l(mu);
        waiting.push_back(p);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(waiting.size(), 100u);
  EXPECT_EQ(portal_.calls(), 1);
  EXPECT_EQ(authorizer_->flights_in_progress(), 1u);
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  int portal = 0, coalesced = 0;
  for (auto& p : waiting) {
    ASSERT_TRUE(p->answered());
    EXPECT_EQ(p->decision().verdict, Verdict::kAllow);
    portal += p->decision().source == DecisionSource::kPortal;
    coalesced += p->decision().source == DecisionSource::kCoalesced;
  }
  EXPECT_EQ(portal, 1);
  EXPECT_EQ(coalesced, 99);
  EXPECT_EQ(cache_->stats().coalesced, 99u);
  EXPECT_EQ(authorizer_->flights_in_progress(), 0u);
}

TEST_F(PolicyAuthorizerTest, DistinctUsersAreNotCoalesced) {
  auto a = Ask("frank");
  auto b = Ask("grace");
  EXPECT_EQ(portal_.calls(), 2);
}

TEST_F(PolicyAuthorizerTest, FailOpenAllowsOnErrorAndTagsTheSession) {
  Make(FailMode::kOpen);
  auto p = Ask("heidi", milliseconds(3000), "4242");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(p->decision().verdict, Verdict::kAllow);
  EXPECT_EQ(p->decision().source, DecisionSource::kFailOpen);
  EXPECT_EQ(counters_.snapshot().source_fail_open, 1u);
  auto session = sessions_.Remove("4242");
  ASSERT_TRUE(session.has_value());
  EXPECT_EQ(session->admitted_by, DecisionSource::kFailOpen);
}

TEST_F(PolicyAuthorizerTest, FailCloseDeniesOnError) {
  Make(FailMode::kClose);
  auto p = Ask("ivan");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kDeadlineExceeded)));
  EXPECT_EQ(p->decision().verdict, Verdict::kDeny);
  EXPECT_EQ(p->decision().source, DecisionSource::kFailClose);
  EXPECT_EQ(counters_.snapshot().portal_error, 1u);
}

TEST_F(PolicyAuthorizerTest, FailStaleServesExpiredVerdictOnlyWhenThePortalFails) {
  auto p = Ask("judy");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  clock_.advance(std::chrono::minutes(6));  // past allow_ttl (5 min + 10 %), within stale_ttl

  // Portal healthy: the expired entry is NOT served; the portal is asked.
  auto healthy = Ask("judy");
  EXPECT_FALSE(healthy->answered());
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Deny("revoked")));
  EXPECT_EQ(healthy->decision().source, DecisionSource::kPortal);
  EXPECT_EQ(healthy->decision().verdict, Verdict::kDeny);
  EXPECT_EQ(cache_->stats().stale_hits, 0u);

  clock_.advance(seconds(40));  // the deny expires too
  auto failing = Ask("judy");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(failing->decision().source, DecisionSource::kStale);
  EXPECT_EQ(failing->decision().verdict, Verdict::kDeny) << "the latest verdict, not an older allow";
  EXPECT_EQ(failing->decision().reason, "revoked");

  auto never_seen = Ask("mallory");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(never_seen->decision().source, DecisionSource::kFailClose);
  EXPECT_EQ(never_seen->decision().verdict, Verdict::kDeny);
}

TEST_F(PolicyAuthorizerTest, StaleFallbackOpenAdmitsNeverSeenUserOnError) {
  Make(FailMode::kStale, StaleFallback::kOpen);
  auto p = Ask("niaj");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(p->decision().source, DecisionSource::kFailOpen);
  EXPECT_EQ(p->decision().verdict, Verdict::kAllow);
}

TEST_F(PolicyAuthorizerTest, OpenBreakerAnswersAtOnceWithoutCallingThePortal) {
  Make(FailMode::kClose);
  TripBreaker();
  const int calls_before = portal_.calls();
  for (int i = 0; i < 20; ++i) {
    auto p = Ask("user" + std::to_string(i));
    ASSERT_TRUE(p->answered()) << "no waiting on a timeout while the breaker is open";
    EXPECT_EQ(p->decision().source, DecisionSource::kFailClose);
    EXPECT_NE(p->decision().reason.find("breaker open"), std::string::npos) << p->decision().reason;
  }
  EXPECT_EQ(portal_.calls(), calls_before);
  EXPECT_EQ(counters_.snapshot().breaker_rejected, 20u);
}

TEST_F(PolicyAuthorizerTest, RecoversThroughHalfOpen) {
  Make(FailMode::kClose);
  TripBreaker();
  clock_.advance(seconds(12));  // past open_timeout (10 s + 10 % jitter)
  auto probe = Ask("oscar");
  EXPECT_FALSE(probe->answered());
  EXPECT_EQ(breaker_->state(), BreakerState::kHalfOpen);
  auto blocked = Ask("peggy");  // the one probe slot is taken
  ASSERT_TRUE(blocked->answered());
  EXPECT_EQ(blocked->decision().source, DecisionSource::kFailClose);
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(probe->decision().source, DecisionSource::kPortal);
  EXPECT_EQ(breaker_->state(), BreakerState::kClosed);
  auto after = Ask("peggy");
  EXPECT_FALSE(after->answered());
  EXPECT_EQ(portal_.pending(), 1u) << "closed again: the portal is asked";
}

TEST_F(PolicyAuthorizerTest, HungPortalIsAnsweredByTheFailModeAtTheDeadlineOnce) {
  Make(FailMode::kClose);
  auto p = Ask("trent", milliseconds(3000));
  EXPECT_EQ(portal_.last_timeout(), milliseconds(2000)) << "portal.timeout, below the decision deadline";
  Advance(milliseconds(2999));
  EXPECT_FALSE(p->answered());
  Advance(milliseconds(1));
  ASSERT_TRUE(p->answered());
  EXPECT_EQ(p->decision().source, DecisionSource::kFailClose);
  EXPECT_EQ(counters_.snapshot().deadline_answers, 1u);

  // The late answer is not delivered twice, but it still fills the cache.
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(p->calls, 1);
  auto next = Ask("trent");
  ASSERT_TRUE(next->answered());
  EXPECT_EQ(next->decision().source, DecisionSource::kCache);
}

TEST_F(PolicyAuthorizerTest, FollowerKeepsItsOwnShorterDeadline) {
  auto leader = Ask("victor", milliseconds(3000));
  auto follower = Ask("victor", milliseconds(500));
  EXPECT_EQ(portal_.calls(), 1);
  Advance(milliseconds(500));
  ASSERT_TRUE(follower->answered());
  EXPECT_EQ(follower->decision().source, DecisionSource::kFailClose);  // fail-stale, nothing stale: close
  EXPECT_FALSE(leader->answered());
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(leader->decision().source, DecisionSource::kPortal);
  EXPECT_EQ(follower->calls, 1);
}

TEST_F(PolicyAuthorizerTest, PortalTimeoutShrinksToWhatIsLeftOfTheDeadline) {
  auto p = Ask("walter", milliseconds(800));
  EXPECT_EQ(portal_.last_timeout(), milliseconds(800));
}

TEST_F(PolicyAuthorizerTest, NoTimeLeftGoesStraightToTheFailMode) {
  Make(FailMode::kClose);
  auto p = Ask("xavier", milliseconds(0));
  ASSERT_TRUE(p->answered());
  EXPECT_EQ(p->decision().source, DecisionSource::kFailClose);
  EXPECT_EQ(portal_.calls(), 0);
  EXPECT_EQ(counters_.snapshot().no_time_for_portal, 1u);
}

TEST_F(PolicyAuthorizerTest, SetFailModeTakesEffectOnTheNextDecision) {
  Make(FailMode::kClose);
  auto a = Ask("yolanda");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(a->decision().source, DecisionSource::kFailClose);
  authorizer_->SetFailMode({FailMode::kOpen, StaleFallback::kClose});
  auto b = Ask("yolanda");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(b->decision().source, DecisionSource::kFailOpen);
  EXPECT_EQ(b->decision().verdict, Verdict::kAllow);
}

TEST_F(PolicyAuthorizerTest, CancelledCallStillGetsAFailModeAnswerButDoesNotCountAsFailure) {
  Make(FailMode::kClose);
  auto p = Ask("zed");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kCancelled)));
  EXPECT_EQ(p->decision().source, DecisionSource::kFailClose);
  EXPECT_EQ(breaker_->counters().failures, 0u);
  EXPECT_EQ(breaker_->counters().ignored, 1u);
}

TEST_F(PolicyAuthorizerTest, InvalidatingAUserMakesTheNextConnectAskThePortal) {
  auto a = Ask("bob");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  auto bobby = Ask("bobby");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(cache_->InvalidateUser("bob"), 1u);
  EXPECT_FALSE(Ask("bob")->answered());
  EXPECT_TRUE(Ask("bobby")->answered());
}

}  // namespace
}  // namespace oa::testing

// ---- Live enforcement: revocations and in-flight answers (shared/DESIGN.md "Live enforcement") ----
namespace oa::testing {
namespace {

class PolicyAuthorizerRevocationTest : public PolicyAuthorizerTest {
 protected:
  // What the enforcer does on a Revoke: in force first, then the cache forgets the subject.
  void RevokeUser(const std::string& user, const std::string& reason = "account locked") {
    revocations_.Revoke(Subject::User(user), reason, 0, "portal");
    cache_->InvalidateUser(user);
  }
  void CacheAllow(const std::string& user) {
    auto p = Ask(user);
    ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
    ASSERT_EQ(p->decision().verdict, Verdict::kAllow);
  }
};

TEST_F(PolicyAuthorizerRevocationTest, RevokedUserIsNotAdmittedFromTheCache) {
  CacheAllow("alice");
  // Revoked without the cache being invalidated (the enforcer does both; the check must not rely on it).
  revocations_.Revoke(Subject::User("alice"), "locked", 0, "portal");
  auto p = Ask("alice");
  EXPECT_FALSE(p->answered()) << "the cached Allow is not used: the portal is asked";
  EXPECT_EQ(portal_.calls(), 2);
  EXPECT_EQ(counters_.snapshot().revoked_cache_skips, 1u);
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Deny("locked")));
  EXPECT_EQ(p->decision().verdict, Verdict::kDeny);
}

TEST_F(PolicyAuthorizerRevocationTest, CachedDenyOfARevokedUserIsStillServed) {
  auto first = Ask("alice");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Deny("no")));
  revocations_.Revoke(Subject::User("alice"), "locked", 0, "portal");
  auto p = Ask("alice");
  ASSERT_TRUE(p->answered());
  EXPECT_EQ(p->decision().source, DecisionSource::kCache);
  EXPECT_EQ(p->decision().verdict, Verdict::kDeny);
}

TEST_F(PolicyAuthorizerRevocationTest, RevokedUserIsNotAdmittedByFailOpen) {
  Make(FailMode::kOpen);
  RevokeUser("alice");
  auto p = Ask("alice");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(p->decision().verdict, Verdict::kDeny);
  EXPECT_EQ(p->decision().source, DecisionSource::kFailClose);
  EXPECT_NE(p->decision().reason.find("account locked"), std::string::npos) << p->decision().reason;
  EXPECT_EQ(counters_.snapshot().revoked_denied, 1u);
  auto other = Ask("bob");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(other->decision().source, DecisionSource::kFailOpen) << "others still fail open";
}

TEST_F(PolicyAuthorizerRevocationTest, RevokedUserIsNotAdmittedFromAStaleEntry) {
  CacheAllow("alice");
  clock_.advance(std::chrono::minutes(6));  // past allow_ttl: stale
  revocations_.Revoke(Subject::User("alice"), "locked", 0, "portal");  // cache deliberately not invalidated
  auto p = Ask("alice");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(p->decision().verdict, Verdict::kDeny);
  EXPECT_NE(p->decision().reason.find("stale would have admitted"), std::string::npos) << p->decision().reason;
}

TEST_F(PolicyAuthorizerRevocationTest, RevokedUserIsNotAdmittedAtTheDeadlineByFailOpen) {
  Make(FailMode::kOpen);
  RevokeUser("alice");
  auto p = Ask("alice", milliseconds(500));
  Advance(milliseconds(500));
  ASSERT_TRUE(p->answered());
  EXPECT_EQ(p->decision().verdict, Verdict::kDeny);
}

TEST_F(PolicyAuthorizerRevocationTest, GroupRevocationBlocksMembersCachedAllow) {
  CacheAllow("alice");  // group "staff"
  revocations_.Revoke(Subject::Group("staff"), "group off", 0, "portal");
  auto p = Ask("alice");
  EXPECT_FALSE(p->answered());
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(p->decision().verdict, Verdict::kAllow) << "a fresh portal Allow for a member admits that request";
  EXPECT_TRUE(revocations_.Covering("zed", "staff")) << "but does not lift the group";
}

// The known hole: a call that started before the revocation answers Allow after it.
TEST_F(PolicyAuthorizerRevocationTest, InFlightAllowStartedBeforeRevocationNeitherAdmitsNorIsCached) {
  auto leader = Ask("alice");
  auto follower = Ask("alice");
  ASSERT_EQ(portal_.calls(), 1);
  RevokeUser("alice");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(leader->decision().verdict, Verdict::kDeny);
  EXPECT_EQ(follower->decision().verdict, Verdict::kDeny);
  EXPECT_NE(leader->decision().reason.find("in flight"), std::string::npos);
  EXPECT_EQ(counters_.snapshot().in_flight_not_cached, 1u);
  EXPECT_TRUE(revocations_.Covering("alice", "staff")) << "the old Allow does not lift the revocation";
  auto next = Ask("alice");
  EXPECT_FALSE(next->answered()) << "nothing was cached";
  EXPECT_EQ(portal_.calls(), 2);
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Deny("locked")));
}

TEST_F(PolicyAuthorizerRevocationTest, FreshPortalAllowAfterRevocationAdmitsLiftsAndIsCached) {
  RevokeUser("alice");
  auto p = Ask("alice");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(p->decision().verdict, Verdict::kAllow);
  EXPECT_EQ(p->decision().source, DecisionSource::kPortal);
  EXPECT_FALSE(revocations_.AnyInForce());
  auto again = Ask("alice");
  ASSERT_TRUE(again->answered());
  EXPECT_EQ(again->decision().source, DecisionSource::kCache);
}

TEST_F(PolicyAuthorizerRevocationTest, InFlightAnswerIsNotCachedAfterAnInvalidation) {
  auto p = Ask("alice");
  cache_->InvalidateUser("alice");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  EXPECT_EQ(p->decision().verdict, Verdict::kAllow) << "not revoked: the answer is used, only not cached";
  EXPECT_EQ(counters_.snapshot().in_flight_not_cached, 1u);
  auto again = Ask("alice");
  EXPECT_FALSE(again->answered());
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Allow()));
  auto third = Ask("alice");
  EXPECT_TRUE(third->answered()) << "the second answer, with no invalidation meanwhile, is cached";
}

TEST_F(PolicyAuthorizerRevocationTest, InFlightDenyAfterRevocationIsAnsweredAndNotCached) {
  auto p = Ask("alice");
  RevokeUser("alice");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Deny("no")));
  EXPECT_EQ(p->decision().verdict, Verdict::kDeny);
  EXPECT_EQ(p->decision().source, DecisionSource::kPortal);
  EXPECT_EQ(counters_.snapshot().in_flight_not_cached, 1u);
}

TEST_F(PolicyAuthorizerRevocationTest, RevocationExpiresAfterItsTtl) {
  Make(FailMode::kOpen);
  RevokeUser("alice");
  clock_.advance(std::chrono::hours(24));
  auto p = Ask("alice");
  ASSERT_TRUE(portal_.CompleteNext(FakePortalClient::Error(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(p->decision().source, DecisionSource::kFailOpen);
}

TEST_F(PolicyAuthorizerRevocationTest, RestoreLetsTheCacheAdmitAgain) {
  CacheAllow("alice");
  revocations_.Revoke(Subject::User("alice"), "locked", 0, "portal");
  revocations_.Restore(Subject::User("alice"));
  auto p = Ask("alice");
  ASSERT_TRUE(p->answered());
  EXPECT_EQ(p->decision().source, DecisionSource::kCache);
}

}  // namespace
}  // namespace oa::testing
