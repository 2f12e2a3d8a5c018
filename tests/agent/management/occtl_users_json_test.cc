#include "agent/management/occtl_users_json.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

TEST(OcctlUsersJson, ParsesUsers) {
  ocserv_agent::v1::ListSessionsResponse out;
  const auto st = ParseOcctlUsersJson(R"([
    {"ID": 1234, "Username": "alice", "Groupname": "staff", "IPv4": "10.10.0.2", "Remote IP": "198.51.100.7",
     "User-Agent": "Open AnyConnect", "Session": "eRnFmY", "RX": "10", "_RX": "10 bytes"},
    {"ID": 1300, "Username": "bob"}
  ])", &out);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(out.sessions_size(), 2);
  EXPECT_EQ(out.sessions(0).id(), "1234");
  EXPECT_EQ(out.sessions(0).username(), "alice");
  EXPECT_EQ(out.sessions(0).groupname(), "staff");
  EXPECT_EQ(out.sessions(0).remote_ip(), "198.51.100.7");
  EXPECT_EQ(out.sessions(0).session(), "eRnFmY");
  EXPECT_EQ(out.sessions(0).raw().at("_RX"), "10 bytes");
  EXPECT_EQ(out.sessions(1).username(), "bob");
}

TEST(OcctlUsersJson, EmptyOutputIsNoSessions) {
  ocserv_agent::v1::ListSessionsResponse out;
  EXPECT_TRUE(ParseOcctlUsersJson("  \n", &out).ok());
  EXPECT_TRUE(ParseOcctlUsersJson("[]", &out).ok());
  EXPECT_EQ(out.sessions_size(), 0);
}

TEST(OcctlUsersJson, GarbageIsAnError) {
  ocserv_agent::v1::ListSessionsResponse out;
  EXPECT_FALSE(ParseOcctlUsersJson("[{\"ID\": ", &out).ok());
  EXPECT_FALSE(ParseOcctlUsersJson("{\"ID\": 1}", &out).ok());
}

}  // namespace
}  // namespace oa
