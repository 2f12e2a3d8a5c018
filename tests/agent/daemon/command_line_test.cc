#include "agent/daemon/command_line.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

absl::StatusOr<CommandLine> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "ocserv-agent");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

TEST(CommandLineTest, DefaultsToRunningOnTheSystemConfig) {
  auto cl = Parse({});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->action, CommandLine::Action::kRun);
  EXPECT_EQ(cl->config_path, "/etc/ocserv-agent/config.yaml");
}

TEST(CommandLineTest, ReadsEveryOption) {
  EXPECT_EQ(Parse({"-c", "a.yaml"})->config_path, "a.yaml");
  EXPECT_EQ(Parse({"--config", "b.yaml"})->config_path, "b.yaml");
  EXPECT_EQ(Parse({"--config=c.yaml"})->config_path, "c.yaml");
  auto check = Parse({"--check-config", "-c", "d.yaml"});
  EXPECT_EQ(check->action, CommandLine::Action::kCheckConfig);
  EXPECT_EQ(check->config_path, "d.yaml");
  EXPECT_EQ(Parse({"--version"})->action, CommandLine::Action::kVersion);
  EXPECT_EQ(Parse({"--help"})->action, CommandLine::Action::kHelp);
  EXPECT_EQ(Parse({"--check-config", "--help"})->action, CommandLine::Action::kHelp);
}

TEST(CommandLineTest, RejectsUnknownAndIncompleteArguments) {
  EXPECT_FALSE(Parse({"--bogus"}).ok());
  EXPECT_FALSE(Parse({"-c"}).ok());
  EXPECT_FALSE(Parse({"stray"}).ok());
  EXPECT_FALSE(Parse({"--config="}).ok());
}

}  // namespace
}  // namespace oa
