// The helper's option parsing and environment reading, with a fake environment.
#include "ipc/helper/helper_config.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace oa::helper {
namespace {

using Env = std::map<std::string, std::string>;

const char* Lookup(void* ctx, const char* name) {
  const auto& env = *static_cast<const Env*>(ctx);
  auto it = env.find(name);
  return it == env.end() ? nullptr : it->second.c_str();
}

bool Parse(std::vector<const char*> args, Env env, HelperConfig* cfg, std::string* err) {
  args.insert(args.begin(), "ocserv-agent-auth");
  return ParseHelperConfig(static_cast<int>(args.size()), args.data(), Lookup, &env, cfg, err);
}

TEST(HelperConfig, DefaultsWithoutFlagsOrEnvironment) {
  HelperConfig cfg;
  std::string err;
  ASSERT_TRUE(Parse({}, {}, &cfg, &err)) << err;
  EXPECT_EQ(cfg.socket_path, "/run/ocserv-agent/auth.sock");
  EXPECT_EQ(cfg.timeout_ms, 5000u);
  EXPECT_EQ(cfg.on_agent_failure, OnAgentFailure::kDeny);
}

TEST(HelperConfig, EnvironmentThenFlagsWin) {
  const Env env{{"OCSERV_AGENT_SOCKET", "/tmp/a.sock"},
                {"OCSERV_AGENT_TIMEOUT", "750ms"},
                {"OCSERV_AGENT_ON_FAILURE", "allow"}};
  HelperConfig cfg;
  std::string err;
  ASSERT_TRUE(Parse({}, env, &cfg, &err)) << err;
  EXPECT_EQ(cfg.socket_path, "/tmp/a.sock");
  EXPECT_EQ(cfg.timeout_ms, 750u);
  EXPECT_EQ(cfg.on_agent_failure, OnAgentFailure::kAllow);

  ASSERT_TRUE(Parse({"--socket", "/tmp/b.sock", "--timeout=2s", "--on-agent-failure", "deny"}, env, &cfg, &err));
  EXPECT_EQ(cfg.socket_path, "/tmp/b.sock");
  EXPECT_EQ(cfg.timeout_ms, 2000u);
  EXPECT_EQ(cfg.on_agent_failure, OnAgentFailure::kDeny);
}

TEST(HelperConfig, EmptyVariableMeansUnset) {
  HelperConfig cfg;
  std::string err;
  ASSERT_TRUE(Parse({}, {{"OCSERV_AGENT_TIMEOUT", ""}, {"OCSERV_AGENT_ON_FAILURE", ""}}, &cfg, &err)) << err;
  EXPECT_EQ(cfg.timeout_ms, 5000u);
  EXPECT_EQ(cfg.on_agent_failure, OnAgentFailure::kDeny);
}

TEST(HelperConfig, BadValuesAreErrorsNamingTheSource) {
  HelperConfig cfg;
  std::string err;
  EXPECT_FALSE(Parse({}, {{"OCSERV_AGENT_ON_FAILURE", "open"}}, &cfg, &err));
  EXPECT_NE(err.find("OCSERV_AGENT_ON_FAILURE"), std::string::npos);
  EXPECT_FALSE(Parse({"--timeout", "soon"}, {}, &cfg, &err));
  EXPECT_NE(err.find("--timeout"), std::string::npos);
  EXPECT_FALSE(Parse({"--timeout"}, {}, &cfg, &err));
  EXPECT_FALSE(Parse({"--verbose"}, {}, &cfg, &err));
  ASSERT_TRUE(Parse({"--help"}, {}, &cfg, &err));
  EXPECT_TRUE(cfg.help);
}

TEST(HelperConfig, Durations) {
  std::uint32_t ms = 0;
  EXPECT_TRUE(ParseDurationMs("5s", &ms));
  EXPECT_EQ(ms, 5000u);
  EXPECT_TRUE(ParseDurationMs("5", &ms));
  EXPECT_EQ(ms, 5000u);
  EXPECT_TRUE(ParseDurationMs("250ms", &ms));
  EXPECT_EQ(ms, 250u);
  EXPECT_TRUE(ParseDurationMs("1.5s", &ms));
  EXPECT_EQ(ms, 1500u);
  EXPECT_TRUE(ParseDurationMs("2m", &ms));
  EXPECT_EQ(ms, 120000u);
  for (const char* bad : {"", "0", "0ms", "s", "-1s", "5h", "1.s", "11m", "99999999999s", "5 s"}) {
    EXPECT_FALSE(ParseDurationMs(bad, &ms)) << bad;
  }
}

TEST(HelperConfig, ListsSplitOnSpacesWithTrailingSpace) {
  EXPECT_EQ(SplitList("10.0.0.0/255.0.0.0 192.168.0.0/255.255.0.0 "),
            (std::vector<std::string>{"10.0.0.0/255.0.0.0", "192.168.0.0/255.255.0.0"}));
  EXPECT_TRUE(SplitList("").empty());
  EXPECT_TRUE(SplitList("   ").empty());
  EXPECT_EQ(SplitList("  a  b"), (std::vector<std::string>{"a", "b"}));
}

TEST(HelperConfig, BuildRequestReadsEveryVariable) {
  const Env env{{"REASON", "disconnect"},
                {"ID", "31337"},
                {"USERNAME", "alice"},
                {"GROUPNAME", "staff"},
                {"HOSTNAME", "laptop"},
                {"REMOTE_HOSTNAME", "laptop.example"},
                {"VHOST", "default"},
                {"DEVICE", "vpns0"},
                {"USER_AGENT", "Open AnyConnect VPN Agent v9.01"},
                {"DEVICE_TYPE", "linux-64"},
                {"DEVICE_PLATFORM", "linux"},
                {"IP_REAL", "192.0.2.7"},
                {"IP_REAL_LOCAL", "192.0.2.1"},
                {"IP_LOCAL", "10.10.0.1"},
                {"IP_REMOTE", "10.10.0.99"},
                {"IPV6_LOCAL", "fd00::1"},
                {"IPV6_REMOTE", "fd00::99"},
                {"IPV6_PREFIX", "128"},
                {"OCSERV_ROUTES", "10.0.0.0/255.0.0.0 fd01::/64 "},
                {"OCSERV_ROUTES4", "10.0.0.0/255.0.0.0 "},
                {"OCSERV_ROUTES6", "fd01::/64 "},
                {"OCSERV_NO_ROUTES", "192.168.5.0/255.255.255.0 "},
                {"OCSERV_NO_ROUTES4", "192.168.5.0/255.255.255.0 "},
                {"OCSERV_NO_ROUTES6", ""},
                {"OCSERV_DNS", "10.0.0.53 fd01::53 "},
                {"OCSERV_DNS4", "10.0.0.53 "},
                {"OCSERV_DNS6", "fd01::53 "},
                {"OCSERV_RESTRICT_TO_ROUTES", "1"},
                {"OCSERV_ALLOW_PORTS", "tcp 443 udp 53 "},
                {"OCSERV_DENY_PORTS", "icmp "},
                {"STATS_BYTES_IN", "1234567890123"},
                {"STATS_BYTES_OUT", "42"},
                {"STATS_DURATION", "61"}};
  IpcRequest q;
  BuildRequestFromEnv(Lookup, const_cast<Env*>(&env), &q);
  EXPECT_EQ(q.reason, IpcReason::kDisconnect);
  EXPECT_EQ(q.id, "31337");
  EXPECT_EQ(q.username, "alice");
  EXPECT_EQ(q.groupname, "staff");
  EXPECT_EQ(q.hostname, "laptop");
  EXPECT_EQ(q.remote_hostname, "laptop.example");
  EXPECT_EQ(q.vhost, "default");
  EXPECT_EQ(q.device, "vpns0");
  EXPECT_EQ(q.user_agent, "Open AnyConnect VPN Agent v9.01");
  EXPECT_EQ(q.device_type, "linux-64");
  EXPECT_EQ(q.device_platform, "linux");
  EXPECT_EQ(q.ip_real, "192.0.2.7");
  EXPECT_EQ(q.ip_real_local, "192.0.2.1");
  EXPECT_EQ(q.ip_local, "10.10.0.1");
  EXPECT_EQ(q.ip_remote, "10.10.0.99");
  EXPECT_EQ(q.ipv6_local, "fd00::1");
  EXPECT_EQ(q.ipv6_remote, "fd00::99");
  EXPECT_EQ(q.ipv6_prefix, "128");
  EXPECT_EQ(q.routes, (std::vector<std::string>{"10.0.0.0/255.0.0.0", "fd01::/64"}));
  EXPECT_EQ(q.routes4, (std::vector<std::string>{"10.0.0.0/255.0.0.0"}));
  EXPECT_EQ(q.routes6, (std::vector<std::string>{"fd01::/64"}));
  EXPECT_EQ(q.no_routes, (std::vector<std::string>{"192.168.5.0/255.255.255.0"}));
  EXPECT_EQ(q.no_routes4, (std::vector<std::string>{"192.168.5.0/255.255.255.0"}));
  EXPECT_TRUE(q.no_routes6.empty());
  EXPECT_EQ(q.dns, (std::vector<std::string>{"10.0.0.53", "fd01::53"}));
  EXPECT_EQ(q.dns4, (std::vector<std::string>{"10.0.0.53"}));
  EXPECT_EQ(q.dns6, (std::vector<std::string>{"fd01::53"}));
  EXPECT_EQ(q.restrict_to_routes, "1");
  EXPECT_EQ(q.allow_ports, (std::vector<std::string>{"tcp", "443", "udp", "53"}));
  EXPECT_EQ(q.deny_ports, (std::vector<std::string>{"icmp"}));
  EXPECT_EQ(q.stats_bytes_in, 1234567890123u);
  EXPECT_EQ(q.stats_bytes_out, 42u);
  EXPECT_EQ(q.stats_duration, 61u);
}

TEST(HelperConfig, MissingVariablesAreEmptyAndBadBytesAreReplaced) {
  Env env{{"REASON", "connect"}, {"USERNAME", "b\xffob"}, {"STATS_BYTES_IN", "12x"}};
  IpcRequest q;
  BuildRequestFromEnv(Lookup, &env, &q);
  EXPECT_EQ(q.reason, IpcReason::kConnect);
  EXPECT_EQ(q.username, "b?ob");
  EXPECT_TRUE(q.groupname.empty());
  EXPECT_TRUE(q.routes.empty());
  EXPECT_EQ(q.stats_bytes_in, 0u);
  env["REASON"] = "reboot";
  BuildRequestFromEnv(Lookup, &env, &q);
  EXPECT_EQ(q.reason, IpcReason::kUnspecified);
}

}  // namespace
}  // namespace oa::helper
