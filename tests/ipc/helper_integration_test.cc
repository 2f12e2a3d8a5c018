// The real ocserv-agent-auth binary (static, as shipped) against the real IpcServer with a fake authorizer:
// exit codes for admit / deny / agent down / agent silent, SIGTERM while waiting, every environment variable
// round-tripping, the uid check, and the /bin/sh wrapper for ocserv-fw setups.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fake_authorizer.h"
#include "ipc/ipc_server.h"
#include "ipc/wire_frame.h"
#include "ipc_test_client.h"

namespace oa {
namespace {

using namespace std::chrono_literals;
using testing::FakeAuthorizer;
using testing::WaitFor;
using Env = std::map<std::string, std::string>;
using SteadyClock = std::chrono::steady_clock;

struct Spawned {
  pid_t pid = -1;
  int stderr_fd = -1;
};

// Starts `argv` with exactly `env` (nothing inherited, as a clean ocserv environment would be) and stderr on a pipe.
// With `blocked`, the child starts with those signals blocked, as a parent that blocks them would leave it.
Spawned Spawn(const std::vector<std::string>& argv, const Env& env, const sigset_t* blocked = nullptr) {
  int pipefd[2];
  EXPECT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (blocked != nullptr) {
    posix_spawnattr_setsigmask(&attr, blocked);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  Spawned s;
  EXPECT_EQ(::posix_spawn(&s.pid, args[0], &fa, &attr, args.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(pipefd[1]);
  s.stderr_fd = pipefd[0];
  return s;
}

struct Finished {
  int status = -1;
  std::string stderr_text;
};

Finished Wait(const Spawned& s) {
  Finished f;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(s.stderr_fd, buf, sizeof(buf))) > 0) f.stderr_text.append(buf, static_cast<std::size_t>(n));
  ::close(s.stderr_fd);
  ::waitpid(s.pid, &f.status, 0);
  return f;
}

int ExitCode(const Finished& f) { return WIFEXITED(f.status) ? WEXITSTATUS(f.status) : -1; }

int CountLines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// A bare listening socket at `path` in place of the agent (-1 on failure): the test plays the agent itself.
int ListenWithoutAgent(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class HelperTest : public ::testing::Test {
 protected:
  HelperTest() {
    options_.socket_path = dir_.path() + "/auth.sock";
    options_.allowed_uids = {::getuid()};
  }
  void StartServer() {
    server_ = std::make_unique<IpcServer>(options_, authorizer_, &events_, SystemClock::instance());
    ASSERT_TRUE(server_->Start().ok());
  }
  Env BaseEnv(const std::string& reason = "connect") const {
    return {{"REASON", reason},
            {"USERNAME", "alice"},
            {"GROUPNAME", "staff"},
            {"ID", "777"},
            {"OCSERV_AGENT_SOCKET", options_.socket_path}};
  }
  Finished Run(const Env& env, std::vector<std::string> args = {}) {
    args.insert(args.begin(), OA_HELPER_PATH);
    return Wait(Spawn(args, env));
  }

  testing::TempDir dir_;
  IpcServerOptions options_;
  FakeAuthorizer authorizer_;
  testing::FakeSessionEventSink events_;
  std::unique_ptr<IpcServer> server_;
};

TEST_F(HelperTest, AdmitExitsZeroSilently) {
  StartServer();
  const Finished f = Run(BaseEnv());
  EXPECT_EQ(ExitCode(f), 0);
  EXPECT_TRUE(f.stderr_text.empty()) << f.stderr_text;
  ASSERT_EQ(authorizer_.requests().size(), 1u);
  const auto& q = *authorizer_.requests()[0];
  EXPECT_EQ(q.version, kIpcVersion);
  EXPECT_EQ(q.reason, IpcReason::kConnect);
  EXPECT_FALSE(q.request_id.empty());
  EXPECT_GT(q.deadline_ms, 4000u);
  EXPECT_LE(q.deadline_ms, 5000u);
}

TEST_F(HelperTest, DenyExitsOneWithOneLine) {
  authorizer_.set_decision({Verdict::kDeny, DecisionSource::kPortal, "not in group"});
  StartServer();
  const Finished f = Run(BaseEnv());
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
}

TEST_F(HelperTest, AgentDownRejectsByDefault) {
  const Finished f = Run(BaseEnv());  // no server
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
}

TEST_F(HelperTest, AgentDownAdmitsWithAllowButStillSaysSo) {
  Finished f = Run(BaseEnv(), {"--on-agent-failure", "allow"});
  EXPECT_EQ(ExitCode(f), 0);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
  Env env = BaseEnv();
  env["OCSERV_AGENT_ON_FAILURE"] = "allow";
  f = Run(env);
  EXPECT_EQ(ExitCode(f), 0);
  EXPECT_EQ(CountLines(f.stderr_text), 1);
}

TEST_F(HelperTest, SilentAgentRejectsAtTheHelperDeadline) {
  // A hung agent: the socket listens (the kernel queues the connection and takes the request) but nobody answers.
  const int fd = ListenWithoutAgent(options_.socket_path);
  ASSERT_GE(fd, 0);
  const auto start = SteadyClock::now();
  Finished f = Run(BaseEnv(), {"--timeout", "300ms"});
  const auto took = SteadyClock::now() - start;
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 1500ms);
  f = Run(BaseEnv(), {"--timeout", "200ms", "--on-agent-failure=allow"});
  EXPECT_EQ(ExitCode(f), 0);
  EXPECT_EQ(CountLines(f.stderr_text), 1);
  ::close(fd);
}

TEST_F(HelperTest, AgentAnswersBeforeTheHelperDeadlineWhenTheAuthorizerHangs) {
  // The helper sends what is left of its deadline; the server's backstop denies before it runs out, so the helper
  // gets a real (deny, fail_close) answer instead of timing out.
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  options_.decision_timeout = 60s;
  StartServer();
  const Finished f = Run(BaseEnv(), {"--timeout", "400ms", "--on-agent-failure", "allow"});
  // Exit 1 with on-agent-failure=allow: the helper got a deny in time; had it timed out, it would have admitted.
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_NE(f.stderr_text.find("fail_close"), std::string::npos) << f.stderr_text;
  EXPECT_EQ(server_->counters().backstop_timeouts, 1u);
}

TEST_F(HelperTest, SigtermWhileWaitingExitsWithin100ms) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  const Spawned s = Spawn({OA_HELPER_PATH}, BaseEnv());
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));  // the helper now waits in poll()
  const auto start = SteadyClock::now();
  ASSERT_EQ(::kill(s.pid, SIGTERM), 0);
  const Finished f = Wait(s);
  const auto took = SteadyClock::now() - start;
  EXPECT_LT(took, 100ms);
  EXPECT_TRUE(WIFEXITED(f.status));
  EXPECT_NE(ExitCode(f), 0);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
}

TEST_F(HelperTest, SigtermIsHonouredEvenWhenTheParentBlockedIt) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  const Spawned s = Spawn({OA_HELPER_PATH}, BaseEnv(), &blocked);
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  const auto start = SteadyClock::now();
  ASSERT_EQ(::kill(s.pid, SIGTERM), 0);
  const Finished f = Wait(s);
  EXPECT_LT(SteadyClock::now() - start, 100ms);
  EXPECT_NE(ExitCode(f), 0);
}

TEST_F(HelperTest, ADenyReasonWithControlCharactersStaysOneLine) {
  authorizer_.set_decision({Verdict::kDeny, DecisionSource::kPortal, "line one\nline two\r\x1b[31m"});
  StartServer();
  const Finished f = Run(BaseEnv());
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
  EXPECT_EQ(f.stderr_text.find('\r'), std::string::npos);
  EXPECT_EQ(f.stderr_text.find('\x1b'), std::string::npos);
  EXPECT_NE(f.stderr_text.find("line one?line two"), std::string::npos) << f.stderr_text;
}

// An agent that answers but refuses the request (here: an error reply, as for a version it does not speak) is not an
// outage: on-agent-failure=allow must not turn that into an admit.
TEST_F(HelperTest, AnAgentThatRefusesTheRequestRejectsEvenWithAllow) {
  const int fd = ListenWithoutAgent(options_.socket_path);
  ASSERT_GE(fd, 0);
  std::thread agent([fd] {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[8192];
    [[maybe_unused]] auto n = ::read(c, buf, sizeof(buf));
    IpcResponse resp;
    resp.error = "unsupported IPC version";
    std::string frame;
    EncodeResponseFrame(resp, &frame);
    [[maybe_unused]] auto w = ::write(c, frame.data(), frame.size());
    ::close(c);
  });
  const Finished f = Run(BaseEnv(), {"--on-agent-failure", "allow"});
  agent.join();
  ::close(fd);
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
  EXPECT_NE(f.stderr_text.find("unsupported IPC version"), std::string::npos) << f.stderr_text;
}

TEST_F(HelperTest, EveryVariableRoundTrips) {
  StartServer();
  Env env = BaseEnv();
  const Env all{{"REMOTE_HOSTNAME", "laptop.example"}, {"HOSTNAME", "laptop"}, {"VHOST", "vpn.example.net"},
                {"DEVICE", "vpns3"}, {"USER_AGENT", "Open AnyConnect VPN Agent v9.01"},
                {"DEVICE_TYPE", "linux-64"}, {"DEVICE_PLATFORM", "linux"}, {"IP_REAL", "192.0.2.44"},
                {"IP_REAL_LOCAL", "192.0.2.1"}, {"IP_LOCAL", "10.10.0.1"}, {"IP_REMOTE", "10.10.0.44"},
                {"IPV6_LOCAL", "fd00::1"}, {"IPV6_REMOTE", "fd00::44"}, {"IPV6_PREFIX", "128"},
                {"OCSERV_ROUTES", "10.0.0.0/255.0.0.0 fd01::/64 "}, {"OCSERV_ROUTES4", "10.0.0.0/255.0.0.0 "},
                {"OCSERV_ROUTES6", "fd01::/64 "}, {"OCSERV_NO_ROUTES", "10.9.0.0/255.255.0.0 "},
                {"OCSERV_NO_ROUTES4", "10.9.0.0/255.255.0.0 "}, {"OCSERV_NO_ROUTES6", "fd09::/64 "},
                {"OCSERV_DNS", "10.0.0.53 fd01::53 "}, {"OCSERV_DNS4", "10.0.0.53 "}, {"OCSERV_DNS6", "fd01::53 "},
                {"OCSERV_RESTRICT_TO_ROUTES", "1"}, {"OCSERV_ALLOW_PORTS", "tcp 443 udp 53 "},
                {"OCSERV_DENY_PORTS", "icmp "}};
  env.insert(all.begin(), all.end());
  ASSERT_EQ(ExitCode(Run(env)), 0);
  ASSERT_EQ(authorizer_.requests().size(), 1u);
  const IpcRequest& q = *authorizer_.requests()[0];
  EXPECT_EQ(q.id, "777");
  EXPECT_EQ(q.username, "alice");
  EXPECT_EQ(q.groupname, "staff");
  EXPECT_EQ(q.hostname, "laptop");
  EXPECT_EQ(q.remote_hostname, "laptop.example");
  EXPECT_EQ(q.vhost, "vpn.example.net");
  EXPECT_EQ(q.device, "vpns3");
  EXPECT_EQ(q.user_agent, "Open AnyConnect VPN Agent v9.01");
  EXPECT_EQ(q.device_type, "linux-64");
  EXPECT_EQ(q.device_platform, "linux");
  EXPECT_EQ(q.ip_real, "192.0.2.44");
  EXPECT_EQ(q.ip_real_local, "192.0.2.1");
  EXPECT_EQ(q.ip_local, "10.10.0.1");
  EXPECT_EQ(q.ip_remote, "10.10.0.44");
  EXPECT_EQ(q.ipv6_local, "fd00::1");
  EXPECT_EQ(q.ipv6_remote, "fd00::44");
  EXPECT_EQ(q.ipv6_prefix, "128");
  using V = std::vector<std::string>;
  EXPECT_EQ(q.routes, (V{"10.0.0.0/255.0.0.0", "fd01::/64"}));
  EXPECT_EQ(q.routes4, (V{"10.0.0.0/255.0.0.0"}));
  EXPECT_EQ(q.routes6, (V{"fd01::/64"}));
  EXPECT_EQ(q.no_routes, (V{"10.9.0.0/255.255.0.0"}));
  EXPECT_EQ(q.no_routes4, (V{"10.9.0.0/255.255.0.0"}));
  EXPECT_EQ(q.no_routes6, (V{"fd09::/64"}));
  EXPECT_EQ(q.dns, (V{"10.0.0.53", "fd01::53"}));
  EXPECT_EQ(q.dns4, (V{"10.0.0.53"}));
  EXPECT_EQ(q.dns6, (V{"fd01::53"}));
  EXPECT_EQ(q.restrict_to_routes, "1");
  EXPECT_EQ(q.allow_ports, (V{"tcp", "443", "udp", "53"}));
  EXPECT_EQ(q.deny_ports, (V{"icmp"}));
  EXPECT_EQ(q.stats_bytes_in, 0u);  // connect: no stats
}

TEST_F(HelperTest, MissingVariablesArriveEmpty) {
  StartServer();
  ASSERT_EQ(ExitCode(Run({{"REASON", "connect"}, {"OCSERV_AGENT_SOCKET", options_.socket_path}})), 0);
  ASSERT_EQ(authorizer_.requests().size(), 1u);
  const IpcRequest& q = *authorizer_.requests()[0];
  EXPECT_TRUE(q.username.empty());
  EXPECT_TRUE(q.ip_real.empty());
  EXPECT_TRUE(q.routes.empty());
  EXPECT_TRUE(q.dns.empty());
}

TEST_F(HelperTest, DisconnectReportsStatsAndExitsZero) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);  // not consulted for events
  StartServer();
  Env env = BaseEnv("disconnect");
  env["STATS_BYTES_IN"] = "123456";
  env["STATS_BYTES_OUT"] = "654321";
  env["STATS_DURATION"] = "3600";
  EXPECT_EQ(ExitCode(Run(env)), 0);
  EXPECT_EQ(ExitCode(Run(BaseEnv("host-update"))), 0);
  ASSERT_TRUE(WaitFor([&] { return events_.events().size() == 2; }));
  const IpcRequest& q = *events_.events()[0];
  EXPECT_EQ(q.reason, IpcReason::kDisconnect);
  EXPECT_EQ(q.stats_bytes_in, 123456u);
  EXPECT_EQ(q.stats_bytes_out, 654321u);
  EXPECT_EQ(q.stats_duration, 3600u);
  EXPECT_EQ(events_.events()[1]->reason, IpcReason::kHostUpdate);
}

TEST_F(HelperTest, DisconnectWithAgentDownStillExitsZeroAndSaysSo) {
  const Finished f = Run(BaseEnv("disconnect"));
  EXPECT_EQ(ExitCode(f), 0);
  EXPECT_EQ(CountLines(f.stderr_text), 1);
}

TEST_F(HelperTest, UnknownReasonRejects) {
  const Finished f = Run(BaseEnv("reboot"));
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1);
}

TEST_F(HelperTest, BadOptionRejects) {
  const Finished f = Run(BaseEnv(), {"--timeout", "forever"});
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1);
}

TEST_F(HelperTest, UidCheckRejects) {
  options_.allowed_uids = {::getuid() + 1};
  StartServer();
  Finished f = Run(BaseEnv());
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1);
  EXPECT_EQ(server_->counters().refused_uid, 1u);
  EXPECT_TRUE(authorizer_.requests().empty());
}

// A deliberate refusal is not an outage: with on-agent-failure=allow the helper still rejects, and says why.
TEST_F(HelperTest, ARefusedUidRejectsEvenWithAllow) {
  options_.allowed_uids = {::getuid() + 1};
  StartServer();
  const Finished f = Run(BaseEnv(), {"--on-agent-failure", "allow"});
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
  EXPECT_NE(f.stderr_text.find("refused"), std::string::npos) << f.stderr_text;
  EXPECT_NE(f.stderr_text.find("ipc.allowed_uids"), std::string::npos) << f.stderr_text;
  EXPECT_EQ(server_->counters().refused_uid, 1u);
}

class HelperAtMaxConnectionsTest : public HelperTest {
 protected:
  // One connection that sends nothing holds the only slot (the read timeout is far away).
  void FillTheOnlySlot() {
    options_.max_connections = 1;
    options_.read_timeout = std::chrono::minutes(10);
    StartServer();
    held_ = testing::ConnectUnix(options_.socket_path);
    ASSERT_GE(held_, 0);
    ASSERT_TRUE(WaitFor([&] { return server_->open_connections() == 1; }));
  }
  ~HelperAtMaxConnectionsTest() override {
    if (held_ >= 0) ::close(held_);
  }
  int held_ = -1;
};

TEST_F(HelperAtMaxConnectionsTest, RejectsEvenWithAllow) {
  FillTheOnlySlot();
  const Finished f = Run(BaseEnv(), {"--on-agent-failure", "allow"});
  EXPECT_EQ(ExitCode(f), 1);
  EXPECT_EQ(CountLines(f.stderr_text), 1) << f.stderr_text;
  EXPECT_NE(f.stderr_text.find("ipc.max_connections"), std::string::npos) << f.stderr_text;
  EXPECT_EQ(server_->counters().too_many_connections, 1u);
  EXPECT_TRUE(authorizer_.requests().empty());
}

// The refusal can reach the helper before its request is out: the agent answers and closes, the helper's send then
// fails (EPIPE/ECONNRESET), and only reading the reply that is already queued tells a refusal from an outage. A
// request larger than the socket buffer makes that order certain: the helper is still sending when it is refused.
TEST_F(HelperAtMaxConnectionsTest, ARefusalThatArrivesBeforeTheRequestIsSentStillRejects) {
  FillTheOnlySlot();
  Env env = BaseEnv();
  for (const char* name : {"USER_AGENT", "HOSTNAME", "REMOTE_HOSTNAME", "DEVICE_PLATFORM"}) {
    env[name] = std::string(120 * 1024, 'x');  // 480 KiB in all; an AF_UNIX send buffer holds ~208 KiB
  }
  const Finished f = Run(env, {"--on-agent-failure", "allow"});
  EXPECT_EQ(ExitCode(f), 1) << f.stderr_text;
  EXPECT_NE(f.stderr_text.find("ipc.max_connections"), std::string::npos) << f.stderr_text;
  EXPECT_EQ(server_->counters().too_many_connections, 1u);
}

TEST_F(HelperTest, ShellWrapperForOcservFw) {
  StartServer();
  Env env = BaseEnv();
  env["OCSERV_AGENT_AUTH_BIN"] = OA_HELPER_PATH;
  // ocserv-fw runs `/bin/sh "$OCSERV_NEXT_SCRIPT"`.
  EXPECT_EQ(ExitCode(Wait(Spawn({"/bin/sh", OA_HELPER_WRAPPER}, env))), 0);
  authorizer_.set_decision({Verdict::kDeny, DecisionSource::kPortal, "no"});
  EXPECT_EQ(ExitCode(Wait(Spawn({"/bin/sh", OA_HELPER_WRAPPER}, env))), 1);
}

}  // namespace
}  // namespace oa
