#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "dev_pki.h"
#include "grpcpp/grpcpp.h"
#include "ipc/wire_codec.h"
#include "ipc/wire_frame.h"
#include "ocserv_agent/v1/portal_sim.grpc.pb.h"

#if !defined(OA_AGENT_BINARY) || !defined(OA_HELPER_BINARY) || !defined(OA_PORTAL_SIM_BINARY)
#error "the binaries' paths come from oa_integration_harness's compile definitions"
#endif

namespace oa::integration {
namespace {

using namespace std::chrono_literals;
namespace pb = ocserv_agent::v1;
using Steady = std::chrono::steady_clock;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileAtomically(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp", std::ios::trunc) << text;
  std::rename((path + ".tmp").c_str(), path.c_str());
}

absl::Status FromGrpc(const grpc::Status& s, const char* what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", s.error_message(), " (code ", s.error_code(), ")"));
}

sim::PortalSimStats FromProto(const pb::PortalSimStats& p) {
  sim::PortalSimStats s;
  for (const auto& [k, v] : p.calls_by_method()) s.calls_by_method[k] = v;
  for (const auto& [k, v] : p.check_policy_by_user()) s.check_policy_by_user[k] = v;
  s.allowed = p.allowed();
  s.denied = p.denied();
  s.injected_errors = p.injected_errors();
  s.hung = p.hung();
  s.policy_reloads = p.policy_reloads();
  s.policy_reload_failures = p.policy_reload_failures();
  s.policy_epoch = p.policy_epoch();
  s.in_flight = p.in_flight();
  s.reported_bytes_received = p.reported_bytes_received();
  s.reported_bytes_sent = p.reported_bytes_sent();
  s.reported_duration_seconds = p.reported_duration_seconds();
  for (const auto& [k, v] : p.reported_connects_by_user()) s.reported_connects_by_user[k] = v;
  s.events_received = p.events_received();
  s.events_unique = p.events_unique();
  s.events_duplicate = p.events_duplicate();
  s.events_without_id = p.events_without_id();
  return s;
}

}  // namespace

const char* AgentBinary() { return OA_AGENT_BINARY; }
const char* HelperBinary() { return OA_HELPER_BINARY; }
const char* SimBinary() { return OA_PORTAL_SIM_BINARY; }
std::string Pki(const std::string& file) { return sim::DevPki(file); }

// ---- SimProcess ----

struct SimProcess::Control {
  std::unique_ptr<pb::PortalSimControl::Stub> stub;

  // Each call waits for the channel to connect (the sim may have just started) but never past 5 s.
  static void Prepare(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + 5s);
    ctx->set_wait_for_ready(true);
  }
};

SimProcess::SimProcess(std::string work_dir, Options options)
    : work_dir_(std::move(work_dir)), options_(std::move(options)) {}

SimProcess::~SimProcess() = default;  // ChildProcess SIGKILLs a sim still running

absl::StatusOr<std::unique_ptr<SimProcess>> SimProcess::Start(const std::string& work_dir, Options options,
                                                              int port) {
  std::unique_ptr<SimProcess> sim(new SimProcess(work_dir, std::move(options)));
  WriteFileAtomically(work_dir + "/policy.yaml", sim->options_.policy_yaml);
  if (absl::Status s = sim->Launch(port); !s.ok()) return s;
  return sim;
}

absl::Status SimProcess::Launch(int port) {
  const std::string port_file = work_dir_ + "/sim.port";
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {SimBinary(),
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port),
                                   "--port-file",
                                   port_file,
                                   "--cert",
                                   Pki(options_.cert),
                                   "--key",
                                   Pki(options_.key),
                                   "--client-ca",
                                   Pki("ca.pem"),
                                   "--policy",
                                   work_dir_ + "/policy.yaml"};
  argv.insert(argv.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  process_ = std::make_unique<testing::ChildProcess>(argv, std::vector<std::string>{},
                                                     work_dir_ + "/sim." + std::to_string(generation_++));
  const auto deadline = Steady::now() + 10s;
  while (true) {
    int bound = 0;
    if (std::ifstream in(port_file); in >> bound && bound > 0) {
      port_ = bound;
      break;
    }
    if (process_->WaitExit(0ms).has_value() || Steady::now() > deadline) {
      return absl::InternalError("ocserv-portal-sim did not start: " + process_->Stderr());
    }
    std::this_thread::sleep_for(5ms);
  }
  // A new channel per start: an old one could sit in reconnect backoff.
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(Pki(options_.cert_ca));
  tls.pem_cert_chain = ReadFile(Pki("agent-client.pem"));
  tls.pem_private_key = ReadFile(Pki("agent-client.key"));
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("portal.test");
  control_ = std::make_unique<Control>();
  control_->stub = pb::PortalSimControl::NewStub(grpc::CreateCustomChannel(address(), grpc::SslCredentials(tls), args));
  return Stats().status();
}

pid_t SimProcess::pid() const { return process_ ? process_->pid() : -1; }
bool SimProcess::running() const { return process_ && process_->running(); }

absl::Status SimProcess::SetFaults(const sim::SimFaults& faults) {
  grpc::ClientContext ctx;
  Control::Prepare(&ctx);
  pb::PortalSimFaults req, old;
  req.set_latency_ms(faults.latency_ms);
  req.set_error_rate(faults.error_rate);
  req.set_error_code(faults.error_code);
  req.set_hang(faults.hang);
  return FromGrpc(control_->stub->SetFaults(&ctx, req, &old), "PortalSimControl.SetFaults");
}

absl::StatusOr<sim::PortalSimStats> SimProcess::Stats() {
  grpc::ClientContext ctx;
  Control::Prepare(&ctx);
  pb::PortalSimStats out;
  if (auto s = FromGrpc(control_->stub->GetStats(&ctx, {}, &out), "PortalSimControl.GetStats"); !s.ok()) return s;
  return FromProto(out);
}

absl::StatusOr<sim::PortalSimStats> SimProcess::ResetStats() {
  grpc::ClientContext ctx;
  Control::Prepare(&ctx);
  pb::PortalSimStats out;
  if (auto s = FromGrpc(control_->stub->ResetStats(&ctx, {}, &out), "PortalSimControl.ResetStats"); !s.ok()) {
    return s;
  }
  return FromProto(out);
}

absl::Status SimProcess::ReplacePolicy(const std::string& policy_yaml) {
  options_.policy_yaml = policy_yaml;
  WriteFileAtomically(work_dir_ + "/policy.yaml", policy_yaml);
  grpc::ClientContext ctx;
  Control::Prepare(&ctx);
  pb::ReloadPortalSimPolicyResponse resp;
  if (auto s = FromGrpc(control_->stub->ReloadPolicy(&ctx, {}, &resp), "PortalSimControl.ReloadPolicy"); !s.ok()) {
    return s;
  }
  if (!resp.ok()) return absl::InvalidArgumentError("the sim refused the policy: " + resp.error());
  return absl::OkStatus();
}

absl::Status SimProcess::Stop() {
  if (!running()) return absl::OkStatus();
  control_.reset();
  process_->Signal(SIGTERM);
  auto code = process_->WaitExit(10s);
  if (!code) return absl::DeadlineExceededError("ocserv-portal-sim did not stop on SIGTERM");
  if (*code != 0) return absl::InternalError(absl::StrCat("ocserv-portal-sim exited with ", *code));
  return absl::OkStatus();
}

absl::Status SimProcess::Restart() {
  if (running()) return absl::FailedPreconditionError("the sim is still running");
  // The port was just freed; gRPC binds with SO_REUSEADDR. Retry briefly in case the kernel still holds it.
  absl::Status s;
  for (int attempt = 0; attempt < 20; ++attempt) {
    s = Launch(port_);
    if (s.ok()) return s;
    std::this_thread::sleep_for(100ms);
  }
  return s;
}

// ---- AgentProcess ----

std::string AgentConfigYaml(const AgentSettings& s, const std::string& socket_path) {
  return absl::StrCat(
      "agent: { id: integration-test, shutdown_grace: 3s }\n"
      "ipc:\n"
      "  socket_path: ",
      socket_path,
      "\n"
      "  allowed_uids: [",
      ::getuid(),
      "]\n"
      "  decision_timeout: ",
      s.decision_timeout,
      "\n"
      "  max_connections: ",
      s.max_connections,
      "\n"
      "portal:\n"
      "  address: \"",
      s.portal_address,
      "\"\n"
      "  ca_file: ",
      s.ca_file,
      "\n  cert_file: ", s.cert_file, "\n  key_file: ", s.key_file, "\n  server_name: \"", s.server_name,
      "\"\n  timeout: ", s.portal_timeout, "\n  report_events: ", s.report_events ? "true" : "false",
      "\n"
      "resilience:\n"
      "  fail_mode: ",
      s.fail_mode, "\n  stale_fallback: ", s.stale_fallback,
      "\n"
      "  circuit_breaker:\n"
      "    failure_threshold: ",
      s.failure_threshold, "\n    open_timeout: ", s.open_timeout, "\n    max_open_timeout: ", s.max_open_timeout,
      "\n    half_open_max_calls: ", s.half_open_max_calls,
      "\n"
      "  cache:\n"
      "    allow_ttl: ",
      s.allow_ttl, "\n    deny_ttl: ", s.deny_ttl, "\n    stale_ttl: ", s.stale_ttl,
      "\n"
      "management: { enabled: false }\n"
      "events: { outbox_path: outbox.db }\n",
      s.metrics ? "metrics: { enabled: true, listen: \"127.0.0.1:0\" }\n" : "metrics: { enabled: false }\n",
      "logging: { level: ",
      s.log_level, ", format: text }\n", s.extra_yaml);
}

absl::StatusOr<std::unique_ptr<AgentProcess>> AgentProcess::Start(const std::string& work_dir,
                                                                 const AgentSettings& settings) {
  std::unique_ptr<AgentProcess> agent(new AgentProcess());
  agent->socket_path_ = work_dir + "/auth.sock";
  const std::string config = work_dir + "/agent.yaml";
  WriteFileAtomically(config, AgentConfigYaml(settings, agent->socket_path_));
  // Ready = READY=1 through NOTIFY_SOCKET, as systemd sees it (whatever the log level).
  agent->notify_ = std::make_unique<testing::NotifySocket>(work_dir + "/notify.sock");
  const std::string binary = settings.agent_binary.empty() ? AgentBinary() : settings.agent_binary;
  agent->process_ = std::make_unique<testing::ChildProcess>(std::vector<std::string>{binary, "-c", config},
                                                            std::vector<std::string>{agent->notify_->env()},
                                                            work_dir + "/agent");
  const auto deadline = Steady::now() + 15s;
  while (!agent->notify_->WaitFor("READY=1", 50ms)) {
    if (agent->process_->WaitExit(0ms).has_value() || Steady::now() > deadline) {
      return absl::InternalError("ocserv-agent did not become ready:\n" + agent->Log());
    }
  }
  return agent;
}

int AgentProcess::CountLogLines(const std::string& needle) const {
  std::istringstream in(Log());
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

std::optional<AuditRecord> AgentProcess::DecisionOf(pid_t helper_pid, std::chrono::milliseconds timeout) const {
  static const std::regex kAudit(R"(decision user=.* verdict=(\w+) source=(\w+) latency_ms=([0-9.]+))");
  const std::string tag = "request_id=\"" + std::to_string(helper_pid) + "-";  // quoted: a client-sent value
  const auto deadline = Steady::now() + timeout;
  while (true) {
    std::istringstream in(Log());
    std::optional<AuditRecord> found;
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (line.find(tag) == std::string::npos || !std::regex_search(line, m, kAudit)) continue;
      found = AuditRecord{m[1], m[2], std::stod(m[3]), line};  // the last one wins: pids are reused eventually
    }
    if (found || Steady::now() > deadline) return found;
    std::this_thread::sleep_for(5ms);
  }
}

std::optional<int> AgentProcess::Stop(std::chrono::milliseconds timeout) {
  process_->Signal(SIGTERM);
  return process_->WaitExit(timeout);
}

// ---- the helper ----

HelperRun RunHelper(const std::string& socket, const ConnectEnv& env, const std::vector<std::string>& flags,
                    std::chrono::milliseconds kill_after) {
  HelperRun run;
  std::vector<std::string> args = {HelperBinary()};
  args.insert(args.end(), flags.begin(), flags.end());
  const std::vector<std::string> vars = {
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "OCSERV_AGENT_SOCKET=" + socket,
      "REASON=" + env.reason,               "USERNAME=" + env.username,
      "GROUPNAME=" + env.groupname,         "HOSTNAME=laptop-" + env.username,
      "DEVICE=vpns0",                       "IP_REAL=" + env.ip_real,
      "IP_REAL_LOCAL=192.0.2.1",            "IP_LOCAL=10.10.0.1",
      "IP_REMOTE=10.10.0.2",                "ID=" + env.id,
      "VHOST=default",                      "USER_AGENT=Open AnyConnect VPN Agent v9.01",
      "OCSERV_ROUTES=10.0.0.0/255.0.0.0 ",  "OCSERV_DNS=10.0.0.53 "};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& v : vars) envp.push_back(const_cast<char*>(v.c_str()));
  envp.push_back(nullptr);

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return run;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  const auto start = Steady::now();
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    return run;
  }
  run.pid = pid;
  // Read stderr until EOF (the helper exited) or the kill deadline; then reap.
  const auto deadline = start + kill_after;
  char buf[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now()).count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{err_pipe[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = ::read(err_pipe[0], buf, sizeof(buf));
    if (n > 0) {
      run.stderr_text.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.elapsed = Steady::now() - start;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

IpcRequest ConnectRequest(const ConnectEnv& env, std::uint32_t deadline_ms) {
  static std::atomic<std::uint64_t> counter{0};
  IpcRequest r;
  r.request_id = absl::StrCat("bench-", ::getpid(), "-", counter.fetch_add(1));
  r.reason = env.reason == "connect"       ? IpcReason::kConnect
             : env.reason == "disconnect" ? IpcReason::kDisconnect
                                          : IpcReason::kHostUpdate;
  r.deadline_ms = deadline_ms;
  r.id = env.id;
  r.username = env.username;
  r.groupname = env.groupname;
  r.hostname = "laptop-" + env.username;
  r.device = "vpns0";
  r.ip_real = env.ip_real;
  r.ip_real_local = "192.0.2.1";
  r.ip_local = "10.10.0.1";
  r.ip_remote = "10.10.0.2";
  r.vhost = "default";
  r.user_agent = "Open AnyConnect VPN Agent v9.01";
  r.routes = {"10.0.0.0/255.0.0.0"};
  r.dns = {"10.0.0.53"};
  return r;
}

absl::StatusOr<IpcResponse> AskAgent(const std::string& socket, const IpcRequest& request,
                                     std::chrono::milliseconds timeout) {
  const auto deadline = Steady::now() + timeout;
  auto left_ms = [&] {
    return static_cast<int>(std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now()).count()));
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof(addr.sun_path)) return absl::InvalidArgumentError("socket path too long");
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // Blocking connect: with a full backlog it waits (as the helper's retry loop does), bounded by SO_SNDTIMEO.
  timeval tv{timeout.count() / 1000, static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  std::string frame;
  EncodeRequestFrame(request, &frame);
  for (std::size_t off = 0; off < frame.size();) {
    const ssize_t n = ::send(fd, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[4096];
  while (true) {
    const FrameCheck check = CheckFrame(in, kMaxResponseBodyBytes);
    if (check.state == FrameState::kComplete && in.size() >= kFrameHeaderBytes + check.body_len) {
      IpcResponse resp;
      if (DecodeResponse(std::string_view(in).substr(kFrameHeaderBytes, check.body_len), &resp) != WireError::kOk) {
        return absl::DataLossError("malformed reply");
      }
      return resp;
    }
    if (check.state == FrameState::kZeroLength || check.state == FrameState::kOversize) {
      return absl::DataLossError("bad reply frame");
    }
    pollfd p{fd, POLLIN, 0};
    const int left = left_ms();
    if (left <= 0 || ::poll(&p, 1, left) <= 0) return absl::DeadlineExceededError("no reply in time");
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return absl::UnavailableError("the agent closed the connection without a reply");
    if (n < 0 && errno != EINTR) return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    if (n > 0) in.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace oa::integration
