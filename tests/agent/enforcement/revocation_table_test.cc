#include "agent/enforcement/revocation_table.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

namespace oa::testing {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

class RevocationTableTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  RevocationTable table_{clock_, hours(24)};
};

TEST_F(RevocationTableTest, EmptyTableIsNotInForce) {
  EXPECT_FALSE(table_.AnyInForce());
  EXPECT_FALSE(table_.Covering("alice", "staff"));
  EXPECT_EQ(table_.sequence(), 0u);
}

TEST_F(RevocationTableTest, UserRevocationCoversExactlyThatUser) {
  const Revocation r = table_.Revoke(Subject::User("bob"), "account locked", 2, "portal");
  EXPECT_EQ(r.sequence, 1u);
  EXPECT_TRUE(table_.AnyInForce());
  ASSERT_TRUE(table_.Covering("bob", "staff"));
  EXPECT_EQ(table_.Covering("bob", "staff")->reason, "account locked");
  EXPECT_FALSE(table_.Covering("bobby", "staff")) << "exact match, never by prefix";
  EXPECT_FALSE(table_.Covering("bo", "staff"));
}

TEST_F(RevocationTableTest, GroupRevocationCoversItsMembersOnly) {
  table_.Revoke(Subject::Group("contractors"), "contract ended", 0, "portal");
  EXPECT_TRUE(table_.Covering("carol", "contractors"));
  EXPECT_FALSE(table_.Covering("carol", "staff"));
  EXPECT_FALSE(table_.Covering("contractors", "")) << "a user named like the group is not covered";
}

TEST_F(RevocationTableTest, RestoreLiftsOnlyThatSubject) {
  table_.Revoke(Subject::User("bob"), "r", 0, "portal");
  table_.Revoke(Subject::Group("bob"), "r", 0, "portal");
  EXPECT_TRUE(table_.Restore(Subject::User("bob")));
  EXPECT_FALSE(table_.Restore(Subject::User("bob"))) << "nothing left to restore";
  EXPECT_FALSE(table_.Covering("bob", "staff"));
  EXPECT_TRUE(table_.Covering("x", "bob"));
  EXPECT_EQ(table_.counters().restored, 1u);
}

TEST_F(RevocationTableTest, RevocationLastsItsTtlThenExpires) {
  table_.Revoke(Subject::User("bob"), "r", 0, "portal");
  clock_.advance(hours(23) + minutes(59));
  EXPECT_TRUE(table_.Covering("bob", ""));
  clock_.advance(minutes(1));
  EXPECT_FALSE(table_.Covering("bob", "")) << "expired at once, before the sweep removes it";
  EXPECT_TRUE(table_.List().empty());
  auto gone = table_.ExpireDue();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].subject, Subject::User("bob"));
  EXPECT_FALSE(table_.AnyInForce());
  EXPECT_EQ(table_.counters().expired, 1u);
}

TEST_F(RevocationTableTest, RenewedRevocationGetsANewTtlAndSequence) {
  table_.Revoke(Subject::User("bob"), "first", 0, "portal");
  clock_.advance(hours(20));
  const Revocation again = table_.Revoke(Subject::User("bob"), "second", 0, "local");
  EXPECT_EQ(again.sequence, 2u);
  clock_.advance(hours(10));
  ASSERT_TRUE(table_.Covering("bob", ""));
  EXPECT_EQ(table_.Covering("bob", "")->reason, "second");
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(RevocationTableTest, AllowFromCallStartedBeforeRevocationDoesNotAdmit) {
  const std::uint64_t call_started = table_.sequence();
  table_.Revoke(Subject::User("bob"), "locked", 0, "portal");
  auto refused = table_.AllowAfterCall("bob", "staff", call_started);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->reason, "locked");
  EXPECT_TRUE(table_.Covering("bob", "staff")) << "an old Allow does not lift the revocation";
}

TEST_F(RevocationTableTest, AllowFromCallStartedAfterRevocationLiftsTheUserRevocation) {
  table_.Revoke(Subject::User("bob"), "locked", 0, "portal");
  const std::uint64_t call_started = table_.sequence();
  EXPECT_FALSE(table_.AllowAfterCall("bob", "staff", call_started));
  EXPECT_FALSE(table_.Covering("bob", "staff"));
  EXPECT_FALSE(table_.AnyInForce());
  EXPECT_EQ(table_.counters().lifted_by_allow, 1u);
}

TEST_F(RevocationTableTest, GroupRevocationIsNotLiftedByOneMembersAllow) {
  table_.Revoke(Subject::Group("contractors"), "ended", 0, "portal");
  const std::uint64_t call_started = table_.sequence();
  EXPECT_FALSE(table_.AllowAfterCall("carol", "contractors", call_started)) << "a fresh Allow admits the member";
  EXPECT_TRUE(table_.Covering("dan", "contractors")) << "but the group stays revoked";
  EXPECT_TRUE(table_.AllowAfterCall("carol", "contractors", call_started - 1)) << "an older call's Allow does not";
}

TEST_F(RevocationTableTest, AllowForAnUnrevokedUserIsUntouched) {
  table_.Revoke(Subject::User("bob"), "locked", 0, "portal");
  EXPECT_FALSE(table_.AllowAfterCall("alice", "staff", 0));
  EXPECT_TRUE(table_.Covering("bob", "staff"));
}

TEST_F(RevocationTableTest, ListIsOldestFirst) {
  table_.Revoke(Subject::Group("g"), "1", 0, "portal");
  table_.Revoke(Subject::User("u"), "2", 0, "local");
  auto list = table_.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].reason, "1");
  EXPECT_EQ(list[1].origin, "local");
}

}  // namespace
}  // namespace oa::testing
