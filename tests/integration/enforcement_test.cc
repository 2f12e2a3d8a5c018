// Live enforcement with real processes (label integration): the real agent, the reference portal serving PolicyWatch
// over mTLS, the real helper, and tests/fakes/fake_occtl.sh as occtl. A policy reload that turns alice from allow to
// deny makes the portal publish a Revoke; the agent must end her live sessions through occtl (also the one it only
// knows from `occtl show users` at start) and must not admit her from its cache afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
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
  void Start(std::vector<std::string> sim_flags = {"--heartbeat-ms", "1000"},
             std::string policy_yaml = "users:\n  alice: { allow: true }\n  bob: { allow: true }\n",
             std::function<void(AgentSettings&)> adjust = {}) {
    SimProcess::Options o;
    o.policy_yaml = std::move(policy_yaml);
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
    if (adjust) adjust(s);
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
  // ocserv then runs its disconnect-script for each: that one disconnect per session reaches the portal (with the
  // revocation's reason, docs/portal-wire.md), not a second one from the agent.
  for (const char* id : {"4242", "1234"}) {
    ConnectEnv gone = env;
    gone.reason = "disconnect";
    gone.id = id;
    EXPECT_EQ(RunHelper(agent_->socket_path(), gone).exit_code, 0);
  }
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

// Issue 11's re-check triggers at the daemon level: sessions admitted by fail-open while the portal was down are
// re-validated once it is back — (a) when the circuit breaker closes, (b) when the policy stream reconnects — paced
// at enforcement.recheck_rate, and those the portal now refuses are disconnected through occtl.
class RecheckTriggerTest : public EnforcementTest {
 protected:
  static constexpr int kRate = 2;  // enforcement.recheck_rate
  static constexpr const char* kPolicy =
      "users:\n  alice: { allow: true }\n  bob: { allow: true }\n  probe: { allow: true }\n"
      "  ok1: { allow: true }\n  ok2: { allow: true }\n"
      "  gone1: { allow: false, reason: \"contract ended\" }\n  gone2: { allow: false, reason: \"contract ended\" }\n";

  static std::string AgentYaml(bool watch, const std::string& occtl, const std::string& dir) {
    return "ocserv:\n  occtl_path: " + occtl + "\n  occtl_socket: " + dir +
           "/occtl.socket\n  disconnect_command: disconnect\n"
           "enforcement:\n  disconnect_concurrency: 1\n  recheck_rate: " + std::to_string(kRate) +
           "\n  watch: " + (watch ? "true" : "false") + "\n";
  }

  // Admits one session per user while the portal is down: fail-open answers them.
  void ConnectDuringOutage(const std::vector<std::string>& users, int first_id) {
    for (std::size_t i = 0; i < users.size(); ++i) {
      ConnectEnv env;
      env.username = users[i];
      env.id = std::to_string(first_id + static_cast<int>(i));
      const HelperRun run = RunHelper(agent_->socket_path(), env);
      ASSERT_EQ(run.exit_code, 0) << users[i];
      auto rec = agent_->DecisionOf(run.pid, 5s);
      ASSERT_TRUE(rec.has_value());
      ASSERT_EQ(rec->source, "fail_open") << rec->line;
    }
  }

  // Waits for the re-checks the log line announces for `why`, and checks all along that no more ValidateSession
  // calls have reached the portal than the rate allows since `t0` (taken before the portal came back; the n-th
  // re-check cannot start before trigger + (n-1)/rate, so this bound holds however slow the machine is).
  void ExpectPacedRechecks(const std::string& why, std::chrono::steady_clock::time_point t0, int expected) {
    ASSERT_TRUE(Eventually([&] { return agent_->CountLogLines("session(s) (" + why) == 1; }, 30s)) << agent_->Log();
    EXPECT_EQ(agent_->CountLogLines("re-check of " + std::to_string(expected) + " session(s) (" + why), 1)
        << agent_->Log();
    std::uint64_t seen = 0;
    bool within_rate = true;
    ASSERT_TRUE(Eventually(
        [&] {
          auto stats = sim_->Stats();
          const auto after = std::chrono::steady_clock::now();
          if (!stats.ok()) return false;
          seen = stats->calls("ValidateSession");
          const double allowed = 1 + kRate * std::chrono::duration<double>(after - t0).count();
          if (static_cast<double>(seen) > allowed) within_rate = false;
          return seen >= static_cast<std::uint64_t>(expected);
        },
        30s))
        << "ValidateSession calls: " << seen << "\n" << agent_->Log();
    EXPECT_TRUE(within_rate) << "more re-checks than recheck_rate allows";
    EXPECT_EQ(seen, static_cast<std::uint64_t>(expected));
    // The two the portal now refuses are ended through occtl (cause recheck); the others stay.
    EXPECT_TRUE(Eventually([&] { return agent_->CountLogLines("cause recheck") == 2; })) << agent_->Log();
    const std::string calls = OcctlCalls();
    EXPECT_NE(calls.find("disconnect\nid\n7001"), std::string::npos) << calls;
    EXPECT_NE(calls.find("disconnect\nid\n7002"), std::string::npos) << calls;
    EXPECT_EQ(calls.find("disconnect\nid\n7003"), std::string::npos) << calls;
  }
};

TEST_F(RecheckTriggerTest, BreakerClosingAfterAnOutageRechecksFailOpenSessionsAtTheRate) {
  Start({"--heartbeat-ms", "1000"}, kPolicy, [this](AgentSettings& s) {
    s.fail_mode = "fail-open";
    s.failure_threshold = 1;
    s.open_timeout = "500ms";
    s.max_open_timeout = "1s";
    s.extra_yaml = AgentYaml(/*watch=*/false, occtl_, dir_.path());
  });
  ASSERT_TRUE(sim_->Stop().ok());
  ConnectDuringOutage({"gone1", "gone2", "ok1", "ok2"}, 7001);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sim_->Restart().ok());
  // The breaker closes on the first call that reaches the portal after its open timeout; until then each probe
  // is admitted by fail-open too (and joins the re-check).
  int probes = 0;
  ASSERT_TRUE(Eventually(
      [&] {
        ConnectEnv env;
        env.username = "probe";
        env.id = std::to_string(7100 + probes++);
        const HelperRun run = RunHelper(agent_->socket_path(), env);
        auto rec = agent_->DecisionOf(run.pid, 5s);
        if (rec && rec->source == "portal") {
          --probes;  // this one was admitted by the portal: not re-checked
          return true;
        }
        std::this_thread::sleep_for(100ms);
        return false;
      },
      30s))
      << agent_->Log();
  ExpectPacedRechecks("circuit breaker closed", t0, 4 + probes);
}

TEST_F(RecheckTriggerTest, PolicyStreamReconnectingRechecksFailOpenSessionsAtTheRate) {
  Start({"--heartbeat-ms", "500"}, kPolicy, [this](AgentSettings& s) {
    s.fail_mode = "fail-open";
    s.failure_threshold = 1000;  // the breaker never opens: only the stream can trigger the re-check
    s.extra_yaml = AgentYaml(/*watch=*/true, occtl_, dir_.path());
  });
  ASSERT_TRUE(Eventually([&] { return agent_->CountLogLines("policy stream to") > 0; })) << agent_->Log();
  ASSERT_TRUE(sim_->Stop().ok());
  ConnectDuringOutage({"gone1", "gone2", "ok1", "ok2"}, 7001);
  EXPECT_EQ(agent_->CountLogLines("circuit breaker closed -> open"), 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sim_->Restart().ok());
  ExpectPacedRechecks("policy stream reconnected", t0, 4);
  EXPECT_EQ(agent_->CountLogLines("circuit breaker closed: the portal is back"), 0);
}

// Issue 11: a stale-mode user after the policy stream reconnects while the breaker is open. The restarted portal
// cannot resume the stream (Resync: every cached decision dropped, stale ones included); the stream's first message
// moves the open breaker to half-open at once, so alice is answered by the portal instead of refused by the fallback
// for the rest of the 60 s open timeout.
TEST_F(RecheckTriggerTest, PolicyStreamReconnectingLetsTheNextDecisionProbeAnOpenBreaker) {
  Start({"--heartbeat-ms", "500"}, "users:\n  alice: { allow: true, ttl: 1 }\n  bob: { allow: true }\n",
        [this](AgentSettings& s) {
          s.fail_mode = "fail-stale";
          s.stale_fallback = "close";
          s.failure_threshold = 1;
          s.open_timeout = "60s";  // without the stream's help the breaker would refuse for a minute
          s.max_open_timeout = "120s";
          s.extra_yaml = AgentYaml(/*watch=*/true, occtl_, dir_.path());
        });
  ASSERT_TRUE(Eventually([&] { return agent_->CountLogLines("policy stream to") > 0; })) << agent_->Log();
  ConnectEnv env;
  env.username = "alice";
  env.id = "7201";
  HelperRun run = RunHelper(agent_->socket_path(), env);
  ASSERT_EQ(run.exit_code, 0);
  ASSERT_EQ(agent_->DecisionOf(run.pid, 5s).value_or(AuditRecord{}).source, "portal") << agent_->Log();
  // One applied event, so that the restarted portal (which no longer holds it) must answer the resume with Resync.
  ASSERT_TRUE(sim_->ReplacePolicy("users:\n  alice: { allow: true, ttl: 1 }\n  bob: { allow: false }\n").ok());
  ASSERT_TRUE(Eventually([&] { return agent_->CountLogLines("revocation in force: user bob") == 1; })) << agent_->Log();

  std::this_thread::sleep_for(1500ms);  // alice's verdict (portal TTL 1 s, +-10 %) is no longer fresh, only stale
  ASSERT_TRUE(sim_->Stop().ok());
  env.id = "7202";
  run = RunHelper(agent_->socket_path(), env);
  ASSERT_EQ(run.exit_code, 0);
  ASSERT_EQ(agent_->DecisionOf(run.pid, 5s).value_or(AuditRecord{}).source, "stale") << agent_->Log();
  ASSERT_EQ(agent_->CountLogLines("circuit breaker closed -> open"), 1) << agent_->Log();

  ASSERT_TRUE(sim_->Restart().ok());
  ASSERT_TRUE(Eventually([&] { return agent_->CountLogLines("resync (the portal could not resume") == 1; }, 30s))
      << agent_->Log();
  EXPECT_EQ(agent_->CountLogLines("circuit breaker open -> half_open (portal reachable again"), 1) << agent_->Log();
  EXPECT_EQ(agent_->CountLogLines("policy stream reconnected while the circuit breaker was open"), 1);
  env.id = "7203";
  run = RunHelper(agent_->socket_path(), env);
  EXPECT_EQ(run.exit_code, 0) << "refused: the stale verdict is gone and the breaker still open?\n" << agent_->Log();
  const auto rec = agent_->DecisionOf(run.pid, 5s);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->source, "portal") << rec->line;
  EXPECT_EQ(agent_->CountLogLines("circuit breaker half_open -> closed"), 1) << agent_->Log();
}

}  // namespace
}  // namespace oa::integration
