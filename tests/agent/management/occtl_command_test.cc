#include "agent/management/occtl_command.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

using Args = std::vector<std::string>;

TEST(OcctlCommand, PortalStyleAndWordsStyleAreEquivalent) {
  auto a = ParseOcctlCommand("occtl", {"show", "user", "alice"});
  auto b = ParseOcctlCommand("show user", {"alice"});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->words, b->words);
  EXPECT_EQ(a->params, b->params);
  EXPECT_EQ(a->Name(), "show user");
}

TEST(OcctlCommand, EveryAllowListedCommandParses) {
  const std::vector<Args> ok = {
      {"show", "users"},      {"show", "status"},         {"show", "stats"},           {"show", "iroutes"},
      {"show", "ip", "bans"}, {"show", "ip", "ban", "points"}, {"show", "user", "bob@example.com"},
      {"show", "id", "4242"}, {"show", "sessions", "all"}, {"show", "sessions", "valid"},
      {"show", "session", "eRnF-mY_+"}, {"disconnect", "user", "alice"}, {"disconnect", "id", "17"},
      {"unban", "ip", "192.0.2.1"}, {"unban", "ip", "2001:db8::1"}, {"reload"}};
  for (const auto& args : ok) EXPECT_TRUE(ParseOcctlCommand("occtl", args).ok()) << args[0] << " " << args.back();
}

TEST(OcctlCommand, ArgvHasSocketJsonAndNoShell) {
  OcservOptions o;
  o.occtl_path = "/usr/bin/occtl";
  o.occtl_socket = "/run/ocserv/occtl.socket";
  auto show = ParseOcctlCommand("occtl", {"show", "users"});
  ASSERT_TRUE(show.ok());
  EXPECT_EQ(OcctlArgv(o, *show), (Args{"/usr/bin/occtl", "-s", "/run/ocserv/occtl.socket", "-j", "show", "users"}));
  auto disc = ParseOcctlCommand("occtl", {"disconnect", "id", "17"});
  ASSERT_TRUE(disc.ok());
  EXPECT_EQ(OcctlArgv(o, *disc), (Args{"/usr/bin/occtl", "-s", "/run/ocserv/occtl.socket", "disconnect", "id", "17"}));
}

TEST(OcctlCommand, InjectionAttemptsAreRefused) {
  const std::vector<std::pair<std::string, Args>> bad = {
      {"occtl", {"show", "user", "alice;reboot"}},
      {"occtl", {"show", "user", "alice|cat"}},
      {"occtl", {"show", "user", "$(reboot)"}},
      {"occtl", {"show", "user", "`reboot`"}},
      {"occtl", {"show", "user", "alice\nreload"}},
      {"occtl", {"show", "user", "alice\r"}},
      {"occtl", {"show", "user", std::string("al\0ice", 6)}},
      {"occtl", {"show", "user", "--help"}},
      {"occtl", {"-s", "/tmp/evil.sock", "show", "users"}},
      {"occtl", {"show", "user", "../etc/passwd"}},
      {"occtl", {"show", "user", std::string(10 * 1024, 'a')}},
      {"occtl", {"show", "user", "al ice"}},
      {"occtl", {"show", "user", "a&b"}},
      {"occtl", {"show", "user", "a>b"}},
      {"occtl", {"stop", "now"}},
      {"occtl", {"show", "events"}},
      {"occtl", {"show", "users", "extra"}},
      {"occtl", {"show", "user"}},
      {"occtl", {"disconnect", "id", "12a"}},
      {"occtl", {"disconnect", "id", "99999999999"}},
      {"occtl", {"unban", "ip", "1.2.3.4.5"}},
      {"occtl", {"unban", "ip", "localhost"}},
      {"occtl", {"show", "sessions", "some"}},
      {"occtl", {}},
      {"", {}},
      {"bash", {"-c", "id"}},
      {"systemctl", {"restart", "ocserv"}},
      {"show users;reboot", {}},
      {"show  users", {"x"}},
  };
  for (const auto& [type, args] : bad) {
    const auto r = ParseOcctlCommand(type, args);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << type << " / " << (args.empty() ? "" : args.back().substr(0, 40));
  }
}

TEST(OcctlCommand, RefusalDoesNotEchoHugeArgument) {
  const auto r = ParseOcctlCommand("occtl", {"show", "user", std::string(10 * 1024, 'a')});
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 200u);
}

TEST(OcctlCommand, Validators) {
  EXPECT_TRUE(ValidateOcctlUsername("first.last+vpn@example.com").ok());
  EXPECT_FALSE(ValidateOcctlUsername(".hidden").ok());
  EXPECT_FALSE(ValidateOcctlUsername("-x").ok());
  EXPECT_FALSE(ValidateOcctlUsername("a/b").ok());
  EXPECT_FALSE(ValidateOcctlUsername("").ok());
  EXPECT_TRUE(ValidateOcctlId("0").ok());
  EXPECT_FALSE(ValidateOcctlId("-1").ok());
  EXPECT_TRUE(ValidateOcctlIp("::ffff:192.0.2.1").ok());
  EXPECT_FALSE(ValidateOcctlIp("192.0.2.1/24").ok());
  EXPECT_FALSE(ValidateOcctlSessionId("a/b").ok());
}

}  // namespace
}  // namespace oa
