// The whole connect path with real processes: the real `ocserv-agent-auth` helper, run as ocserv runs it, asks the
// real `ocserv-agent` daemon over its real Unix socket; the agent asks the reference portal `ocserv-portal-sim` over
// loopback mTLS. Each test starts its own portal and agent with short timeouts (harness.h). Behaviour is asserted on
// the helper's exit status (0 admit, 1 reject), the source in the agent's audit line for that helper's request, the
// helper's own stderr, and the portal's call counters (PortalSimControl).
//
// Timing assertions are bounds relative to the configured timeouts (never tight absolute times): the machine is
// shared and loaded.
#include <signal.h>

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "temp_dir.h"

namespace oa::integration {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using Ms = std::chrono::duration<double, std::milli>;

constexpr char kPolicy[] = R"(users:
  alice: { allow: true }
  bob:   { allow: false, reason: "account suspended" }
  carol: { allow: true, ttl: 0 }
)";

struct Outcome {
  int exit_code = -1;
  std::string verdict;  // from the agent's audit line ("" if there was none)
  std::string source;
  Ms elapsed{0};
  std::string helper_stderr;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "exit " << o.exit_code << ", " << o.verdict << " from " << o.source << " in " << o.elapsed.count()
            << " ms, helper said: " << o.helper_stderr;
}

class ConnectPathTest : public ::testing::Test {
 protected:
  void StartSim(const std::string& policy = kPolicy, SimProcess::Options options = {}) {
    options.policy_yaml = policy;
    auto sim = SimProcess::Start(dir_.path(), std::move(options));
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = *std::move(sim);
  }

  void StartAgent(AgentSettings settings) {
    ASSERT_NE(sim_, nullptr);
    settings.portal_address = sim_->address();
    auto agent = AgentProcess::Start(dir_.path(), settings);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
  }

  Outcome Connect(const std::string& user, const std::vector<std::string>& flags = {}) {
    ConnectEnv env;
    env.username = user;
    const HelperRun run = RunHelper(agent_->socket_path(), env, flags);
    Outcome o{run.exit_code, "", "", run.elapsed, run.stderr_text};
    if (auto rec = agent_->DecisionOf(run.pid, 1s)) {
      o.verdict = rec->verdict;
      o.source = rec->source;
    }
    return o;
  }

  // Runs `n` helpers at once (each its own thread, fork/exec as ocserv does) and returns their outcomes.
  std::vector<Outcome> ConnectConcurrently(const std::vector<std::string>& users) {
    std::vector<HelperRun> runs(users.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < users.size(); ++i) {
      threads.emplace_back([&, i] {
        ConnectEnv env;
        env.username = users[i];
        runs[i] = RunHelper(agent_->socket_path(), env);
      });
    }
    for (auto& t : threads) t.join();
    std::vector<Outcome> out;
    for (const auto& run : runs) {
      Outcome o{run.exit_code, "", "", run.elapsed, run.stderr_text};
      if (auto rec = agent_->DecisionOf(run.pid, 1s)) {
        o.verdict = rec->verdict;
        o.source = rec->source;
      }
      out.push_back(o);
    }
    return out;
  }

  std::uint64_t PortalCalls(const std::string& user) {
    auto stats = sim_->Stats();
    EXPECT_TRUE(stats.ok()) << stats.status();
    if (!stats.ok()) return 0;
    auto it = stats->check_policy_by_user.find(user);
    return it == stats->check_policy_by_user.end() ? 0 : it->second;
  }
  std::uint64_t AllPortalCalls() {
    auto stats = sim_->Stats();
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? stats->calls("CheckPolicy") : 0;
  }

  void Hang() { ASSERT_TRUE(sim_->SetFaults({.hang = true}).ok()); }

  // Agent settings whose TTLs run out within the test: a real process, so the test waits real time for them.
  static AgentSettings ShortTtls(const std::string& fail_mode) {
    AgentSettings s;
    s.fail_mode = fail_mode;
    s.allow_ttl = "800ms";
    s.deny_ttl = "800ms";
    return s;
  }
  static void WaitPastShortTtls() { std::this_thread::sleep_for(1100ms); }  // 800 ms + 10 % jitter, with margin

  void TearDown() override {
    if (agent_) {
      EXPECT_EQ(agent_->Stop(), 0) << agent_->Log();
      if (HasFailure()) std::cerr << "---- agent log ----\n" << agent_->Log();
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(ConnectPathTest, AllowFromThePortalThenFromTheCache) {
  StartSim();
  StartAgent({});

  Outcome first = Connect("alice");
  EXPECT_EQ(first.exit_code, 0) << first;
  EXPECT_EQ(first.verdict, "allow") << first;
  EXPECT_EQ(first.source, "portal") << first;
  EXPECT_EQ(first.helper_stderr, "") << "an admitted connect is silent";

  Outcome second = Connect("alice");
  EXPECT_EQ(second.exit_code, 0) << second;
  EXPECT_EQ(second.source, "cache") << second;
  EXPECT_EQ(PortalCalls("alice"), 1u);

  // The same answer straight from the socket: the response carries verdict and source.
  ConnectEnv env;
  env.username = "alice";
  auto resp = AskAgent(agent_->socket_path(), ConnectRequest(env));
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->verdict, WireVerdict::kAllow);
  EXPECT_EQ(resp->source, WireSource::kCache);
}

// vpn.v1.EventService: an admitted session is reported (ReportConnect), a denied one is not, and the disconnect
// carries ocserv's STATS_* (ReportDisconnect). Reports leave in the background, so the test waits for them.
TEST_F(ConnectPathTest, AdmittedSessionsAndTheirEndsAreReportedToThePortal) {
  StartSim();
  StartAgent({});
  EXPECT_EQ(Connect("alice").exit_code, 0);
  EXPECT_EQ(Connect("bob").exit_code, 1);

  ConnectEnv env;
  env.username = "alice";
  IpcRequest bye = ConnectRequest(env);
  bye.reason = IpcReason::kDisconnect;
  bye.stats_bytes_in = 1234;
  bye.stats_bytes_out = 5678;
  bye.stats_duration = 42;
  auto ack = AskAgent(agent_->socket_path(), bye);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->source, WireSource::kAck);

  sim::PortalSimStats stats;
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (true) {
    auto s = sim_->Stats();
    ASSERT_TRUE(s.ok()) << s.status();
    stats = *s;
    if (stats.calls("ReportConnect") >= 1 && stats.calls("ReportDisconnect") >= 1) break;
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "no session reports reached the portal";
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(stats.calls("ReportConnect"), 1u);
  EXPECT_EQ(stats.reported_connects_by_user["alice"], 1u);
  EXPECT_EQ(stats.reported_connects_by_user.count("bob"), 0u) << "a denied connect is no session";
  EXPECT_EQ(stats.calls("ReportDisconnect"), 1u);
  EXPECT_EQ(stats.reported_bytes_received, 1234u);
  EXPECT_EQ(stats.reported_bytes_sent, 5678u);
  EXPECT_EQ(stats.reported_duration_seconds, 42);
}

TEST_F(ConnectPathTest, DenyIsCachedForDenyTtlAndNeverTripsTheBreaker) {
  StartSim();
  AgentSettings s;
  s.deny_ttl = "1500ms";  // long enough that the second connect, right after the first, finds it fresh
  s.failure_threshold = 3;
  StartAgent(s);

  Outcome first = Connect("bob");
  EXPECT_EQ(first.exit_code, 1) << first;
  EXPECT_EQ(first.source, "portal") << first;
  EXPECT_THAT(first.helper_stderr, HasSubstr("deny user=bob"));
  EXPECT_THAT(first.helper_stderr, HasSubstr("source=portal reason=account suspended"));

  Outcome again = Connect("bob");
  EXPECT_EQ(again.exit_code, 1) << again;
  EXPECT_EQ(again.source, "cache") << again;
  EXPECT_THAT(again.helper_stderr, HasSubstr("source=cache reason=account suspended"));
  EXPECT_EQ(PortalCalls("bob"), 1u);

  // Twice the failure threshold of Denies in a row: each one is a successful portal call, so every one reaches the
  // portal and the breaker stays closed.
  for (int i = 0; i < 6; ++i) {
    const std::string user = "stranger" + std::to_string(i);
    Outcome o = Connect(user);
    EXPECT_EQ(o.exit_code, 1) << o;
    EXPECT_EQ(o.source, "portal") << user << ": " << o;
    EXPECT_EQ(PortalCalls(user), 1u) << user;
  }
  EXPECT_EQ(agent_->CountLogLines("circuit breaker"), 0) << agent_->Log();

  std::this_thread::sleep_for(1800ms);  // past deny_ttl (1.5 s + 10 % jitter)
  Outcome expired = Connect("bob");
  EXPECT_EQ(expired.exit_code, 1) << expired;
  EXPECT_EQ(expired.source, "portal") << "the Deny expired after deny_ttl: " << expired;
  EXPECT_EQ(PortalCalls("bob"), 2u);
}

TEST_F(ConnectPathTest, BreakerOpensAfterTheThresholdAndThenNoRequestWaitsForThePortal) {
  StartSim();
  AgentSettings s;
  s.fail_mode = "fail-close";
  s.portal_timeout = "1500ms";
  s.decision_timeout = "2s";
  s.failure_threshold = 3;
  s.open_timeout = "30s";  // stays open for the whole test
  s.max_open_timeout = "30s";
  StartAgent(s);
  Hang();

  // Three connects while the portal hangs: each waits for portal.timeout and is answered by fail-close.
  const auto hung = ConnectConcurrently({"u1", "u2", "u3"});
  for (const auto& o : hung) {
    EXPECT_EQ(o.exit_code, 1) << o;
    EXPECT_EQ(o.source, "fail_close") << o;
    EXPECT_GE(o.elapsed, Ms(1000)) << "these did wait for the portal: " << o;
  }
  EXPECT_EQ(AllPortalCalls(), 3u);
  ASSERT_EQ(agent_->CountLogLines("circuit breaker closed -> open"), 1) << agent_->Log();

  // Open: every connect is answered at once from the fail mode and none reaches the portal.
  for (int i = 0; i < 5; ++i) {
    Outcome o = Connect("after-open-" + std::to_string(i));
    EXPECT_EQ(o.exit_code, 1) << o;
    EXPECT_EQ(o.source, "fail_close") << o;
    EXPECT_LT(o.elapsed, Ms(750)) << "must not wait for portal.timeout (1.5 s) once open: " << o;
  }
  EXPECT_EQ(AllPortalCalls(), 3u) << "the open breaker let calls through";
}

TEST_F(ConnectPathTest, FailOpenAdmitsWhenThePortalIsGoneButAFreshDenyStillHolds) {
  StartSim();
  AgentSettings s;
  s.fail_mode = "fail-open";  // default TTLs: bob's Deny stays fresh for the whole test
  StartAgent(s);
  ASSERT_EQ(Connect("bob").exit_code, 1);

  ASSERT_TRUE(sim_->Stop().ok());
  Outcome bob = Connect("bob");
  EXPECT_EQ(bob.exit_code, 1) << "a fresh cached Deny answers before any fail mode: " << bob;
  EXPECT_EQ(bob.source, "cache") << bob;

  Outcome dave = Connect("dave");
  EXPECT_EQ(dave.exit_code, 0) << dave;
  EXPECT_EQ(dave.verdict, "allow") << dave;
  EXPECT_EQ(dave.source, "fail_open") << dave;
  EXPECT_GE(agent_->CountLogLines("portal: CheckPolicy for user 'dave'"), 1) << agent_->Log();
}

TEST_F(ConnectPathTest, FailCloseDeniesEvenAUserWithAnExpiredAllow) {
  StartSim();
  StartAgent(ShortTtls("fail-close"));
  ASSERT_EQ(Connect("alice").exit_code, 0);
  WaitPastShortTtls();

  ASSERT_TRUE(sim_->Stop().ok());
  Outcome alice = Connect("alice");
  EXPECT_EQ(alice.exit_code, 1) << alice;
  EXPECT_EQ(alice.source, "fail_close") << alice;
  EXPECT_THAT(alice.helper_stderr, HasSubstr("source=fail_close"));

  Outcome erin = Connect("erin");
  EXPECT_EQ(erin.exit_code, 1) << erin;
  EXPECT_EQ(erin.source, "fail_close") << erin;
}

TEST_F(ConnectPathTest, FailStaleServesExpiredDecisionsAndClosesForTheNeverSeen) {
  StartSim();
  StartAgent(ShortTtls("fail-stale"));
  ASSERT_EQ(Connect("alice").exit_code, 0);
  ASSERT_EQ(Connect("bob").exit_code, 1);
  WaitPastShortTtls();

  ASSERT_TRUE(sim_->Stop().ok());
  Outcome alice = Connect("alice");
  EXPECT_EQ(alice.exit_code, 0) << alice;
  EXPECT_EQ(alice.source, "stale") << alice;

  Outcome bob = Connect("bob");
  EXPECT_EQ(bob.exit_code, 1) << bob;
  EXPECT_EQ(bob.source, "stale") << "a stale Deny is served as a Deny: " << bob;

  Outcome erin = Connect("erin");
  EXPECT_EQ(erin.exit_code, 1) << erin;
  EXPECT_EQ(erin.source, "fail_close") << "no entry: stale_fallback close: " << erin;
}

TEST_F(ConnectPathTest, FailStaleWithFallbackOpenAdmitsTheNeverSeen) {
  StartSim();
  AgentSettings s = ShortTtls("fail-stale");
  s.stale_fallback = "open";
  StartAgent(s);
  ASSERT_EQ(Connect("bob").exit_code, 1);
  WaitPastShortTtls();

  ASSERT_TRUE(sim_->Stop().ok());
  Outcome bob = Connect("bob");
  EXPECT_EQ(bob.exit_code, 1) << bob;
  EXPECT_EQ(bob.source, "stale") << "the stale entry wins over the fallback: " << bob;
  Outcome erin = Connect("erin");
  EXPECT_EQ(erin.exit_code, 0) << erin;
  EXPECT_EQ(erin.source, "fail_open") << erin;
}

TEST_F(ConnectPathTest, StaleIsNeverServedWhileThePortalIsHealthy) {
  StartSim();
  StartAgent(ShortTtls("fail-stale"));
  ASSERT_EQ(Connect("alice").exit_code, 0);
  WaitPastShortTtls();

  // Expired, portal healthy: asked again, not served stale.
  Outcome again = Connect("alice");
  EXPECT_EQ(again.exit_code, 0) << again;
  EXPECT_EQ(again.source, "portal") << again;

  // The portal now says no: the expired Allow must not win.
  ASSERT_TRUE(sim_->ReplacePolicy("users: { alice: { allow: false, reason: \"offboarded\" } }\n").ok());
  WaitPastShortTtls();
  Outcome revoked = Connect("alice");
  EXPECT_EQ(revoked.exit_code, 1) << revoked;
  EXPECT_EQ(revoked.source, "portal") << revoked;
  EXPECT_THAT(revoked.helper_stderr, HasSubstr("reason=offboarded"));
  EXPECT_EQ(agent_->CountLogLines("source=stale"), 0) << agent_->Log();
}

TEST_F(ConnectPathTest, PortalStoppedThenRestartedRecoversThroughHalfOpen) {
  StartSim();
  AgentSettings s;
  s.fail_mode = "fail-stale";
  s.failure_threshold = 3;
  s.open_timeout = "1s";
  s.max_open_timeout = "2s";
  StartAgent(s);
  ASSERT_EQ(Connect("alice").exit_code, 0);

  ASSERT_TRUE(sim_->Stop().ok());
  for (int i = 0; i < 3; ++i) {
    Outcome o = Connect("new" + std::to_string(i));
    EXPECT_EQ(o.exit_code, 1) << o;
    EXPECT_EQ(o.source, "fail_close") << o;
  }
  ASSERT_EQ(agent_->CountLogLines("circuit breaker closed -> open"), 1) << agent_->Log();
  Outcome alice = Connect("alice");
  EXPECT_EQ(alice.exit_code, 0) << "a fresh Allow answers while the portal is down: " << alice;
  EXPECT_EQ(alice.source, "cache") << alice;

  ASSERT_TRUE(sim_->Restart().ok());
  // The breaker lets one probe through after open_timeout (1 s, jittered, growing to at most 2 s if a probe fails
  // while the channel reconnects). Bounded poll: a new user each time, so every answer needs the portal.
  Outcome recovered;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    recovered = Connect("frank" + std::to_string(i));
    if (recovered.source == "portal") break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(recovered.source, "portal") << recovered;
  EXPECT_EQ(recovered.exit_code, 1) << "frank has no policy: the portal's Deny: " << recovered;
  EXPECT_GE(agent_->CountLogLines("circuit breaker open -> half_open"), 1) << agent_->Log();
  EXPECT_GE(agent_->CountLogLines("circuit breaker half_open -> closed"), 1) << agent_->Log();

  Outcome bob = Connect("bob");
  EXPECT_EQ(bob.source, "portal") << "closed again: " << bob;
  EXPECT_EQ(bob.exit_code, 1) << bob;
}

TEST_F(ConnectPathTest, ConcurrentMissesForOneUserMakeOnePortalCall) {
  SimProcess::Options slow;
  slow.extra_flags = {"--latency-ms", "700"};
  StartSim(kPolicy, slow);
  StartAgent({});

  const std::vector<std::string> users(16, "alice");
  const auto outcomes = ConnectConcurrently(users);
  int portal = 0, coalesced = 0;
  for (const auto& o : outcomes) {
    EXPECT_EQ(o.exit_code, 0) << o;
    EXPECT_THAT(o.source, ::testing::AnyOf("portal", "coalesced", "cache")) << o;
    portal += o.source == "portal";
    coalesced += o.source == "coalesced";
  }
  EXPECT_EQ(portal, 1);
  EXPECT_GE(coalesced, 1) << "16 helpers started together within the portal's 700 ms";
  EXPECT_EQ(PortalCalls("alice"), 1u);
}

TEST_F(ConnectPathTest, HungPortalIsAnsweredFromTheFailModeWithinTheDecisionTimeout) {
  StartSim();
  AgentSettings s;
  s.fail_mode = "fail-open";  // the helper's own fallback is deny: an admit proves the agent answered
  s.portal_timeout = "1s";
  s.decision_timeout = "1500ms";
  StartAgent(s);
  Hang();

  Outcome o = Connect("alice");
  EXPECT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(o.source, "fail_open") << o;
  EXPECT_LT(o.elapsed, Ms(1500 + 1000)) << "within decision_timeout (1.5 s), with slack for a loaded machine: " << o;
  EXPECT_THAT(o.helper_stderr, Not(HasSubstr("agent failure")));

  // A helper with less time left than decision_timeout: the agent answers within the helper's deadline.
  Outcome hurried = Connect("bob", {"--timeout", "900ms"});
  EXPECT_EQ(hurried.exit_code, 0) << hurried;
  EXPECT_EQ(hurried.source, "fail_open") << hurried;
  EXPECT_THAT(hurried.helper_stderr, Not(HasSubstr("agent failure")));
}

TEST_F(ConnectPathTest, PortalWithACertificateFromAnotherCaIsAnErrorNotADeny) {
  SimProcess::Options rogue;
  rogue.cert = "rogue-portal.pem";
  rogue.key = "rogue-portal.key";
  rogue.cert_ca = "rogue-ca.pem";
  StartSim(kPolicy, rogue);
  AgentSettings s;
  s.fail_mode = "fail-open";
  StartAgent(s);

  Outcome o = Connect("bob");  // the portal would deny bob; a TLS failure is an Error and takes the fail mode
  EXPECT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(o.source, "fail_open") << o;
  EXPECT_GE(agent_->CountLogLines("portal: CheckPolicy for user 'bob'"), 1) << agent_->Log();
}

TEST_F(ConnectPathTest, AgentTrustingTheWrongCaIsAnErrorNotADeny) {
  StartSim();
  AgentSettings s;
  s.fail_mode = "fail-close";
  s.ca_file = Pki("rogue-ca.pem");
  StartAgent(s);

  Outcome o = Connect("alice");
  EXPECT_EQ(o.exit_code, 1) << o;
  EXPECT_EQ(o.source, "fail_close") << o;
  EXPECT_EQ(AllPortalCalls(), 0u) << "no call got past the TLS handshake";
}

TEST_F(ConnectPathTest, PortalTtlZeroIsNotCached) {
  StartSim();
  StartAgent({});
  for (int i = 0; i < 3; ++i) {
    Outcome o = Connect("carol");
    EXPECT_EQ(o.exit_code, 0) << o;
    EXPECT_EQ(o.source, "portal") << "ttl 0 from the portal: never cached: " << o;
  }
  EXPECT_EQ(PortalCalls("carol"), 3u);
}

}  // namespace
}  // namespace oa::integration
