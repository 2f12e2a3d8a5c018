// The decision path end to end, with real processes: the reference portal `ocserv-portal-sim` (a separate process,
// --latency-ms 0 and 20), the real `ocserv-agent` daemon, and requests either through the real helper (fork/exec per
// request, as ocserv runs it) or straight over the agent's Unix socket with the IPC frame codec (the agent's own
// cost, without fork/exec). For each portal latency, in this order, in one run:
//
//   floor: bare CheckPolicy   sequential calls through the real gRPC portal client to the same sim process
//   floor: IPC echo           sequential frames to a bare Unix-socket echo server in this process (same frame, one
//                             connection per request, as the helper does)
//   hit  (socket / helper)    sequential requests for one user whose Allow is cached
//   miss (socket / helper)    sequential requests, each for a new user (every one asks the portal)
//   storm                     N distinct users arriving open-loop, evenly spread over S seconds (default 10 000 in
//                             1 s), straight over the socket from one epoll client; latency counted from each
//                             request's scheduled arrival (no coordinated omission)
//
// For the storm it also reports: requests answered / sent, sources, portal CheckPolicy calls (the sim's counters)
// against distinct keys, the agent's peak thread count and peak RSS (sampled from /proc/PID/status every 5 ms,
// plus VmHWM), and the targets of issue 5. Prints tables; the figures go to BENCHMARKS.md.
//
// Usage: oa_decision_path_bench [--latencies 0,20] [--requests 2000] [--helper-requests 300] [--storm-users 10000]
//                               [--storm-seconds 1] [--agent-log-level info] [--report-events true|false]
//
// With --variants R (issues 11 and 12: "decision path unchanged"), it measures instead, at portal latency 0, the
// cache-hit and cache-miss p50 straight over the socket (--requests each) for four agent configurations, each with a
// fresh sim and agent, in R rounds whose order rotates (so that no variant always runs first or last):
//   enforcement off, outbox off   enforcement.watch false, portal.report_events false (no outbox)
//   enforcement on,  outbox off   the PolicyWatch stream open and --revoked K users revoked through it (so every
//                                 decision consults a non-empty revocation table), no outbox
//   enforcement off, outbox on    no stream; every admit appended to the outbox and sent to the portal
//   enforcement on,  outbox on    both (the defaults, plus the K revocations)
// and prints, per variant, the median over rounds of its p50s and the median of the per-round ratios to the
// all-off variant (the same round, so the same machine conditions), and the CPU time agent and sim spent per
// request (including the background work a request caused: outbox commit, ReportConnect). Closed loop by default;
// --gap-us G pauses G us between an answer and the next request, so that such background work is done before the
// next decision instead of competing with it. With --baseline-agent PATH (e.g. main's ocserv-agent) the variants are
// instead outbox off / on for that binary and for this build's, enforcement off, interleaved in every round, each
// ratio to the outbox-off variant of the same binary: before/after under the same conditions.
// Usage: --variants 5 [--revoked 100] [--gap-us 0] [--baseline-agent PATH]
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <future>
#include <mutex>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/portal/grpc_process_setup.h"
#include "agent/authorizer/request_mapping.h"
#include "agent/portal/grpc_portal_client.h"
#include "bench/common/bench_figures.h"
#include "bench/common/flag_parser.h"
#include "bench/enforcement/sim_control.h"
#include "harness.h"
#include "ipc/wire_codec.h"
#include "ipc/wire_frame.h"
#include "temp_dir.h"

namespace oa::bench {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using integration::AgentProcess;
using integration::SimProcess;

struct Args {
  std::vector<int> latencies = {0, 20};
  int requests = 2000;
  int helper_requests = 300;
  int storm_users = 10000;
  double storm_seconds = 1.0;
  std::string agent_log_level = "info";  // as deployed: one audit line per decision is on the measured path
  bool report_events = true;  // portal.report_events, the default: a ReportConnect per admitted session
  int variant_rounds = 0;     // > 0: the enforcement/outbox on-vs-off comparison instead (RunVariants)
  int revoked = 100;          // users revoked through the stream in the enforcement-on variants
  int gap_us = 0;             // --variants: pause between one answer and the next request (0 = closed loop)
  std::string baseline_agent; // --variants: compare this build's agent with that binary (outbox off/on each)
};

constexpr char kProgram[] = "oa_decision_path_bench";

[[noreturn]] void Die(const std::string& why) { oa::bench::Die(kProgram, why); }

// ---- statistics ----

double Since(Steady::time_point t0) { return std::chrono::duration<double, std::milli>(Steady::now() - t0).count(); }

// ---- /proc ----

// Samples a process's threads and RSS until stopped; keeps the peaks.
class ProcSampler {
 public:
  explicit ProcSampler(pid_t pid) : pid_(pid), thread_([this] { Run(); }) {}
  ~ProcSampler() { Stop(); }
  ProcStatus Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  void Run() {
    while (!stop_) {
      const ProcStatus s = ReadProcStatus(pid_);
      peak_.threads = std::max(peak_.threads, s.threads);
      peak_.rss_kb = std::max(peak_.rss_kb, s.rss_kb);
      peak_.hwm_kb = std::max(peak_.hwm_kb, s.hwm_kb);
      std::this_thread::sleep_for(5ms);
    }
  }
  pid_t pid_;
  std::atomic<bool> stop_{false};
  ProcStatus peak_;
  std::thread thread_;
};

// ---- the IPC floor: a bare echo server ----

// Accepts, reads one whole frame, writes it back, closes: the least a Unix-socket request/response server does per
// connection. One thread, blocking: the client is sequential.
class EchoServer {
 public:
  explicit EchoServer(const std::string& path) : path_(path) {
    ::unlink(path.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, SOMAXCONN) != 0) {
      Die("echo server: cannot listen on " + path);
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~EchoServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    ::unlink(path_.c_str());
  }

 private:
  void Run() {
    while (!stop_) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string in;
      char buf[4096];
      while (true) {
        const FrameCheck f = CheckFrame(in, 1 << 20);
        if (f.state == FrameState::kComplete && in.size() >= kFrameHeaderBytes + f.body_len) break;
        const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
      }
      [[maybe_unused]] auto w = ::send(c, in.data(), in.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Sequential raw exchanges with an echo server (the reply is our own frame, so it is not decoded as a response).
std::vector<double> EchoRoundTrips(const std::string& path, const IpcRequest& req, int n) {
  std::string frame;
  EncodeRequestFrame(req, &frame);
  std::vector<double> ms;
  ms.reserve(n);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  std::string reply(frame.size(), '\0');
  for (int i = 0; i < n; ++i) {
    const auto t0 = Steady::now();
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("echo: connect failed");
    [[maybe_unused]] auto w = ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    std::size_t got = 0;
    while (got < reply.size()) {
      const ssize_t r = ::recv(fd, reply.data() + got, reply.size() - got, 0);
      if (r <= 0) Die("echo: short reply");
      got += static_cast<std::size_t>(r);
    }
    ::close(fd);
    ms.push_back(Since(t0));
  }
  return ms;
}

// ---- the bare CheckPolicy floor ----

std::vector<double> BareCheckPolicy(const std::string& address, const IpcRequest& like, int n) {
  PortalOptions po;
  po.address = address;
  po.ca_file = integration::Pki("ca.pem");
  po.cert_file = integration::Pki("agent-client.pem");
  po.key_file = integration::Pki("agent-client.key");
  po.server_name = "portal.test";
  auto client = MakeGrpcPortalClient(po, SystemClock::instance());
  if (!client.ok()) Die("portal client: " + client.status().ToString());
  auto call = [&](const std::string& user) {
    IpcRequest r = like;
    r.username = user;
    std::promise<PortalOutcome> done;
    (*client)->CheckPolicy(PolicyQueryOf(r, "bench", SystemClock::instance().wall_now()), 2000ms,
                           [&](PolicyAnswer a) { done.set_value(a.outcome); });
    return done.get_future().get();
  };
  for (int i = 0; i < 20; ++i) call("warmup");  // connect + TLS handshake outside the measurement
  std::vector<double> ms;
  ms.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto t0 = Steady::now();
    if (call("floor-" + std::to_string(i)) == PortalOutcome::kError) Die("bare CheckPolicy failed");
    ms.push_back(Since(t0));
  }
  (*client)->Shutdown(1s);
  return ms;
}

// The storm's floor: the same open-loop arrivals as CheckPolicy calls straight from this process's portal client
// to the sim (no agent, no IPC). Latency from each call's scheduled time; CPU of this process per call.
struct BareStorm {
  std::vector<double> ms;
  int errors = 0;
  double cpu_ms = 0;
  double wall_ms = 0;
};

BareStorm BareCheckPolicyStorm(const std::string& address, const IpcRequest& like, int users, double seconds) {
  PortalOptions po;
  po.address = address;
  po.ca_file = integration::Pki("ca.pem");
  po.cert_file = integration::Pki("agent-client.pem");
  po.key_file = integration::Pki("agent-client.key");
  po.server_name = "portal.test";
  auto client = MakeGrpcPortalClient(po, SystemClock::instance());
  if (!client.ok()) Die("portal client: " + client.status().ToString());
  {
    std::promise<void> warm;
    (*client)->CheckPolicy(PolicyQueryOf(like, "bench", SystemClock::instance().wall_now()), 5000ms,
                           [&](PolicyAnswer) { warm.set_value(); });
    warm.get_future().wait();
  }
  BareStorm r;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  r.ms.reserve(users);
  const double cpu0 = ProcessCpuMs(::getpid());
  const auto start = Steady::now();
  const auto interval = std::chrono::duration<double>(seconds / users);
  for (int i = 0; i < users; ++i) {
    const auto due = start + std::chrono::duration_cast<Steady::duration>(interval * i);
    std::this_thread::sleep_until(due);
    IpcRequest req = like;
    req.username = "bare-storm-" + std::to_string(i);
    (*client)->CheckPolicy(PolicyQueryOf(req, "bench", SystemClock::instance().wall_now()), 5000ms,
                           [&, due](PolicyAnswer a) {
                             const double ms = std::chrono::duration<double, std::milli>(Steady::now() - due).count();
                             std::lock_guard lock(mu);
                             if (a.outcome == PortalOutcome::kError) ++r.errors; else r.ms.push_back(ms);
                             ++done;
                             cv.notify_one();
                           });
  }
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 30s, [&] { return done == users; });
  }
  r.wall_ms = Since(start);
  r.cpu_ms = ProcessCpuMs(::getpid()) - cpu0;
  (*client)->Shutdown(1s);
  return r;
}

// ---- through the agent ----

struct Sourced {
  std::vector<double> ms;
  std::map<std::string, int> sources;
  int failures = 0;
};

// Sequential requests straight over the socket, user name from `user_of(i)`.
// `gap`: idle time between one answer and the next request (0: closed loop, the next starts at once).
template <typename UserOf>
Sourced SocketRequests(const AgentProcess& agent, int n, UserOf user_of,
                       std::chrono::microseconds gap = std::chrono::microseconds(0)) {
  Sourced out;
  out.ms.reserve(n);
  for (int i = 0; i < n; ++i) {
    if (gap.count() > 0) std::this_thread::sleep_for(gap);
    integration::ConnectEnv env;
    env.username = user_of(i);
    const IpcRequest req = integration::ConnectRequest(env);
    const auto t0 = Steady::now();
    auto resp = integration::AskAgent(agent.socket_path(), req);
    const double ms = Since(t0);
    if (!resp.ok() || resp->verdict != WireVerdict::kAllow) {
      ++out.failures;
      continue;
    }
    out.ms.push_back(ms);
    ++out.sources[SourceName(resp->source)];
  }
  return out;
}

// Sequential helper runs (fork/exec/wait, as ocserv does); the source is not on the wire to us here, so only the
// exit status is checked (admitted = 0).
template <typename UserOf>
Sourced HelperRequests(const AgentProcess& agent, int n, UserOf user_of) {
  Sourced out;
  out.ms.reserve(n);
  for (int i = 0; i < n; ++i) {
    integration::ConnectEnv env;
    env.username = user_of(i);
    const auto run = integration::RunHelper(agent.socket_path(), env);
    if (run.exit_code != 0) {
      ++out.failures;
      continue;
    }
    out.ms.push_back(run.elapsed.count());
  }
  return out;
}

// ---- the storm: open-loop arrivals from one epoll client ----

struct StormResult {
  std::vector<double> ms;  // from scheduled arrival to reply
  std::map<std::string, int> sources;
  int sent = 0, answered = 0, allowed = 0, errors = 0;
  double send_span_ms = 0;  // first to last connect
  double wall_ms = 0;
};

StormResult Storm(const std::string& socket, const std::string& prefix, int users, double seconds) {
  StormResult r;
  struct Pending {
    Steady::time_point scheduled;
    std::string in;
  };
  std::vector<std::string> frames(users);
  for (int i = 0; i < users; ++i) {
    integration::ConnectEnv env;
    env.username = prefix + std::to_string(i);
    EncodeRequestFrame(integration::ConnectRequest(env, 5000), &frames[i]);
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::unordered_map<int, Pending> open;
  const auto start = Steady::now();
  const auto interval = std::chrono::duration<double>(seconds / users);
  auto scheduled = [&](int i) { return start + std::chrono::duration_cast<Steady::duration>(interval * i); };
  int next = 0;
  Steady::time_point last_send{};
  const auto give_up = start + std::chrono::duration<double>(seconds) + 30s;
  char buf[4096];
  while ((next < users || !open.empty()) && Steady::now() < give_up) {
    // Start every request whose time has come. A full backlog (EAGAIN) is retried on the next turn, and the
    // latency still counts from the scheduled time.
    while (next < users && scheduled(next) <= Steady::now()) {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        if (errno == EAGAIN) break;
        ++r.errors;
        ++next;
        continue;
      }
      if (::send(fd, frames[next].data(), frames[next].size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(frames[next].size())) {
        ::close(fd);
        ++r.errors;
        ++next;
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      open[fd] = Pending{scheduled(next), {}};
      ++r.sent;
      ++next;
      last_send = Steady::now();
    }
    // Sleep until the next arrival, rounded up to a whole millisecond: with a truncated timeout (0 whenever the next
    // arrival is less than 1 ms away, i.e. always at 10 000/s) this loop would spin and take a core from the agent
    // and the portal it is measuring. Arrivals then leave in 1 ms batches; their latency still counts from the
    // scheduled time, so the batching is charged to the agent, not hidden.
    int timeout_ms = 100;
    if (next < users) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(scheduled(next) - Steady::now());
      timeout_ms = static_cast<int>(std::clamp<long long>(wait.count(), 1, 100));
    }
    epoll_event events[256];
    const int n = ::epoll_wait(ep, events, 256, timeout_ms);
    for (int k = 0; k < n; ++k) {
      const int fd = events[k].data.fd;
      auto it = open.find(fd);
      if (it == open.end()) continue;
      bool finished = false;
      while (true) {
        const ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
        if (got > 0) {
          it->second.in.append(buf, static_cast<std::size_t>(got));
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
        finished = true;  // EOF or error
        break;
      }
      const FrameCheck f = CheckFrame(it->second.in, kMaxResponseBodyBytes);
      const bool complete = f.state == FrameState::kComplete && it->second.in.size() >= kFrameHeaderBytes + f.body_len;
      if (!complete && !finished) continue;
      IpcResponse resp;
      if (complete && DecodeResponse(std::string_view(it->second.in).substr(kFrameHeaderBytes, f.body_len), &resp) ==
                          WireError::kOk &&
          resp.verdict != WireVerdict::kUnspecified) {
        ++r.answered;
        r.allowed += resp.verdict == WireVerdict::kAllow;
        ++r.sources[SourceName(resp.source)];
        r.ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - it->second.scheduled).count());
      } else {
        ++r.errors;
      }
      ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
      ::close(fd);
      open.erase(it);
    }
  }
  r.errors += static_cast<int>(open.size());  // never answered before give_up
  for (auto& [fd, p] : open) ::close(fd);
  ::close(ep);
  r.send_span_ms = std::chrono::duration<double, std::milli>(last_send - start).count();
  r.wall_ms = Since(start);
  return r;
}

// ---- one portal latency ----

void Row(const char* what, const Percentiles& s, const std::string& note = "") {
  std::printf("| %-34s | %6zu | %9.3f | %9.3f | %9.3f | %s\n", what, s.n, s.p50, s.p99, s.max, note.c_str());
}

std::string Sources(const std::map<std::string, int>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : " ") + k + "=" + std::to_string(v);
  return s;
}

// The agent as every run starts it: the run's portal, the same deadlines and breaker settings, the log level asked for.
integration::AgentSettings BenchAgentSettings(const Args& args, const std::string& portal_address) {
  integration::AgentSettings as;
  as.portal_address = portal_address;
  as.portal_timeout = "2s";
  as.decision_timeout = "3s";
  as.failure_threshold = 5;
  as.open_timeout = "30s";
  as.max_open_timeout = "5m";
  as.log_level = args.agent_log_level;
  return as;
}

void RunAtLatency(const Args& args, int latency_ms) {
  testing::TempDir dir;
  SimProcess::Options so;
  so.policy_yaml = "default: { allow: true }\nusers: { bench-hit: { allow: true } }\n";
  so.extra_flags = {"--latency-ms", std::to_string(latency_ms)};
  auto sim = SimProcess::Start(dir.path(), so);
  if (!sim.ok()) Die(sim.status().ToString());
  integration::AgentSettings as = BenchAgentSettings(args, (*sim)->address());
  as.report_events = args.report_events;
  auto agent = AgentProcess::Start(dir.path(), as);
  if (!agent.ok()) Die(agent.status().ToString());
  const pid_t agent_pid = (*agent)->pid();
  const ProcStatus idle = ReadProcStatus(agent_pid);

  integration::ConnectEnv env;
  env.username = "bench-hit";
  const IpcRequest like = integration::ConnectRequest(env);

  std::printf("\n## portal latency %d ms (sim pid %d, agent pid %d; agent at rest: %ld threads, RSS %ld kB)\n\n",
              latency_ms, (*sim)->pid(), agent_pid, idle.threads, idle.rss_kb);
  std::printf("| %-34s | %6s | %9s | %9s | %9s | %s\n", "path", "n", "p50 ms", "p99 ms", "max ms", "notes");
  std::printf("|%s|%s|%s|%s|%s|%s\n", std::string(36, '-').c_str(), std::string(8, '-').c_str(),
              std::string(11, '-').c_str(), std::string(11, '-').c_str(), std::string(11, '-').c_str(), "---");

  const Percentiles bare = Summarise(BareCheckPolicy((*sim)->address(), like, args.requests));
  Row("floor: bare CheckPolicy", bare, "gRPC portal client -> sim, no agent");
  Percentiles echo;
  {
    EchoServer server(dir / "echo.sock");
    echo = Summarise(EchoRoundTrips(dir / "echo.sock", like, args.requests));
  }
  Row("floor: IPC echo", echo, "Unix socket, same frame, no agent");

  // Warm the hit user, then measure.
  (void)integration::AskAgent((*agent)->socket_path(), like);
  const Sourced hit = SocketRequests(**agent, args.requests, [](int) { return std::string("bench-hit"); });
  Row("cache hit, socket", Summarise(hit.ms), Sources(hit.sources) + (hit.failures ? " FAILURES" : ""));
  const Sourced hit_helper = HelperRequests(**agent, args.helper_requests, [](int) { return std::string("bench-hit"); });
  Row("cache hit, helper (fork/exec)", Summarise(hit_helper.ms),
      hit_helper.failures ? std::to_string(hit_helper.failures) + " FAILURES" : "all admitted");

  const std::string tag = std::to_string(latency_ms);
  const Sourced miss = SocketRequests(**agent, args.requests, [&](int i) { return "miss" + tag + "-" + std::to_string(i); });
  const Percentiles miss_s = Summarise(miss.ms);
  Row("cache miss, socket", miss_s, Sources(miss.sources) + (miss.failures ? " FAILURES" : ""));
  const Sourced miss_helper =
      HelperRequests(**agent, args.helper_requests, [&](int i) { return "hmiss" + tag + "-" + std::to_string(i); });
  const Percentiles miss_helper_s = Summarise(miss_helper.ms);
  Row("cache miss, helper (fork/exec)", miss_helper_s,
      miss_helper.failures ? std::to_string(miss_helper.failures) + " FAILURES" : "all admitted");

  // The storm's floor, then the storm.
  (void)(*sim)->ResetStats();
  const BareStorm bare_storm = BareCheckPolicyStorm((*sim)->address(), like, args.storm_users, args.storm_seconds);
  Row("floor: bare CheckPolicy storm", Summarise(bare_storm.ms),
      "open loop, no agent; client CPU " + std::to_string(static_cast<int>(bare_storm.cpu_ms * 1000 /
                                                                          std::max(1, args.storm_users))) +
          " us/call" + (bare_storm.errors ? ", " + std::to_string(bare_storm.errors) + " ERRORS" : ""));
  auto before = (*sim)->ResetStats();
  if (!before.ok()) Die(before.status().ToString());
  const double agent_cpu0 = ProcessCpuMs(agent_pid), sim_cpu0 = ProcessCpuMs((*sim)->pid()),
               self_cpu0 = ProcessCpuMs(::getpid());
  const auto threads_cpu0 = ThreadCpuMs(agent_pid);
  ProcSampler sampler(agent_pid);
  const StormResult storm = Storm((*agent)->socket_path(), "storm" + tag + "-", args.storm_users, args.storm_seconds);
  const ProcStatus peak = sampler.Stop();
  const ProcStatus after_storm = ReadProcStatus(agent_pid);
  const double agent_cpu = ProcessCpuMs(agent_pid) - agent_cpu0, sim_cpu = ProcessCpuMs((*sim)->pid()) - sim_cpu0,
               self_cpu = ProcessCpuMs(::getpid()) - self_cpu0;
  auto stats = (*sim)->Stats();
  if (!stats.ok()) Die(stats.status().ToString());
  const Percentiles storm_s = Summarise(storm.ms);
  Row("storm (socket, open loop)", storm_s, Sources(storm.sources));

  const double miss_floor = bare.p50 + echo.p50;
  const double miss_ratio = miss_s.p50 / miss_floor;
  const double helper_miss_ratio = miss_helper_s.p50 / (bare.p50 + Summarise(hit_helper.ms).p50);
  const std::uint64_t portal_calls = stats->calls("CheckPolicy");
  const long peak_threads = std::max(peak.threads, after_storm.threads);
  std::printf("\nstorm: %d distinct users scheduled over %.0f ms (last connect at %.0f ms), %d sent, %d answered "
              "(%d allowed), %d errors, wall %.0f ms\n",
              args.storm_users, args.storm_seconds * 1000, storm.send_span_ms, storm.sent, storm.answered,
              storm.allowed, storm.errors, storm.wall_ms);
  std::printf("storm: portal CheckPolicy calls %llu for %d distinct keys; agent threads: %ld at rest, peak %ld; "
              "agent RSS: %ld kB at rest, peak %ld kB (VmHWM %ld kB)\n",
              static_cast<unsigned long long>(portal_calls), args.storm_users, idle.threads, peak_threads,
              idle.rss_kb, std::max(peak.rss_kb, after_storm.rss_kb), after_storm.hwm_kb);
  std::printf("storm: CPU time used during the storm: agent %.0f ms (%.0f us per request), portal sim %.0f ms, "
              "this client %.0f ms\n",
              agent_cpu, agent_cpu * 1000 / std::max(1, storm.answered), sim_cpu, self_cpu);
  std::printf("storm: agent CPU by thread:");
  for (const auto& [name, ms] : ThreadCpuMs(agent_pid)) {
    auto it = threads_cpu0.find(name);
    const double used = ms - (it == threads_cpu0.end() ? 0 : it->second);
    if (used > 0) std::printf(" %s %.0f ms;", name.c_str(), used);
  }
  std::printf("\n");
  auto verdict = [](bool ok) { return ok ? "met" : "MISSED"; };
  std::printf("\ntargets at %d ms:\n", latency_ms);
  std::printf("  miss p50 <= 1.2 x (bare CheckPolicy p50 + IPC echo p50): %.3f / (%.3f + %.3f) = %.2fx  %s\n",
              miss_s.p50, bare.p50, echo.p50, miss_ratio, verdict(miss_ratio <= 1.2));
  std::printf("  (helper miss p50 / (bare p50 + helper hit p50) = %.2fx, for reference)\n", helper_miss_ratio);
  std::printf("  storm: every request answered: %d/%d  %s\n", storm.answered, args.storm_users,
              verdict(storm.answered == args.storm_users));
  std::printf("  storm: p99 <= portal latency + 50 ms: %.1f <= %d  %s\n", storm_s.p99, latency_ms + 50,
              verdict(storm_s.p99 <= latency_ms + 50));
  std::printf("  storm: agent threads <= 16: peak %ld  %s\n", peak_threads, verdict(peak_threads <= 16));
  std::printf("  storm: portal calls = distinct keys: %llu = %d  %s\n", static_cast<unsigned long long>(portal_calls),
              args.storm_users, verdict(portal_calls == static_cast<std::uint64_t>(args.storm_users)));
  std::fflush(stdout);

  if ((*agent)->Stop() != 0) std::fprintf(stderr, "warning: the agent did not stop cleanly\n");
  (void)(*sim)->Stop();
}

// ---- enforcement and outbox on vs off (--variants) ----

struct Variant {
  std::string name;
  bool watch;   // enforcement.watch, with --revoked users revoked through the stream
  bool outbox;  // portal.report_events: every admit appended to the outbox and sent
  std::string agent_binary;  // empty: the agent built with this bench
  int baseline = 0;          // the variant its ratios are to (same round)
};

// The four configurations; or, with --baseline-agent, outbox off/on for that binary and for this build's, all with
// enforcement off — before/after, interleaved in every round.
std::vector<Variant> VariantsOf(const Args& args) {
  if (args.baseline_agent.empty()) {
    return {{"enforcement off, outbox off", false, false, "", 0},
            {"enforcement on,  outbox off", true, false, "", 0},
            {"enforcement off, outbox on ", false, true, "", 0},
            {"enforcement on,  outbox on ", true, true, "", 0}};
  }
  return {{"baseline agent, outbox off", false, false, args.baseline_agent, 0},
          {"baseline agent, outbox on ", false, true, args.baseline_agent, 0},
          {"this agent,     outbox off", false, false, "", 2},
          {"this agent,     outbox on ", false, true, "", 2}};
}

struct VariantRun {
  double hit_p50 = 0, miss_p50 = 0;
  double hit_agent_cpu_us = 0, hit_sim_cpu_us = 0, miss_agent_cpu_us = 0, miss_sim_cpu_us = 0;  // per request
};

VariantRun RunVariant(const Args& args, const Variant& v, const std::string& tag) {
  testing::TempDir dir;
  SimProcess::Options so;
  so.policy_yaml = "default: { allow: true }\nusers: { bench-hit: { allow: true } }\n";
  auto sim = SimProcess::Start(dir.path(), so);
  if (!sim.ok()) Die(sim.status().ToString());
  integration::AgentSettings as = BenchAgentSettings(args, (*sim)->address());
  as.report_events = v.outbox;
  as.agent_binary = v.agent_binary;
  as.extra_yaml = std::string("enforcement: { watch: ") + (v.watch ? "true" : "false") + " }\n";
  auto agent = AgentProcess::Start(dir.path(), as);
  if (!agent.ok()) Die(agent.status().ToString());
  if (v.watch) {
    // The stream open, then K revocations applied by the agent (its log line per revocation).
    SimControl control((*sim)->address());
    const auto deadline = Steady::now() + 10s;
    while (true) {
      auto st = control.Stats();
      if (st.ok() && st->watch_streams_open() >= 1) break;
      if (Steady::now() > deadline) Die("the agent's Watch stream did not open");
      std::this_thread::sleep_for(10ms);
    }
    for (int k = 0; k < args.revoked; ++k) {
      if (auto r = control.RevokeUser("revoked-" + std::to_string(k), "bench"); !r.ok()) Die(r.status().ToString());
    }
    while ((*agent)->CountLogLines("revocation in force") < args.revoked) {
      if (Steady::now() > deadline + 10s) Die("the agent did not apply the revocations");
      std::this_thread::sleep_for(10ms);
    }
  }
  integration::ConnectEnv env;
  env.username = "bench-hit";
  (void)integration::AskAgent((*agent)->socket_path(), integration::ConnectRequest(env));
  VariantRun out;
  const std::chrono::microseconds gap(args.gap_us);
  const pid_t agent_pid = (*agent)->pid(), sim_pid = (*sim)->pid();
  double a0 = ProcessCpuMs(agent_pid), s0 = ProcessCpuMs(sim_pid);
  // Background work a phase caused (outbox commit, ReportConnect, the sim's answer) may still run: let it finish —
  // every admitted connect reported, when the outbox is on — and count it, before the next phase starts (else a
  // sender that holds reports back while connects come would charge the hit phase's reports to the miss phase).
  std::uint64_t admitted = 1;  // the warm-up
  auto settle = [&](int requests) {
    admitted += static_cast<std::uint64_t>(requests);
    const auto deadline = Steady::now() + 30s;
    while (v.outbox && Steady::now() < deadline) {
      auto st = (*sim)->Stats();
      if (st.ok() && st->events_unique >= admitted) break;
      std::this_thread::sleep_for(50ms);
    }
    std::this_thread::sleep_for(300ms);
  };
  const Sourced hit = SocketRequests(**agent, args.requests, [](int) { return std::string("bench-hit"); }, gap);
  settle(args.requests);
  double a1 = ProcessCpuMs(agent_pid), s1 = ProcessCpuMs(sim_pid);
  out.hit_agent_cpu_us = (a1 - a0) * 1000 / args.requests;
  out.hit_sim_cpu_us = (s1 - s0) * 1000 / args.requests;
  const Sourced miss =
      SocketRequests(**agent, args.requests, [&](int i) { return "vmiss" + tag + "-" + std::to_string(i); }, gap);
  settle(args.requests);
  out.miss_agent_cpu_us = (ProcessCpuMs(agent_pid) - a1) * 1000 / args.requests;
  out.miss_sim_cpu_us = (ProcessCpuMs(sim_pid) - s1) * 1000 / args.requests;
  if (hit.failures || miss.failures || hit.sources.count("cache") == 0 || miss.sources.count("portal") == 0) {
    Die(std::string(v.name) + ": unexpected answers: hit " + Sources(hit.sources) + ", miss " + Sources(miss.sources));
  }
  out.hit_p50 = Summarise(hit.ms).p50;
  out.miss_p50 = Summarise(miss.ms).p50;
  if ((*agent)->Stop() != 0) std::fprintf(stderr, "warning: the agent did not stop cleanly\n");
  (void)(*sim)->Stop();
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

void RunVariants(const Args& args) {
  const std::vector<Variant> variants = VariantsOf(args);
  const int count = static_cast<int>(variants.size());
  std::vector<std::vector<VariantRun>> rounds(static_cast<std::size_t>(args.variant_rounds),
                                              std::vector<VariantRun>(variants.size()));
  std::printf("\n| round | %-28s | hit p50 ms | miss p50 ms | CPU us/request, hit: agent / sim | miss: agent / sim |\n"
              "|---|---|---:|---:|---:|---:|\n",
              "variant");
  for (int r = 0; r < args.variant_rounds; ++r) {
    for (int k = 0; k < count; ++k) {
      const int v = (r + k) % count;  // rotate the order every round
      rounds[r][v] = RunVariant(args, variants[v], std::to_string(r) + "-" + std::to_string(v));
      const VariantRun& x = rounds[r][v];
      std::printf("| %d | %-28s | %10.3f | %11.3f | %5.0f / %5.0f | %5.0f / %5.0f |\n", r + 1, variants[v].name.c_str(),
                  x.hit_p50, x.miss_p50, x.hit_agent_cpu_us, x.hit_sim_cpu_us, x.miss_agent_cpu_us, x.miss_sim_cpu_us);
    }
  }
  std::printf("\nmedians over %d rounds; ratio = median of the per-round ratios to the outbox-off variant (of the same agent) of the same "
              "round (target: within 1.05x)\n\n",
              args.variant_rounds);
  std::printf("| %-28s | hit p50 ms | ratio | miss p50 ms | ratio |\n|---|---:|---:|---:|---:|\n", "variant");
  for (int v = 0; v < count; ++v) {
    std::vector<double> hit, miss, hit_ratio, miss_ratio;
    for (const auto& round : rounds) {
      hit.push_back(round[v].hit_p50);
      miss.push_back(round[v].miss_p50);
      const VariantRun& base = round[variants[v].baseline];
      hit_ratio.push_back(round[v].hit_p50 / base.hit_p50);
      miss_ratio.push_back(round[v].miss_p50 / base.miss_p50);
    }
    std::printf("| %-28s | %10.3f | %5.2fx | %11.3f | %5.2fx |\n", variants[v].name.c_str(), Median(hit), Median(hit_ratio),
                Median(miss), Median(miss_ratio));
  }
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  FlagParser(kProgram)
      .IntList("--latencies", &a.latencies)
      .Int("--requests", &a.requests)
      .Int("--helper-requests", &a.helper_requests)
      .Int("--storm-users", &a.storm_users)
      .Text("--agent-log-level", &a.agent_log_level)
      .Executable("--baseline-agent", &a.baseline_agent)
      .Bool("--report-events", &a.report_events)
      .Int("--variants", &a.variant_rounds, 1)
      .Int("--gap-us", &a.gap_us, 0)
      .Int("--revoked", &a.revoked, 0)
      .Double("--storm-seconds", &a.storm_seconds)
      .Parse(argc, argv);
  return a;
}

}  // namespace
}  // namespace oa::bench

int main(int argc, char** argv) {
  oa::SetUpGrpcProcess();  // as the agent and the sim do: the floors run gRPC the same way
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines show at once when stdout is a file
  const auto args = oa::bench::ParseArgs(argc, argv);
  const std::string load = oa::bench::LoadAverage();
  if (args.variant_rounds > 0) {
    std::printf("# decision path, enforcement and outbox on vs off: %d rounds x 4 variants, %d hit + %d miss requests "
                "each (%s), %d users revoked in the enforcement-on variants, portal latency 0; load average at start: %s\n",
                args.variant_rounds, args.requests, args.requests,
                args.gap_us > 0 ? ("paced: " + std::to_string(args.gap_us) + " us between answer and next request").c_str()
                                : "closed loop",
                args.revoked, load.c_str());
    oa::bench::RunVariants(args);
    std::printf("\nload average at end: %s\n", oa::bench::LoadAverage().c_str());
    return 0;
  }
  std::printf("# decision path benchmark: %d requests per sequential path (%d through the helper), storm of %d "
              "users in %.1f s; session reports to the portal %s; load average at start: %s\n",
              args.requests, args.helper_requests, args.storm_users, args.storm_seconds,
              args.report_events ? "on" : "off", load.c_str());
  for (int latency : args.latencies) oa::bench::RunAtLatency(args, latency);
  std::printf("\nload average at end: %s\n", oa::bench::LoadAverage().c_str());
  return 0;
}
