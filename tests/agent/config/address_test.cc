#include "agent/config/address.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

TEST(AddressTest, AcceptsHostPortAndBracketedIpv6) {
  for (const char* ok : {"0.0.0.0:9443", "127.0.0.1:0", "localhost:9102", "[::1]:9443", "[::]:1", "a-b.c_d:65535"}) {
    EXPECT_TRUE(CheckListenAddress(ok).ok()) << ok;
  }
  EXPECT_TRUE(CheckDialAddress("portal.example.net:8443").ok());
  EXPECT_TRUE(CheckDialAddress("dns:///portal.example.net:8443").ok());
}

TEST(AddressTest, RejectsMalformedAddresses) {
  for (const char* bad : {"", "9443", ":9443", "host:", "host:65536", "host:-1", "host:port", "::1:9443",
                          "[127.0.0.1]:80", "[::1]9443", "ho st:80", "host:80x"}) {
    EXPECT_FALSE(CheckListenAddress(bad).ok()) << bad;
  }
  EXPECT_FALSE(CheckDialAddress("portal:0").ok());  // port 0 is for listening only
}

}  // namespace
}  // namespace oa
