// SlowCallLimiter: each role's budget is its own, follows are limited per identity, slots come back when released,
// and each refusal is counted under its limit.
#include "agent/management/slow_call_limiter.h"

#include <gtest/gtest.h>

#include <vector>

namespace oa {
namespace {

TEST(SlowCallLimiterTest, EachRoleHasItsOwnBudget) {
  ManagementCounters counters;
  SlowCallLimiter limiter({2, 4}, counters);
  std::vector<SlowCallLimiter::Slot> held;
  for (int i = 0; i < 2; ++i) held.push_back(std::move(*limiter.TryAcquire(ManagementRole::kViewer, "v", false).slot));
  auto refused = limiter.TryAcquire(ManagementRole::kViewer, "v2", false);
  EXPECT_FALSE(refused.slot);
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(counters.slow_call_refused.load(), 1u);
  // The viewers' budget being full costs the operators and admins nothing.
  EXPECT_TRUE(limiter.TryAcquire(ManagementRole::kOperator, "o", false).slot);
  EXPECT_TRUE(limiter.TryAcquire(ManagementRole::kAdmin, "a", false).slot);
  held.pop_back();  // released
  EXPECT_TRUE(limiter.TryAcquire(ManagementRole::kViewer, "v2", false).slot);
  EXPECT_EQ(limiter.total_budget(), 6u);
}

TEST(SlowCallLimiterTest, FollowsAreLimitedPerIdentity) {
  ManagementCounters counters;
  SlowCallLimiter limiter({8, 2}, counters);
  std::vector<SlowCallLimiter::Slot> held;
  for (int i = 0; i < 2; ++i) held.push_back(std::move(*limiter.TryAcquire(ManagementRole::kAdmin, "a", true).slot));
  EXPECT_FALSE(limiter.TryAcquire(ManagementRole::kAdmin, "a", true).slot);
  EXPECT_EQ(counters.follow_refused.load(), 1u);
  EXPECT_EQ(counters.slow_call_refused.load(), 0u);
  EXPECT_TRUE(limiter.TryAcquire(ManagementRole::kAdmin, "b", true).slot) << "another identity of the same role";
  EXPECT_TRUE(limiter.TryAcquire(ManagementRole::kAdmin, "a", false).slot) << "a non-follow slow call";
  held.clear();
  EXPECT_TRUE(limiter.TryAcquire(ManagementRole::kAdmin, "a", true).slot);
}

}  // namespace
}  // namespace oa
