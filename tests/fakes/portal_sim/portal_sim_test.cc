// The reference portal itself, as a separate process (`ocserv-portal-sim`): port file, the control service (stats,
// faults, reset, reload), SIGHUP reload (and a bad file keeping the old policy), error injection, clean SIGTERM.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <gtest/gtest.h>
#include <sstream>
#include <thread>

#include "agent/portal/grpc_portal_client.h"
#include "dev_pki.h"
#include "fake_clock.h"
#include "grpcpp/grpcpp.h"
#include "ocserv_agent/v1/portal_sim.grpc.pb.h"
#include "portal_sim.h"

extern char** environ;

namespace oa::sim {
namespace {

using namespace std::chrono_literals;
namespace pb = ocserv_agent::v1;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  std::rename((path + ".tmp").c_str(), path.c_str());
}

// Runs ocserv-portal-sim with the dev PKI and the given extra flags; stops it with SIGTERM.
class SimProcess {
 public:
  explicit SimProcess(const std::string& policy_path, std::vector<std::string> extra = {}) {
    dir_ = DevPkiDir() + "/sim-" + std::to_string(getpid()) + "-" + std::to_string(counter_++);
    port_file_ = dir_ + ".port";
    std::remove(port_file_.c_str());
    std::vector<std::string> args = {OA_PORTAL_SIM_BIN,  "--listen",   "127.0.0.1:0",    "--port-file",
                                      port_file_,        "--cert",     DevPki("portal.pem"), "--key",
                                      DevPki("portal.key"), "--client-ca", DevPki("ca.pem"), "--policy",
                                      policy_path};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
  }
  ~SimProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Waits for the port file; 0 if the sim did not come up within 10 s.
  int WaitForPort() {
    for (int i = 0; i < 1000; ++i) {
      std::ifstream in(port_file_);
      int port = 0;
      if (in >> port && port > 0) return port;
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }

  void Signal(int sig) { kill(pid_, sig); }

  // Exit status after SIGTERM, or -1 if it did not exit within 10 s.
  int TerminateAndWait() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

  pid_t pid() const { return pid_; }

 private:
  static inline int counter_ = 0;
  std::string dir_, port_file_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

std::shared_ptr<grpc::Channel> MtlsChannel(int port) {
  auto read = [](const std::string& f) {
    std::ifstream in(DevPki(f));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = read("ca.pem");
  tls.pem_cert_chain = read("agent-client.pem");
  tls.pem_private_key = read("agent-client.key");
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(tls));
}

class PortalSimProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_ = DevPkiDir() + "/sim-test-" + std::to_string(getpid()) + ".yaml";
    WriteFile(policy_, "users: { alice: { allow: true, ttl: 60 } }\n");
  }
  void Connect(int port) {
    control_ = pb::PortalSimControl::NewStub(MtlsChannel(port));
    PortalOptions o;
    o.address = "127.0.0.1:" + std::to_string(port);
    o.ca_file = DevPki("ca.pem");
    o.cert_file = DevPki("agent-client.pem");
    o.key_file = DevPki("agent-client.key");
    auto c = MakeGrpcPortalClient(o, clock_);
    ASSERT_TRUE(c.ok());
    client_ = *std::move(c);
  }
  PolicyAnswer Ask(const std::string& user) {
    std::promise<PolicyAnswer> p;
    PolicyQuery q;
    q.request.username = user;
    client_->CheckPolicy(q, 2000ms, [&](PolicyAnswer a) { p.set_value(std::move(a)); });
    return p.get_future().get();
  }
  pb::PortalSimStats Stats() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    pb::PortalSimStats s;
    EXPECT_TRUE(control_->GetStats(&ctx, {}, &s).ok());
    return s;
  }
  // SIGHUP, then waits until the sim counted the reload (or its refusal).
  void Reload(SimProcess& sim, bool expect_ok) {
    const auto before = Stats();
    sim.Signal(SIGHUP);
    for (int i = 0; i < 500; ++i) {
      const auto s = Stats();
      if (s.policy_reloads() + s.policy_reload_failures() >
          before.policy_reloads() + before.policy_reload_failures()) {
        EXPECT_EQ(s.policy_reloads() > before.policy_reloads(), expect_ok);
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "the sim did not count the reload";
  }

  testing::FakeClock clock_;
  std::string policy_;
  std::unique_ptr<pb::PortalSimControl::Stub> control_;
  std::unique_ptr<PortalClient> client_;
};

TEST_F(PortalSimProcessTest, ServesPolicyCountsCallsAndReloadsOnSighup) {
  SimProcess sim(policy_);
  ASSERT_GT(sim.pid(), 0);
  const int port = sim.WaitForPort();
  ASSERT_GT(port, 0);
  Connect(port);

  EXPECT_EQ(Ask("alice").outcome, PortalOutcome::kAllow);
  EXPECT_EQ(Ask("bob").outcome, PortalOutcome::kDeny);
  EXPECT_EQ(Ask("alice").policy_epoch, 1u);
  auto s = Stats();
  EXPECT_EQ(s.calls_by_method().at("CheckPolicy"), 3u);
  EXPECT_EQ(s.check_policy_by_user().at("alice"), 2u);
  EXPECT_EQ(s.check_policy_by_user().at("bob"), 1u);
  EXPECT_EQ(s.allowed(), 2u);
  EXPECT_EQ(s.denied(), 1u);
  EXPECT_EQ(s.policy_epoch(), 1u);

  WriteFile(policy_, "users: { bob: { allow: true } }\n");
  Reload(sim, true);
  const PolicyAnswer bob = Ask("bob");
  EXPECT_EQ(bob.outcome, PortalOutcome::kAllow);
  EXPECT_EQ(bob.policy_epoch, 2u);
  EXPECT_EQ(Ask("alice").outcome, PortalOutcome::kDeny);

  WriteFile(policy_, "users: { bob: { allow: true, bogus_key: 1 } }\n");
  Reload(sim, false);
  EXPECT_EQ(Ask("bob").outcome, PortalOutcome::kAllow);  // the old policy stays
  EXPECT_EQ(Stats().policy_epoch(), 2u);

  EXPECT_EQ(sim.TerminateAndWait(), 0);
}

TEST_F(PortalSimProcessTest, ControlServiceSetsFaultsAndResetsStats) {
  SimProcess sim(policy_);
  const int port = sim.WaitForPort();
  ASSERT_GT(port, 0);
  Connect(port);
  EXPECT_EQ(Ask("alice").outcome, PortalOutcome::kAllow);

  pb::PortalSimFaults faults, old;
  faults.set_error_rate(1.0);
  faults.set_error_code(8);  // RESOURCE_EXHAUSTED
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(control_->SetFaults(&ctx, faults, &old).ok());
    EXPECT_EQ(old.error_rate(), 0.0);
  }
  const PolicyAnswer a = Ask("alice");
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Stats().injected_errors(), 1u);

  {
    grpc::ClientContext ctx;
    pb::PortalSimStats before;
    ASSERT_TRUE(control_->ResetStats(&ctx, {}, &before).ok());
    EXPECT_EQ(before.calls_by_method().at("CheckPolicy"), 2u);
  }
  EXPECT_EQ(Stats().calls_by_method().count("CheckPolicy"), 0u);
  EXPECT_EQ(Stats().injected_errors(), 0u);

  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(control_->SetFaults(&ctx, pb::PortalSimFaults(), &old).ok());
  }
  EXPECT_EQ(Ask("alice").outcome, PortalOutcome::kAllow);
  EXPECT_EQ(sim.TerminateAndWait(), 0);
}

TEST_F(PortalSimProcessTest, FlagsInjectFaultsFromTheStart) {
  SimProcess sim(policy_, {"--hang"});
  const int port = sim.WaitForPort();
  ASSERT_GT(port, 0);
  Connect(port);
  std::promise<PolicyAnswer> p;
  PolicyQuery q;
  q.request.username = "alice";
  // Long enough for the TLS handshake on a slow (sanitizer) build: the call must reach the sim to hang there.
  client_->CheckPolicy(q, 1500ms, [&](PolicyAnswer a) { p.set_value(std::move(a)); });
  EXPECT_EQ(p.get_future().get().error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Stats().hung(), 1u);
  EXPECT_EQ(sim.TerminateAndWait(), 0);  // a held call does not stop a clean shutdown
}

TEST_F(PortalSimProcessTest, RefusesToStartOnABadPolicy) {
  WriteFile(policy_, "users: [\n");
  SimProcess sim(policy_);
  int status = 0;
  ASSERT_EQ(waitpid(sim.pid(), &status, 0), sim.pid());
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

// In-process: the error rate is a share, not all-or-nothing.
TEST(PortalSim, ErrorRateIsAShareOfCalls) {
  PortalSimOptions o;
  o.cert_file = DevPki("portal.pem");
  o.key_file = DevPki("portal.key");
  o.client_ca_file = DevPki("ca.pem");
  o.faults.error_rate = 0.5;
  o.faults.error_code = 8;  // RESOURCE_EXHAUSTED: told apart from transport errors
  auto sim = PortalSim::Start(o);
  ASSERT_TRUE(sim.ok()) << sim.status();
  PortalOptions c;
  c.address = (*sim)->address();
  c.ca_file = DevPki("ca.pem");
  c.cert_file = DevPki("agent-client.pem");
  c.key_file = DevPki("agent-client.key");
  testing::FakeClock clock;
  auto client = MakeGrpcPortalClient(c, clock);
  ASSERT_TRUE(client.ok());
  constexpr int kCalls = 200;
  std::atomic<int> errors{0}, other{0};
  for (int i = 0; i < kCalls; ++i) {
    // One at a time: this is about the share, not about load (which would add deadline errors on a slow build).
    std::promise<void> one;
    (*client)->CheckPolicy(PolicyQuery{}, 5000ms, [&](PolicyAnswer a) {
      if (a.outcome == PortalOutcome::kError && a.error.code() == absl::StatusCode::kResourceExhausted) {
        errors.fetch_add(1);
      } else if (a.outcome == PortalOutcome::kError) {
        other.fetch_add(1);
      }
      one.set_value();
    });
    one.get_future().wait();
  }
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(errors.load()), (*sim)->Stats().injected_errors);
  EXPECT_GT(errors.load(), kCalls / 4);
  EXPECT_LT(errors.load(), kCalls * 3 / 4);
}

}  // namespace
}  // namespace oa::sim
