#include "resilience/cache_key.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

const std::vector<std::string> kDefaultFields{"username", "groupname", "vhost", "ip_real"};

KeyFieldValues Values(std::string_view user, std::string_view group, std::string_view vhost = "vpn",
                      std::string_view ip = "192.0.2.1") {
  KeyFieldValues v;
  v[KeyField::kUsername] = user;
  v[KeyField::kGroupname] = group;
  v[KeyField::kVhost] = vhost;
  v[KeyField::kIpReal] = ip;
  return v;
}

TEST(CacheKeyTest, SameFieldsSameKey) {
  auto b = CacheKeyBuilder::Create(kDefaultFields);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->Build(Values("alice", "staff")), b->Build(Values("alice", "staff")));
}

TEST(CacheKeyTest, BoundariesAreUnambiguous) {
  auto b = CacheKeyBuilder::Create(kDefaultFields);
  ASSERT_TRUE(b.ok());
  const CacheKey ab_c = b->Build(Values("ab", "c"));
  const CacheKey a_bc = b->Build(Values("a", "bc"));
  EXPECT_NE(ab_c.bytes(), a_bc.bytes());
  EXPECT_FALSE(ab_c == a_bc);
  // Empty fields shift nothing either.
  EXPECT_NE(b->Build(Values("", "ab")).bytes(), b->Build(Values("ab", "")).bytes());
  EXPECT_NE(b->Build(Values("a", "", "b")).bytes(), b->Build(Values("a", "b", "")).bytes());
}

TEST(CacheKeyTest, OnlyConfiguredFieldsCount) {
  auto b = CacheKeyBuilder::Create({"username"});
  ASSERT_TRUE(b.ok());
  KeyFieldValues x = Values("alice", "staff");
  KeyFieldValues y = Values("alice", "admins", "other", "198.51.100.7");
  y[KeyField::kDevice] = "tun0";
  EXPECT_EQ(b->Build(x), b->Build(y));
}

TEST(CacheKeyTest, EveryKnownFieldCanBeUsed) {
  std::vector<std::string> all;
  for (std::size_t i = 0; i < kKeyFieldCount; ++i) all.emplace_back(to_string(static_cast<KeyField>(i)));
  auto b = CacheKeyBuilder::Create(all);
  ASSERT_TRUE(b.ok());
  KeyFieldValues v;
  const CacheKey base = b->Build(v);
  for (std::size_t i = 0; i < kKeyFieldCount; ++i) {
    KeyFieldValues w;
    w.values[i] = "x";
    EXPECT_NE(b->Build(w).bytes(), base.bytes()) << to_string(static_cast<KeyField>(i));
  }
}

TEST(CacheKeyTest, FieldOrderIsPartOfTheEncoding) {
  auto ug = CacheKeyBuilder::Create({"username", "groupname"});
  auto gu = CacheKeyBuilder::Create({"groupname", "username"});
  ASSERT_TRUE(ug.ok() && gu.ok());
  EXPECT_EQ(ug->Build(Values("a", "b")).bytes(), gu->Build(Values("b", "a")).bytes());
}

TEST(CacheKeyTest, HashIsXxh3OfTheEncoding) {
  auto b = CacheKeyBuilder::Create(kDefaultFields);
  ASSERT_TRUE(b.ok());
  const CacheKey k = b->Build(Values("alice", "staff"));
  EXPECT_EQ(k.hash(), Xxh3Hash(k.bytes()));
  EXPECT_NE(k.hash(), b->Build(Values("alice", "staff2")).hash());
  // Pinned so that a change in encoding or hash function is noticed (the empty string's XXH3-64 is well known).
  EXPECT_EQ(Xxh3Hash(""), 0x2D06800538D394C2ULL);
}

TEST(CacheKeyTest, InjectedHasherIsUsed) {
  auto b = CacheKeyBuilder::Create(kDefaultFields, [](std::string_view) -> std::uint64_t { return 42; });
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->Build(Values("alice", "staff")).hash(), 42u);
}

TEST(CacheKeyTest, BadFieldListsAreErrorsNamingTheField) {
  auto unknown = CacheKeyBuilder::Create({"username", "ip_rael"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("ip_rael"), std::string_view::npos);
  EXPECT_NE(unknown.status().message().find("cache.key_fields"), std::string_view::npos);
  auto twice = CacheKeyBuilder::Create({"username", "username"});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("twice"), std::string_view::npos);
  EXPECT_FALSE(CacheKeyBuilder::Create({}).ok());
}

TEST(CacheKeyTest, ParseKeyFieldRoundTrips) {
  for (std::size_t i = 0; i < kKeyFieldCount; ++i) {
    const auto f = static_cast<KeyField>(i);
    EXPECT_EQ(ParseKeyField(to_string(f)), f);
  }
  EXPECT_EQ(ParseKeyField("USERNAME"), std::nullopt);
}

}  // namespace
}  // namespace oa
