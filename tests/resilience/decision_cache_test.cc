#include "resilience/decision_cache.h"

#include <gtest/gtest.h>

#include <set>

#include "fake_clock.h"

namespace oa {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::FakeClock;

DecisionCacheOptions Options(std::size_t max_entries = 1000) {
  DecisionCacheOptions o;
  o.max_entries = max_entries;
  o.allow_ttl = minutes(5);
  o.deny_ttl = seconds(30);
  o.stale_ttl = minutes(30);
  return o;
}

CacheKey Key(std::string_view user, std::string_view group = "staff") {
  static const auto builder = *CacheKeyBuilder::Create({"username", "groupname", "vhost", "ip_real"});
  KeyFieldValues v;
  v[KeyField::kUsername] = user;
  v[KeyField::kGroupname] = group;
  v[KeyField::kVhost] = "vpn";
  v[KeyField::kIpReal] = "192.0.2.1";
  return builder.Build(v);
}

class CacheTest : public ::testing::Test {
 protected:
  void Put(std::string_view user, Verdict v, std::optional<Millis> ttl = std::nullopt,
           std::string_view group = "staff") {
    cache_.Put(Key(user, group), user, group, v, v == Verdict::kDeny ? "blocked" : "", ttl);
  }

  FakeClock clock_;
  DecisionCache cache_{Options(), clock_, /*jitter_seed=*/7};
};

TEST_F(CacheTest, MissThenHit) {
  EXPECT_FALSE(cache_.GetFresh(Key("alice")));
  Put("alice", Verdict::kAllow);
  const auto hit = cache_.GetFresh(Key("alice"));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->verdict, Verdict::kAllow);
  EXPECT_TRUE(hit->fresh);
  Put("mallory", Verdict::kDeny);
  const auto deny = cache_.GetFresh(Key("mallory"));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->verdict, Verdict::kDeny);
  EXPECT_EQ(deny->reason, "blocked");
  const auto st = cache_.stats();
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.insertions, 2u);
  EXPECT_EQ(st.size, 2u);
}

TEST_F(CacheTest, AllowAndDenyTtlsWithTenPercentJitter) {
  Put("alice", Verdict::kAllow);
  Put("mallory", Verdict::kDeny);
  clock_.advance(seconds(27) - milliseconds(1));  // 0.9 x deny_ttl: fresh whatever the jitter
  EXPECT_TRUE(cache_.GetFresh(Key("mallory")));
  clock_.advance(seconds(6) + milliseconds(2));  // past 1.1 x deny_ttl
  EXPECT_FALSE(cache_.GetFresh(Key("mallory")));
  EXPECT_TRUE(cache_.GetFresh(Key("alice")));
  clock_.advance(seconds(236));  // now 269 s: under 0.9 x allow_ttl
  EXPECT_TRUE(cache_.GetFresh(Key("alice")));
  clock_.advance(seconds(62));  // now 331 s: past 1.1 x allow_ttl
  EXPECT_FALSE(cache_.GetFresh(Key("alice")));
}

TEST(CacheJitterTest, ExpiryTimesSpreadWithinTenPercent) {
  FakeClock clock;
  DecisionCache cache(Options(), clock, 12345);
  const auto t0 = clock.now();
  std::set<Clock::MonoTime> expiries;
  for (int i = 0; i < 200; ++i) {
    const auto key = Key("user" + std::to_string(i));
    cache.Put(key, "u", "g", Verdict::kAllow, "", std::nullopt);
    const auto d = cache.GetFresh(key);
    ASSERT_TRUE(d);
    EXPECT_GE(d->fresh_until - t0, seconds(270));
    EXPECT_LE(d->fresh_until - t0, seconds(330));
    EXPECT_EQ(d->stale_until - d->fresh_until, minutes(30));
    expiries.insert(d->fresh_until);
  }
  EXPECT_GT(expiries.size(), 150u) << "jitter should spread expiries";
}

TEST_F(CacheTest, PortalTtlOverridesTheDefault) {
  Put("alice", Verdict::kAllow, seconds(10));
  clock_.advance(seconds(9) - milliseconds(1));
  EXPECT_TRUE(cache_.GetFresh(Key("alice")));
  clock_.advance(seconds(2) + milliseconds(2));
  EXPECT_FALSE(cache_.GetFresh(Key("alice")));
  // A portal TTL longer than deny_ttl applies to denials too.
  Put("mallory", Verdict::kDeny, minutes(10));
  clock_.advance(minutes(8));
  EXPECT_TRUE(cache_.GetFresh(Key("mallory")));
}

TEST_F(CacheTest, PortalTtlZeroDoesNotCacheAndDropsTheOldEntry) {
  Put("alice", Verdict::kAllow, seconds(0));
  EXPECT_FALSE(cache_.GetFresh(Key("alice")));
  EXPECT_FALSE(cache_.GetStale(Key("alice")));
  EXPECT_EQ(cache_.size(), 0u);
  Put("bob", Verdict::kAllow);
  ASSERT_TRUE(cache_.GetFresh(Key("bob")));
  Put("bob", Verdict::kDeny, seconds(0));  // the portal now says "deny, do not cache"
  EXPECT_FALSE(cache_.GetFresh(Key("bob")));
  EXPECT_FALSE(cache_.GetStale(Key("bob"))) << "an old Allow must not survive as stale";
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(CacheTest, PutReplacesTheVerdict) {
  Put("alice", Verdict::kAllow);
  Put("alice", Verdict::kDeny);
  const auto d = cache_.GetFresh(Key("alice"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->verdict, Verdict::kDeny);
  EXPECT_EQ(d->reason, "blocked");
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(CacheTest, StaleOnlyThroughGetStaleAndOnlyWithinStaleTtl) {
  Put("alice", Verdict::kAllow);
  // While fresh, GetStale returns it too, marked fresh.
  auto early = cache_.GetStale(Key("alice"));
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->fresh);
  clock_.advance(seconds(331));  // past any jittered allow TTL
  EXPECT_FALSE(cache_.GetFresh(Key("alice"))) << "the normal lookup never returns an expired entry";
  auto stale = cache_.GetStale(Key("alice"));
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->verdict, Verdict::kAllow);
  EXPECT_FALSE(stale->fresh);
  EXPECT_EQ(cache_.size(), 1u);
  // fresh_until is within [270 s, 330 s], so stale_until within [270 s, 330 s] + 30 min.
  clock_.advance(minutes(28));  // now 2011 s
  EXPECT_TRUE(cache_.GetStale(Key("alice")));
  clock_.advance(minutes(2));  // now 2131 s
  EXPECT_FALSE(cache_.GetStale(Key("alice")));
  EXPECT_EQ(cache_.size(), 0u);
  const auto st = cache_.stats();
  EXPECT_EQ(st.stale_hits, 3u);
  EXPECT_EQ(st.stale_misses, 1u);
  EXPECT_EQ(st.expirations, 1u);
  EXPECT_EQ(st.misses, 1u);
}

TEST_F(CacheTest, FreshLookupPastStaleWindowExpiresTheEntry) {
  Put("alice", Verdict::kAllow);
  clock_.advance(minutes(40));
  EXPECT_FALSE(cache_.GetFresh(Key("alice")));
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_EQ(cache_.stats().expirations, 1u);
}

TEST(CacheCollisionTest, CollidingHashesNeverReturnAnotherUsersVerdict) {
  FakeClock clock;
  auto builder = CacheKeyBuilder::Create({"username"}, [](std::string_view) -> std::uint64_t { return 0xC0FFEE; });
  ASSERT_TRUE(builder.ok());
  auto key = [&](std::string_view user) {
    KeyFieldValues v;
    v[KeyField::kUsername] = user;
    return builder->Build(v);
  };
  DecisionCache cache(Options(), clock, 1);
  ASSERT_EQ(key("alice").hash(), key("mallory").hash());
  cache.Put(key("mallory"), "mallory", "", Verdict::kDeny, "blocked", std::nullopt);
  EXPECT_FALSE(cache.GetFresh(key("alice"))) << "same hash, different key: a miss";
  EXPECT_FALSE(cache.GetStale(key("alice")));
  cache.Put(key("alice"), "alice", "", Verdict::kAllow, "", std::nullopt);
  EXPECT_EQ(cache.GetFresh(key("alice"))->verdict, Verdict::kAllow);
  EXPECT_EQ(cache.GetFresh(key("mallory"))->verdict, Verdict::kDeny);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.Erase(key("mallory")));
  EXPECT_FALSE(cache.GetFresh(key("mallory")));
  EXPECT_EQ(cache.GetFresh(key("alice"))->verdict, Verdict::kAllow);
  EXPECT_FALSE(cache.GetFresh(key("carol")));
}

TEST(CacheCollisionTest, CollisionWithKeysOfEqualLength) {
  FakeClock clock;
  DecisionCache cache(Options(), clock, 1);
  const CacheKey a("aaaa", 1), b("aaab", 1);
  cache.Put(a, "a", "", Verdict::kAllow, "", std::nullopt);
  EXPECT_FALSE(cache.GetFresh(b));
}

TEST(CacheLruTest, EvictsTheLeastRecentlyUsed) {
  FakeClock clock;
  // 64 entries: one shard, so the LRU order is global here.
  DecisionCache cache(Options(64), clock, 1);
  ASSERT_EQ(cache.shard_count(), 1u);
  for (int i = 0; i < 64; ++i) cache.Put(CacheKey("k" + std::to_string(i), i), "u", "g", Verdict::kAllow, "", {});
  ASSERT_TRUE(cache.GetFresh(CacheKey("k0", 0)));  // k0 is now the most recent; k1 the least
  cache.Put(CacheKey("new", 1000), "u", "g", Verdict::kAllow, "", {});
  EXPECT_EQ(cache.size(), 64u);
  EXPECT_TRUE(cache.GetFresh(CacheKey("k0", 0)));
  EXPECT_FALSE(cache.GetFresh(CacheKey("k1", 1)));
  EXPECT_TRUE(cache.GetFresh(CacheKey("k2", 2)));
  EXPECT_TRUE(cache.GetFresh(CacheKey("new", 1000)));
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.stats().expirations, 0u);
}

TEST(CacheLruTest, DeadVictimCountsAsExpiration) {
  FakeClock clock;
  DecisionCache cache(Options(2), clock, 1);
  cache.Put(CacheKey("a", 1), "u", "g", Verdict::kAllow, "", {});
  clock.advance(minutes(40));
  cache.Put(CacheKey("b", 2), "u", "g", Verdict::kAllow, "", {});
  cache.Put(CacheKey("c", 3), "u", "g", Verdict::kAllow, "", {});
  EXPECT_EQ(cache.stats().expirations, 1u);
  EXPECT_EQ(cache.stats().evictions, 0u);
  cache.Put(CacheKey("d", 4), "u", "g", Verdict::kAllow, "", {});
  EXPECT_EQ(cache.stats().evictions, 1u);
}

TEST(CacheLruTest, NeverExceedsMaxEntries) {
  FakeClock clock;
  for (std::size_t max : {1u, 7u, 100u, 1000u, 4099u}) {
    DecisionCache cache(Options(max), clock, 1);
    for (int i = 0; i < 10'000; ++i) {
      cache.Put(Key("user" + std::to_string(i)), "u", "g", Verdict::kAllow, "", {});
      ASSERT_LE(cache.size(), max);
    }
    EXPECT_EQ(cache.size(), max);
    EXPECT_EQ(cache.stats().evictions, 10'000u - max);
  }
}

TEST(CacheLruTest, ZeroEntriesDisablesTheCache) {
  FakeClock clock;
  DecisionCache cache(Options(0), clock, 1);
  cache.Put(Key("alice"), "alice", "g", Verdict::kAllow, "", {});
  EXPECT_FALSE(cache.GetFresh(Key("alice")));
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(CacheTest, InvalidateUserIsExact) {
  Put("bob", Verdict::kAllow, std::nullopt, "staff");
  Put("bob", Verdict::kAllow, std::nullopt, "admins");  // another key for the same user
  Put("bobby", Verdict::kAllow);
  Put("bo", Verdict::kAllow);
  EXPECT_EQ(cache_.InvalidateUser("bob"), 2u);
  EXPECT_FALSE(cache_.GetFresh(Key("bob", "staff")));
  EXPECT_FALSE(cache_.GetFresh(Key("bob", "admins")));
  EXPECT_FALSE(cache_.GetStale(Key("bob", "staff"))) << "invalidated entries are not kept as stale";
  EXPECT_TRUE(cache_.GetFresh(Key("bobby")));
  EXPECT_TRUE(cache_.GetFresh(Key("bo")));
  EXPECT_EQ(cache_.InvalidateUser("bob"), 0u);
}

TEST_F(CacheTest, InvalidateGroupIsExact) {
  Put("alice", Verdict::kAllow, std::nullopt, "staff");
  Put("bob", Verdict::kDeny, std::nullopt, "staff");
  Put("carol", Verdict::kAllow, std::nullopt, "staff2");
  EXPECT_EQ(cache_.InvalidateGroup("staff"), 2u);
  EXPECT_TRUE(cache_.GetFresh(Key("carol", "staff2")));
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(CacheTest, InvalidateAllCountsAndTheCacheStaysUsable) {
  for (int i = 0; i < 100; ++i) Put("user" + std::to_string(i), Verdict::kAllow);
  EXPECT_EQ(cache_.InvalidateAll(), 100u);
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_FALSE(cache_.GetFresh(Key("user1")));
  Put("user1", Verdict::kAllow);
  EXPECT_TRUE(cache_.GetFresh(Key("user1")));
  EXPECT_EQ(cache_.InvalidateAll(), 1u);
}

TEST_F(CacheTest, PurgeExpiredRemovesOnlyDeadEntries) {
  Put("old", Verdict::kAllow);
  clock_.advance(minutes(40));  // "old" is past its stale window
  Put("stale", Verdict::kDeny);
  clock_.advance(minutes(1));  // "stale" is expired but within its stale window
  Put("fresh", Verdict::kAllow);
  EXPECT_EQ(cache_.PurgeExpired(), 1u);
  EXPECT_EQ(cache_.size(), 2u);
  EXPECT_EQ(cache_.stats().expirations, 1u);
  EXPECT_TRUE(cache_.GetStale(Key("stale")));
  EXPECT_TRUE(cache_.GetFresh(Key("fresh")));
}

TEST_F(CacheTest, LongReasonsAreTruncated) {
  const std::string reason(5000, 'r');
  cache_.Put(Key("alice"), "alice", "staff", Verdict::kDeny, reason, {});
  EXPECT_EQ(cache_.GetFresh(Key("alice"))->reason.size(), DecisionCache::kMaxReasonBytes);
}

TEST_F(CacheTest, CoalescedCounter) {
  cache_.RecordCoalesced();
  cache_.RecordCoalesced();
  EXPECT_EQ(cache_.stats().coalesced, 2u);
}

}  // namespace
}  // namespace oa

namespace oa::testing {
namespace {

// In-flight answers (shared/DESIGN.md "Live enforcement"): an answer to a call that started before an invalidation
// is not stored.
class DecisionCacheGenerationTest : public ::testing::Test {
 protected:
  CacheKey Key(const std::string& user) {
    auto b = CacheKeyBuilder::Create({"username"});
    KeyFieldValues v;
    v[KeyField::kUsername] = user;
    return b->Build(v);
  }
  FakeClock clock_;
  DecisionCacheOptions options_;
  DecisionCache cache_{options_, clock_, 7};
};

TEST_F(DecisionCacheGenerationTest, AnswerFromBeforeAnInvalidationIsNotStored) {
  for (int which = 0; which < 3; ++which) {
    const std::uint64_t started = cache_.generation();
    if (which == 0) cache_.InvalidateUser("someone-else");
    if (which == 1) cache_.InvalidateGroup("g");
    if (which == 2) cache_.InvalidateAll();
    EXPECT_FALSE(cache_.PutIfGeneration(started, Key("alice"), "alice", "g", Verdict::kAllow, ""));
    EXPECT_FALSE(cache_.GetFresh(Key("alice")));
  }
  EXPECT_EQ(cache_.stats().stale_puts_dropped, 3u);
}

TEST_F(DecisionCacheGenerationTest, AnswerWithNoInvalidationMeanwhileIsStored) {
  const std::uint64_t started = cache_.generation();
  EXPECT_TRUE(cache_.PutIfGeneration(started, Key("alice"), "alice", "g", Verdict::kAllow, ""));
  EXPECT_TRUE(cache_.GetFresh(Key("alice")));
  EXPECT_EQ(cache_.stats().stale_puts_dropped, 0u);
}

}  // namespace
}  // namespace oa::testing
