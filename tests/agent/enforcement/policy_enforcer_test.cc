#include "agent/enforcement/policy_enforcer.h"

#include <gtest/gtest.h>

#include <vector>

#include "fake_clock.h"
#include "log_capture.h"

namespace oa::testing {
namespace {

// Records what the enforcer asks of the session side, and whether the revocation was in force at that moment.
class RecordingSessionActions final : public SessionActions {
 public:
  explicit RecordingSessionActions(RevocationTable& table) : table_(table) {}
  void DisconnectRevoked(const Revocation& r, std::optional<Clock::WallTime> published_at) override {
    disconnects.push_back(r);
    in_force_when_disconnecting.push_back(table_.Covering(r.subject.kind == SubjectKind::kUser ? r.subject.name : "",
                                                          r.subject.kind == SubjectKind::kGroup ? r.subject.name : "")
                                              .has_value());
    published.push_back(published_at);
  }
  void Recheck(const Subject& subject, std::string_view why) override { rechecks.push_back({subject, std::string(why)}); }

  std::vector<Revocation> disconnects;
  std::vector<bool> in_force_when_disconnecting;
  std::vector<std::optional<Clock::WallTime>> published;
  std::vector<std::pair<Subject, std::string>> rechecks;

 private:
  RevocationTable& table_;
};

CacheKey Key(const std::string& user, const std::string& group) {
  auto b = CacheKeyBuilder::Create({"username", "groupname"});
  KeyFieldValues v;
  v[KeyField::kUsername] = user;
  v[KeyField::kGroupname] = group;
  return b->Build(v);
}

class PolicyEnforcerTest : public ::testing::Test {
 protected:
  PolicyEvent EvNoSubject(PolicyEventKind kind) {
    PolicyEvent e;
    e.kind = kind;
    e.version = 1;
    return e;
  }
  PolicyEvent Ev(PolicyEventKind kind, const Subject& subject, std::uint64_t version = 1) {
    PolicyEvent e;
    e.kind = kind;
    e.version = version;
    e.subject = subject;
    e.reason = "account locked";
    e.published_at = clock_.wall_now();
    return e;
  }
  void CacheAllow(const std::string& user, const std::string& group) {
    cache_.Put(Key(user, group), user, group, Verdict::kAllow, "");
  }

  FakeClock clock_;
  RevocationTable table_{clock_, std::chrono::hours(24)};
  DecisionCache cache_{DecisionCacheOptions{}, clock_, 1};
  RecordingSessionActions sessions_{table_};
  PolicyEnforcer enforcer_{{table_, cache_, &sessions_}};
};

TEST_F(PolicyEnforcerTest, RevokeIsInForceBeforeSessionsAreDisconnectedAndDropsTheCache) {
  CacheAllow("alice", "staff");
  CacheAllow("bob", "staff");
  EXPECT_EQ(enforcer_.Apply(Ev(PolicyEventKind::kRevoke, Subject::User("alice"))), EventResult::kApplied);
  ASSERT_EQ(sessions_.disconnects.size(), 1u);
  EXPECT_TRUE(sessions_.in_force_when_disconnecting[0]);
  EXPECT_TRUE(sessions_.published[0].has_value());
  EXPECT_FALSE(cache_.GetFresh(Key("alice", "staff")));
  EXPECT_TRUE(cache_.GetFresh(Key("bob", "staff")));
  EXPECT_EQ(enforcer_.counts().get(PolicyEventKind::kRevoke, EventResult::kApplied), 1u);
}

TEST_F(PolicyEnforcerTest, RevokeOfAllIsRefused) {
  EXPECT_EQ(enforcer_.Apply(Ev(PolicyEventKind::kRevoke, Subject::All())), EventResult::kInvalid);
  EXPECT_FALSE(table_.AnyInForce());
  EXPECT_TRUE(sessions_.disconnects.empty());
  EXPECT_EQ(enforcer_.counts().get(PolicyEventKind::kRevoke, EventResult::kInvalid), 1u);
}

TEST_F(PolicyEnforcerTest, EventWithoutSubjectIsInvalidNotACrash) {
  EXPECT_EQ(enforcer_.Apply(EvNoSubject(PolicyEventKind::kInvalidate)), EventResult::kInvalid);
}

TEST_F(PolicyEnforcerTest, RestoreLiftsWithoutTouchingSessions) {
  enforcer_.Apply(Ev(PolicyEventKind::kRevoke, Subject::Group("contractors")));
  enforcer_.Apply(Ev(PolicyEventKind::kRestore, Subject::Group("contractors"), 2));
  EXPECT_FALSE(table_.AnyInForce());
  EXPECT_EQ(sessions_.disconnects.size(), 1u);
  EXPECT_TRUE(sessions_.rechecks.empty());
}

TEST_F(PolicyEnforcerTest, InvalidateDropsOnlyTheSubjectsEntries) {
  CacheAllow("alice", "staff");
  CacheAllow("bob", "ops");
  enforcer_.Apply(Ev(PolicyEventKind::kInvalidate, Subject::Group("staff")));
  EXPECT_FALSE(cache_.GetFresh(Key("alice", "staff")));
  EXPECT_TRUE(cache_.GetFresh(Key("bob", "ops")));
  EXPECT_TRUE(sessions_.disconnects.empty());
}

TEST_F(PolicyEnforcerTest, RecheckAsksTheSessionSide) {
  enforcer_.Apply(Ev(PolicyEventKind::kRecheck, Subject::User("alice")));
  ASSERT_EQ(sessions_.rechecks.size(), 1u);
  EXPECT_EQ(sessions_.rechecks[0].first, Subject::User("alice"));
}

TEST_F(PolicyEnforcerTest, ResyncInvalidatesAllAndRechecksAll) {
  CacheAllow("alice", "staff");
  enforcer_.Apply(EvNoSubject(PolicyEventKind::kResync));
  EXPECT_EQ(cache_.size(), 0u);
  ASSERT_EQ(sessions_.rechecks.size(), 1u);
  EXPECT_EQ(sessions_.rechecks[0].first, Subject::All());
}

TEST_F(PolicyEnforcerTest, LocalRevokeAndRestoreUseTheSameLogic) {
  auto r = enforcer_.Revoke(Subject::User("mallory"), "incident 42", 2, "local");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->origin, "local");
  EXPECT_TRUE(table_.Covering("mallory", ""));
  EXPECT_EQ(sessions_.disconnects.size(), 1u);
  EXPECT_FALSE(sessions_.published[0].has_value());
  EXPECT_FALSE(enforcer_.Revoke(Subject::User(""), "x", 0, "local").ok());
  auto lifted = enforcer_.Restore(Subject::User("mallory"), "local");
  ASSERT_TRUE(lifted.ok());
  EXPECT_TRUE(*lifted);
}

// Issue 11 "Bad input": a portal sending 100 000 Invalidates a second must not write 100 000 log lines a second (a
// line cost more than applying the event). Every event is applied and counted; 20 lines a second get through, and
// the first line of the next second says how many were not logged.
TEST_F(PolicyEnforcerTest, InvalidateLinesAreRateLimitedButEveryEventIsAppliedAndCounted) {
  LogCapture log;
  for (int i = 0; i < 1000; ++i) {
    CacheAllow("u" + std::to_string(i), "staff");
    EXPECT_EQ(enforcer_.Apply(Ev(PolicyEventKind::kInvalidate, Subject::User("u" + std::to_string(i)), i + 1)),
              EventResult::kApplied);
  }
  EXPECT_FALSE(cache_.GetFresh(Key("u999", "staff"))) << "applied although not logged";
  EXPECT_EQ(enforcer_.counts().get(PolicyEventKind::kInvalidate, EventResult::kApplied), 1000u);
  EXPECT_EQ(log.lines_with("cached decisions of").size(), 20u);
  clock_.advance(std::chrono::seconds(1));
  enforcer_.Apply(Ev(PolicyEventKind::kInvalidate, Subject::User("late"), 1001));
  const auto lines = log.lines_with("cached decisions of");
  ASSERT_EQ(lines.size(), 21u);
  EXPECT_NE(lines.back().find("(980 similar lines not logged)"), std::string::npos) << lines.back();
  // Revocations are never limited: one line each.
  for (int i = 0; i < 30; ++i) enforcer_.Apply(Ev(PolicyEventKind::kRevoke, Subject::User("r" + std::to_string(i))));
  EXPECT_EQ(log.lines_with("revocation in force").size(), 30u);
}

}  // namespace
}  // namespace oa::testing
