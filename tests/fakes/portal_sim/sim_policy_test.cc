// The reference portal's YAML policy: parsing, errors that name the key, rule order, CIDR matching.
#include "sim_policy.h"

#include <gtest/gtest.h>

namespace oa::sim {
namespace {

TEST(SimPolicy, EmptyFileDeniesEveryone) {
  auto p = ParseSimPolicy("");
  ASSERT_TRUE(p.ok());
  const SimRule& r = p->Evaluate("anyone", "", "198.51.100.1");
  EXPECT_FALSE(r.allow);
  EXPECT_EQ(r.reason, "no policy for this user");
  EXPECT_FALSE(p->epoch.has_value());
}

TEST(SimPolicy, OrderIsCidrThenUserThenGroupThenDefault) {
  auto p = ParseSimPolicy(R"(
epoch: 3
default: { allow: true, ttl: 5 }
cidr_rules:
  - { cidr: 203.0.113.0/24, allow: false, reason: net }
  - { cidr: "2001:db8::/32", allow: false, reason: net6 }
users:
  alice: { allow: true, ttl: 60, routes: [10.0.0.0/8], dns: [10.0.0.53], metadata: { tier: gold } }
  bob: { allow: false, reason: suspended, ttl: 0 }
groups:
  staff: { allow: false, reason: group }
)");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p->epoch, 3u);
  EXPECT_EQ(p->Evaluate("alice", "staff", "203.0.113.200").reason, "net");
  EXPECT_EQ(p->Evaluate("alice", "staff", "2001:db8::1").reason, "net6");
  const SimRule& alice = p->Evaluate("alice", "staff", "198.51.100.1");
  EXPECT_TRUE(alice.allow);
  EXPECT_EQ(*alice.ttl_seconds, 60u);
  EXPECT_EQ(alice.routes.at(0), "10.0.0.0/8");
  EXPECT_EQ(alice.metadata.at("tier"), "gold");
  EXPECT_EQ(*p->Evaluate("bob", "", "198.51.100.1").ttl_seconds, 0u);
  EXPECT_EQ(p->Evaluate("carol", "staff", "198.51.100.1").reason, "group");
  const SimRule& dflt = p->Evaluate("carol", "", "198.51.100.1");
  EXPECT_TRUE(dflt.allow);
  EXPECT_EQ(*dflt.ttl_seconds, 5u);
}

TEST(SimPolicy, CidrMatchesExactlyItsPrefix) {
  auto c = ParseCidr("10.1.2.0/23");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Contains("10.1.2.1"));
  EXPECT_TRUE(c->Contains("10.1.3.255"));
  EXPECT_FALSE(c->Contains("10.1.4.0"));
  EXPECT_FALSE(c->Contains("::ffff:10.1.2.1"));  // another family
  EXPECT_FALSE(c->Contains("not an ip"));
  auto host = ParseCidr("192.0.2.7");
  ASSERT_TRUE(host.ok());
  EXPECT_TRUE(host->Contains("192.0.2.7"));
  EXPECT_FALSE(host->Contains("192.0.2.8"));
  auto all = ParseCidr("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains("8.8.8.8"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/33").ok());
  EXPECT_FALSE(ParseCidr("10.0.0/8").ok());
}

TEST(SimPolicy, ErrorsNameTheKey) {
  auto unknown = ParseSimPolicy("users: { alice: { allow: true, tll: 60 } }");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("users.alice"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("tll"), std::string::npos);

  auto no_allow = ParseSimPolicy("groups: { staff: { reason: x } }");
  ASSERT_FALSE(no_allow.ok());
  EXPECT_NE(no_allow.status().message().find("groups.staff"), std::string::npos);

  auto bad_cidr = ParseSimPolicy("cidr_rules: [ { cidr: 300.1.1.1/8, allow: false } ]");
  ASSERT_FALSE(bad_cidr.ok());
  EXPECT_NE(bad_cidr.status().message().find("cidr_rules[0]"), std::string::npos);

  EXPECT_FALSE(ParseSimPolicy("users: { alice: { allow: maybe } }").ok());  // yaml-cpp's throw becomes a status
  EXPECT_FALSE(ParseSimPolicy("bogus: 1").ok());
  EXPECT_FALSE(ParseSimPolicy("users: [").ok());
  EXPECT_FALSE(LoadSimPolicyFile("/nonexistent/policy.yaml").ok());
}

}  // namespace
}  // namespace oa::sim
