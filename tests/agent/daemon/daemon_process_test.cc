// Runs the real ocserv-agent binary: command line, --check-config exit codes and output, start-up, SIGHUP with a
// bad and with a good file, SIGTERM/SIGINT, and what it tells systemd through NOTIFY_SOCKET.
#include <signal.h>

#include <filesystem>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "child_process.h"
#include "config_files.h"
#include "notify_socket.h"
#include "temp_dir.h"

namespace oa::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr auto kWait = 10s;  // generous bound for a loaded CI machine; each wait returns as soon as it is met

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A config the daemon can run on here: sockets under the temp dir, nothing listening on fixed ports.
std::string DaemonConfig(const TempDir& dir, const std::string& id, const std::string& extra_logging = "") {
  return TestConfigYaml({{"agent", "  id: " + id + "\n  shutdown_grace: 2s\n"},
                         {"ipc", "  socket_path: " + (dir / "auth.sock") + "\n"},
                         {"management", "  enabled: false\n"},
                         {"metrics", "  enabled: false\n"},
                         {"logging", "  level: info\n" + extra_logging}});
}

class DaemonProcessTest : public ::testing::Test {
 protected:
  // The daemon starts its portal client, which loads the certificates: they must be real ones.
  DaemonProcessTest() { EXPECT_TRUE(WriteDevPki(dir_, OA_SOURCE_DIR, OA_TEST_PKI_CACHE)); }

  std::optional<int> Run(std::vector<std::string> args, std::string* out, std::string* err) {
    args.insert(args.begin(), OA_AGENT_BINARY);
    return ChildProcess::Run(args, dir_ / "run", out, err);
  }
  std::unique_ptr<ChildProcess> Start(const std::string& config, const std::vector<std::string>& env) {
    return std::make_unique<ChildProcess>(std::vector<std::string>{OA_AGENT_BINARY, "-c", config}, env,
                                          dir_ / "daemon");
  }

  TempDir dir_;
};

TEST_F(DaemonProcessTest, VersionHelpAndBadArguments) {
  std::string out, err;
  EXPECT_EQ(Run({"--version"}, &out, &err), 0);
  EXPECT_EQ(out, "ocserv-agent " OA_VERSION "\n");
  EXPECT_EQ(Run({"--help"}, &out, &err), 0);
  EXPECT_THAT(out, HasSubstr("--check-config"));
  EXPECT_EQ(Run({"--frobnicate"}, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("unknown argument '--frobnicate'"));
}

TEST_F(DaemonProcessTest, CheckConfigAcceptsTheExample) {
  std::filesystem::copy_file(OA_SOURCE_DIR "/config.yaml.example", dir_ / "config.yaml");
  std::string out, err;
  EXPECT_EQ(Run({"--check-config", "-c", dir_ / "config.yaml"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("configuration is valid"));
  EXPECT_EQ(err, "");
}

TEST_F(DaemonProcessTest, CheckConfigWithFiveMistakesPrintsFiveMessagesAndExits1) {
  std::string path = dir_.WriteFile("five.yaml",
                                    "ipc:\n"
                                    "  decision_timeout: 3x\n"
                                    "  max_frame_bytes: 10\n"
                                    "  colour: blue\n"
                                    "resilience:\n"
                                    "  fail_mode: sometimes\n"
                                    "logging:\n"
                                    "  level: loud\n" +
                                        TestConfigYaml());
  std::string out, err;
  EXPECT_EQ(Run({"--check-config", "-c", path}, &out, &err), 1);
  auto lines = Lines(err);
  ASSERT_EQ(lines.size(), 5u) << err;
  const char* keys[] = {"ipc.decision_timeout (line 2)", "ipc.max_frame_bytes (line 3)", "ipc.colour (line 4)",
                        "resilience.fail_mode (line 6)", "logging.level (line 8)"};
  for (std::size_t i = 0; i < 5; ++i) EXPECT_THAT(lines[i], HasSubstr(keys[i]));
  EXPECT_THAT(out, HasSubstr("NOT valid (5 problems)"));
}

TEST_F(DaemonProcessTest, CheckConfigGivesOneClearMessageForFilesThatAreNoConfig) {
  ::mkdir((dir_ / "a-dir").c_str(), 0755);
  const std::pair<std::string, std::string> cases[] = {
      {dir_ / "missing.yaml", "does not exist"},
      {dir_ / "a-dir", "is a directory"},
      {dir_.WriteFile("empty.yaml", ""), "is empty"},
      {dir_.WriteFile("broken.yaml", "portal: {address: [\n"), "not valid YAML"},
      {dir_.WriteFile("prose.yaml", "Dear operator, please allow everyone.\n"), "not a YAML mapping"},
  };
  for (const auto& [path, expected] : cases) {
    std::string out, err;
    EXPECT_EQ(Run({"--check-config", "-c", path}, &out, &err), 1) << path;
    auto lines = Lines(err);
    ASSERT_EQ(lines.size(), 1u) << err;
    EXPECT_THAT(lines[0], HasSubstr(expected));
    EXPECT_THAT(err, Not(HasSubstr("terminate")));
  }
}

TEST_F(DaemonProcessTest, RefusesToStartOnAnInvalidConfig) {
  std::string path = dir_.WriteFile("bad.yaml", TestConfigYaml({{"resilience", "  fail_mode: maybe\n"}}));
  std::string out, err;
  EXPECT_EQ(Run({"-c", path}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("resilience.fail_mode"));
  EXPECT_THAT(err, HasSubstr("not starting"));
}

TEST_F(DaemonProcessTest, ReportsReadyAndStopsCleanlyOnSigterm) {
  NotifySocket notify(dir_ / "notify.sock");
  std::string config = dir_.WriteFile("config.yaml", DaemonConfig(dir_, "first"));
  auto daemon = Start(config, {notify.env()});
  auto ready = notify.WaitFor("READY=1", kWait);
  ASSERT_TRUE(ready) << daemon->Stderr();
  EXPECT_THAT(*ready, HasSubstr("agent id first; config generation 1"));
  daemon->Signal(SIGTERM);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", kWait));
  EXPECT_EQ(daemon->WaitExit(kWait), 0) << daemon->Stderr();
}

TEST_F(DaemonProcessTest, StopsCleanlyOnSigintWithoutSystemd) {
  std::string config = dir_.WriteFile("config.yaml", DaemonConfig(dir_, "first"));
  auto daemon = Start(config, {});
  ASSERT_TRUE(daemon->WaitForStderr("ready", kWait)) << daemon->Stderr();
  daemon->Signal(SIGINT);
  EXPECT_EQ(daemon->WaitExit(kWait), 0) << daemon->Stderr();
}

TEST_F(DaemonProcessTest, SighupWithAGoodFileMakesTheNewConfigLive) {
  NotifySocket notify(dir_ / "notify.sock");
  std::string config = dir_.WriteFile("config.yaml", DaemonConfig(dir_, "first"));
  auto daemon = Start(config, {notify.env()});
  ASSERT_TRUE(notify.WaitFor("READY=1", kWait)) << daemon->Stderr();

  dir_.WriteFile("config.yaml", DaemonConfig(dir_, "second", "  format: json\n"));
  daemon->Signal(SIGHUP);
  ASSERT_TRUE(notify.WaitFor("RELOADING=1", kWait));
  auto ready = notify.WaitFor("READY=1", kWait);
  ASSERT_TRUE(ready);
  EXPECT_THAT(*ready, HasSubstr("agent id second; config generation 2"));
  EXPECT_THAT(*ready, HasSubstr("reloads applied 1, rejected 0"));

  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->WaitExit(kWait), 0);
  // The new logging format is live too: what it logged after the reload is JSON lines.
  auto lines = Lines(daemon->Stderr());
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.back(), ::testing::StartsWith("{\"time\":"));
  EXPECT_THAT(lines.back(), HasSubstr("\"msg\":\"stopped\""));
}

TEST_F(DaemonProcessTest, SighupWithABadFileKeepsTheRunningConfigAndLogsEveryProblem) {
  NotifySocket notify(dir_ / "notify.sock");
  std::string config = dir_.WriteFile("config.yaml", DaemonConfig(dir_, "first"));
  auto daemon = Start(config, {notify.env()});
  ASSERT_TRUE(notify.WaitFor("READY=1", kWait)) << daemon->Stderr();

  dir_.WriteFile("config.yaml", "agent:\n  id: broken\n  colour: red\nipc:\n  read_timeout: soon\n" +
                                    TestConfigYaml({{"resilience", "  fail_mode: whatever\n"}}));
  daemon->Signal(SIGHUP);
  ASSERT_TRUE(notify.WaitFor("RELOADING=1", kWait));
  auto ready = notify.WaitFor("READY=1", kWait);
  ASSERT_TRUE(ready);
  EXPECT_THAT(*ready, HasSubstr("agent id first; config generation 1"));
  EXPECT_THAT(*ready, HasSubstr("reloads applied 0, rejected 1"));
  std::string err = daemon->Stderr();
  EXPECT_THAT(err, HasSubstr("reload rejected: " + config + ": agent.colour (line 3)"));
  EXPECT_THAT(err, HasSubstr("reload rejected: " + config + ": ipc.read_timeout (line 5)"));
  EXPECT_THAT(err, HasSubstr("reload rejected: " + config + ": resilience.fail_mode"));

  // Still alive and still reloadable: fixing the file and sending SIGHUP again applies it.
  dir_.WriteFile("config.yaml", DaemonConfig(dir_, "fixed"));
  daemon->Signal(SIGHUP);
  ready = notify.WaitFor("READY=1", kWait);
  ASSERT_TRUE(ready);
  EXPECT_THAT(*ready, HasSubstr("agent id fixed; config generation 2"));

  daemon->Signal(SIGTERM);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", kWait));
  EXPECT_EQ(daemon->WaitExit(kWait), 0) << daemon->Stderr();
}

TEST_F(DaemonProcessTest, SighupWhenTheFileWasRemovedKeepsRunning) {
  NotifySocket notify(dir_ / "notify.sock");
  std::string config = dir_.WriteFile("config.yaml", DaemonConfig(dir_, "first"));
  auto daemon = Start(config, {notify.env()});
  ASSERT_TRUE(notify.WaitFor("READY=1", kWait)) << daemon->Stderr();
  std::filesystem::remove(config);
  daemon->Signal(SIGHUP);
  auto ready = notify.WaitFor("READY=1", kWait);
  ASSERT_TRUE(ready);
  EXPECT_THAT(*ready, HasSubstr("config generation 1"));
  EXPECT_THAT(daemon->Stderr(), HasSubstr("does not exist"));
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->WaitExit(kWait), 0);
}

}  // namespace
}  // namespace oa::testing
