// Live enforcement with real processes (label integration): the real agent, the reference portal serving PolicyWatch
// over mTLS, the real helper, and tests/fakes/fake_occtl.sh as occtl. A policy reload that turns alice from allow to
// deny makes the portal publish a Revoke; the agent must end her live sessions through occtl (also the one it only
// knows from `occtl show users` at start) and must not admit her from its cache afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.h"
#include "temp_dir.h"

namespace oa::integration {
namespace {

using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits (bounded) for something that crosses process boundaries.
template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = 15s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class EnforcementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    occtl_ = dir_.path() + "/occtl";
    std::filesystem::copy_file(std::string(OA_SOURCE_DIR) + "/tests/fakes/fake_occtl.sh", occtl_);
    std::filesystem::permissions(occtl_, std::filesystem::perms::owner_all);
  }
  void Start(std::vector<std::string> sim_flags = {"--heartbeat-ms", "1000"}) {
    SimProcess::Options o;
    o.policy_yaml = "users:\n  alice: { allow: true }\n  bob: { allow: true }\n";
    o.extra_flags = std::move(sim_flags);
    auto sim = SimProcess::Start(dir_.path(), std::move(o));
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = *std::move(sim);
    AgentSettings s;
    s.portal_address = sim_->address();
    s.extra_yaml = "ocserv:\n  occtl_path: " + occtl_ + "\n  occtl_socket: " + dir_.path() +
                   "/occtl.socket\n  disconnect_command: disconnect\n"
                   // One occtl at a time: fake_occtl.sh appends its argv line by line, concurrent runs would interleave.
                   "enforcement:\n  disconnect_concurrency: 1\n";
    auto agent = AgentProcess::Start(dir_.path(), s);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
  }
  std::string OcctlCalls() { return ReadFile(occtl_ + ".calls"); }
  void TearDown() override {
    if (agent_) {
      EXPECT_EQ(agent_->Stop(), 0);
      if (HasFailure()) std::cerr << "---- agent log ----\n" << agent_->Log();
    }
  }

  testing::TempDir dir_;
  std::string occtl_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(EnforcementTest, PortalRevocationDisconnectsLiveSessionsAndTheCacheNoLongerAdmits) {
  Start();
  // The registry was rebuilt from `occtl show users` at start (alice 1234, bob 1300).
  ASSERT_TRUE(Eventually([&] { return OcctlCalls().find("show\nusers") != std::string::npos; })) << OcctlCalls();
  ConnectEnv env;
  env.username = "alice";
  env.id = "4242";
  ASSERT_EQ(RunHelper(agent_->socket_path(), env).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return agent_->CountLogLines("policy stream to") > 0; })) << agent_->Log();

  ASSERT_TRUE(sim_->ReplacePolicy("users:\n  alice: { allow: false, reason: \"account locked\" }\n  bob: { allow: true }\n")
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    const std::string calls = OcctlCalls();
    return calls.find("disconnect\nid\n4242") != std::string::npos &&
           calls.find("disconnect\nid\n1234") != std::string::npos;
  })) << OcctlCalls();
  EXPECT_EQ(OcctlCalls().find("disconnect\nid\n1300"), std::string::npos) << "bob is not touched";
  EXPECT_TRUE(Eventually([&] { return agent_->CountLogLines("forced disconnect: session") == 2; })) << agent_->Log();
  EXPECT_EQ(agent_->CountLogLines("revocation in force: user alice"), 1);
  // Both forced disconnects are recorded in the session-event outbox and reach the portal as ReportDisconnect.
  EXPECT_TRUE(Eventually([&] {
    auto stats = sim_->Stats();
    return stats.ok() && stats->calls("ReportDisconnect") == 2;
  })) << agent_->Log();

  // Her cached Allow (5 min) is not used: the portal is asked and says no.
  const HelperRun again = RunHelper(agent_->socket_path(), env);
  EXPECT_NE(again.exit_code, 0);
  auto rec = agent_->DecisionOf(again.pid, 2s);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->source, "portal");
  EXPECT_EQ(rec->verdict, "deny");
}

TEST_F(EnforcementTest, PortalWithoutPolicyWatchIsLoggedOnceAndDecisionsFlow) {
  Start({"--no-policy-watch"});
  ASSERT_TRUE(Eventually([&] { return agent_->CountLogLines("does not serve ocserv_agent.v1.PolicyWatch") == 1; }))
      << agent_->Log();
  ConnectEnv env;
  env.username = "alice";
  EXPECT_EQ(RunHelper(agent_->socket_path(), env).exit_code, 0);
}

TEST_F(EnforcementTest, UnreachableOcctlIsLoggedAndDecisionsFlow) {
  std::ofstream(occtl_ + ".mode") << "fail";
  Start();
  ASSERT_TRUE(Eventually([&] { return agent_->CountLogLines("reconciliation with occtl failed") == 1; }))
      << agent_->Log();
  ConnectEnv env;
  env.username = "alice";
  EXPECT_EQ(RunHelper(agent_->socket_path(), env).exit_code, 0);
}

}  // namespace
}  // namespace oa::integration
