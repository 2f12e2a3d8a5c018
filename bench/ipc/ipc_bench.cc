// IPC path benchmark: the agent's IpcServer (one epoll thread, instant authorizer: a cache hit) against a bare
// Unix-socket echo server (the floor, echo_server.h: accept, read one frame, write it back, close), side by side in
// one run, with 1 and 32 requests in flight. Each request is its own connection carrying a 210-byte connect frame,
// as with the connect-script helper.
//
// Where things run. Both servers live in this process, each on its own thread (the IPC loop thread is found as
// the one thread IpcServer::Start creates, and renamed "oa-ipc-loop"; the echo thread is "oa-echo-loop"). The load
// runs by default in a child forked before any thread starts (load_client.h): separate fd table and mm, so that the
// client's socket/close do not contend with the servers' accept/close. With 2+ allowed CPUs, this process (so
// both server threads) is pinned to the first allowed CPU and the load child to the second; the header line says
// what was pinned.
//
// The client (load_client.h), by default: one epoll thread keeping C connections in flight (nonblocking connect,
// one send, one read of the whole reply, close, next); --client=threads is the original client (C blocking threads).
// Latency: CLOCK_MONOTONIC from before socket()+connect() to the reply's last byte, per request.
//
// Printed per server and per C, over all rounds: requests (successful), p50/p99, requests/s (requests / summed
// wall time of the loads), failures, and CPU per request of
//   srv: the server's loop thread alone (its kernel per-thread CPU clock, = utime+stime of
//        /proc/self/task/<tid>/stat at ns resolution; the sys share is from that stat's tick-sampled split), and its
//        busy share (CPU / wall): near 100 % means the server thread is the bottleneck;
//   cli: the client threads (CLOCK_THREAD_CPUTIME_ID), to see when the client is the bottleneck instead.
// Then the agent/floor ratios; rounds alternate which server goes first. At the end, the agent's counters must
// account for every request (accepted = replies_allow = requests sent, every other counter 0); the exit status is
// 1 if they do not or if any request failed.
//
// Usage: oa_ipc_bench [requests_per_client_1=20000] [requests_per_client_32=1500] [rounds=3] [flags]
//   (requests per connection in flight: a run at C=32 makes 32 x requests_per_client_32 requests)
//   --client=epoll|threads  the load generator (default epoll)
//   --client-threads=N      epoll client threads, the C connections split between them (default 1; when pinned,
//                           they share the client's one CPU)
//   --inproc                run the load in this process instead of a forked child
//   --no-pin                no CPU pinning
//   --legacy                the bench as it was before the forked client: --client=threads --inproc --no-pin
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "echo_server.h"
#include "ipc/ipc_server.h"
#include "ipc/wire_frame.h"
#include "load_client.h"
#include "thread_util.h"

namespace {

using oa::bench::ClientKind;
using oa::bench::LoadSpec;
using oa::bench::LoadStats;
using oa::bench::ThreadCpu;

struct Args {
  long long per_client_1 = 20000;
  long long per_client_32 = 1500;
  int rounds = 3;
  ClientKind client = ClientKind::kEpoll;
  int client_threads = 1;
  bool inproc = false;
  bool pin = true;
};

[[noreturn]] void Usage(const char* msg) {
  std::fprintf(stderr,
               "%s\nusage: oa_ipc_bench [requests_per_client_1] [requests_per_client_32] [rounds] "
               "[--client=epoll|threads] [--client-threads=N] [--inproc] [--no-pin] [--legacy]\n",
               msg);
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      const long long v = std::atoll(arg.c_str());
      if (v <= 0) Usage(("bad number: " + arg).c_str());
      switch (positional++) {
        case 0: a.per_client_1 = v; break;
        case 1: a.per_client_32 = v; break;
        case 2: a.rounds = static_cast<int>(v); break;
        default: Usage("too many arguments");
      }
      continue;
    }
    std::string value;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if ((arg == "--client" || arg == "--client-threads") && i + 1 < argc) {
      value = argv[++i];
    }
    if (arg == "--client" && (value == "epoll" || value == "threads")) {
      a.client = value == "epoll" ? ClientKind::kEpoll : ClientKind::kBlockingThreads;
    } else if (arg == "--client-threads" && std::atoi(value.c_str()) > 0) {
      a.client_threads = std::atoi(value.c_str());
    } else if (arg == "--inproc") {
      a.inproc = true;
    } else if (arg == "--no-pin") {
      a.pin = false;
    } else if (arg == "--legacy") {
      a.client = ClientKind::kBlockingThreads;
      a.inproc = true;
      a.pin = false;
    } else {
      Usage(("bad flag: " + std::string(argv[i])).c_str());
    }
  }
  return a;
}

// One server's results at one concurrency, summed over rounds.
struct Totals {
  std::vector<std::int64_t> ns;
  double seconds = 0;
  long long failures = 0, connect_eagain = 0;
  int first_errno = 0;
  ThreadCpu server;
  std::int64_t client_cpu_ns = 0;

  void Add(const LoadStats& s, const std::vector<std::int64_t>& lat, const ThreadCpu& srv) {
    ns.insert(ns.end(), lat.begin(), lat.end());
    seconds += s.seconds;
    failures += s.failures;
    connect_eagain += s.connect_eagain;
    if (first_errno == 0) first_errno = s.first_errno;
    server += srv;
    client_cpu_ns += s.client_cpu_ns;
  }
  double rate() const { return seconds > 0 ? static_cast<double>(ns.size()) / seconds : 0; }
  long long done() const { return static_cast<long long>(ns.size()) + failures; }
  double server_us_per_req() const { return done() ? static_cast<double>(server.ns) / 1e3 / done() : 0; }
  double client_us_per_req() const { return done() ? static_cast<double>(client_cpu_ns) / 1e3 / done() : 0; }
};

void Report(const char* name, int clients, const Totals& t) {
  const double sys = t.server.sys_share();
  std::printf("  %-6s C=%-2d requests=%-7zu p50=%7.1f us  p99=%7.1f us  %7.0f req/s  failures=%lld", name, clients,
              t.ns.size(), oa::bench::PercentileUs(t.ns, 50), oa::bench::PercentileUs(t.ns, 99), t.rate(), t.failures);
  if (t.failures > 0) std::printf(" (first: %s)", std::strerror(t.first_errno));
  std::printf("  srv_cpu=%5.2f us/req (sys %s%.0f%%, busy %3.0f%%)  cli_cpu=%5.2f us/req", t.server_us_per_req(),
              sys < 0 ? "?" : "", sys < 0 ? 0 : sys * 100,
              t.seconds > 0 ? static_cast<double>(t.server.ns) / 1e9 / t.seconds * 100 : 0, t.client_us_per_req());
  if (t.connect_eagain > 0) std::printf("  connect_eagain=%lld", t.connect_eagain);
  std::printf("\n");
}

std::string MakeFrame() {
  // A realistic connect request (what the helper sends on a typical connection).
  oa::IpcRequest q;
  q.request_id = "12345-6b0000000000";
  q.reason = oa::IpcReason::kConnect;
  q.deadline_ms = 4999;
  q.id = "12345";
  q.username = "alice";
  q.groupname = "staff";
  q.vhost = "default";
  q.device = "vpns0";
  q.user_agent = "Open AnyConnect VPN Agent v9.01";
  q.ip_real = "192.0.2.10";
  q.ip_real_local = "192.0.2.1";
  q.ip_local = "10.10.0.1";
  q.ip_remote = "10.10.0.2";
  q.routes = {"10.0.0.0/255.0.0.0", "172.16.0.0/255.240.0.0"};
  q.dns = {"10.0.0.53"};
  std::string frame;
  oa::EncodeRequestFrame(q, &frame);
  return frame;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  ::signal(SIGPIPE, SIG_IGN);

  char dir_tmpl[] = "/tmp/oa-ipc-bench-XXXXXX";
  if (::mkdtemp(dir_tmpl) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = dir_tmpl;
  enum Target { kFloor = 0, kAgent = 1 };
  const std::vector<std::string> paths = {dir + "/echo.sock", dir + "/agent.sock"};
  const std::string frame = MakeFrame();
  constexpr long long kWarmup = 2000;
  const long long capacity = std::max({kWarmup, args.per_client_1, args.per_client_32 * 32});

  const std::vector<int> cpus = oa::bench::AllowedCpus();
  const bool pin = args.pin && cpus.size() >= 2;
  const int server_cpu = pin ? cpus[0] : -1;
  const int client_cpu = pin ? cpus[1] : -1;

  // Fork the load child first, while this process has one thread.
  std::unique_ptr<oa::bench::LoadChild> child;
  if (!args.inproc) child = std::make_unique<oa::bench::LoadChild>(paths, frame, capacity, client_cpu);
  // Threads inherit the creator's mask: pinning the main thread now pins both server threads.
  if (pin) oa::bench::PinToCpu(0, server_cpu);

  oa::bench::InstantAuthorizer authorizer;
  oa::IpcServerOptions options;
  options.socket_path = paths[kAgent];
  options.allowed_uids = {::getuid()};
  oa::IpcServer server(options, authorizer, nullptr, oa::SystemClock::instance());
  const auto tasks_before = oa::bench::ListTasks();
  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  pid_t agent_tid = 0;
  for (const pid_t t : oa::bench::ListTasks()) {
    if (tasks_before.count(t) == 0) {
      if (agent_tid != 0) {
        std::fprintf(stderr, "IpcServer::Start made more than one thread: cannot tell its loop thread\n");
        return 1;
      }
      agent_tid = t;
    }
  }
  if (agent_tid == 0) {
    std::fprintf(stderr, "IpcServer::Start made no thread\n");
    return 1;
  }
  oa::bench::SetTaskName(agent_tid, "oa-ipc-loop");
  oa::bench::EchoServer echo(paths[kFloor]);
  const pid_t server_tids[] = {echo.tid(), agent_tid};
  // In-process load: the client threads are created by (or are) the main thread, so move it to the client's CPU.
  if (pin && args.inproc) oa::bench::PinToCpu(0, client_cpu);

  std::printf("IPC bench: request frame %zu bytes, %d rounds alternating floor/agent, %zu allowed CPUs, client: %s%s\n",
              frame.size(), args.rounds, cpus.size(),
              args.client == ClientKind::kEpoll ? "epoll" : "blocking threads (one per connection)",
              args.inproc ? ", in the servers' process" : ", forked process");
  if (args.client == ClientKind::kEpoll) std::printf("  epoll client threads: %d (at most C)\n", args.client_threads);
  if (pin) {
    std::printf("  pinned: server process pid %d (oa-ipc-loop tid %d -> CPU %d, oa-echo-loop tid %d -> CPU %d)",
                static_cast<int>(::getpid()), static_cast<int>(agent_tid), oa::bench::PinnedCpu(agent_tid),
                static_cast<int>(echo.tid()), oa::bench::PinnedCpu(echo.tid()));
    if (child) {
      std::printf("; load child pid %d -> CPU %d\n", static_cast<int>(child->pid()), oa::bench::PinnedCpu(child->pid()));
    } else {
      std::printf("; in-process client threads -> CPU %d\n", client_cpu);
    }
  } else {
    std::printf("  not pinned (%s)\n", args.pin ? "fewer than 2 allowed CPUs" : "--no-pin");
  }

  std::vector<std::int64_t> inproc_lat(args.inproc ? static_cast<std::size_t>(capacity) : 0);
  long long agent_sent = 0;
  auto measure = [&](int target, const LoadSpec& spec, Totals* into) {
    std::vector<std::int64_t> lat;
    const ThreadCpu cpu0 = oa::bench::ReadThreadCpu(server_tids[target]);
    LoadStats s;
    if (child) {
      s = child->Run(target, spec, &lat);
    } else {
      s = oa::bench::RunLoad(paths[target], frame, spec, inproc_lat.data());
      lat.assign(inproc_lat.begin(), inproc_lat.begin() + s.ok);
    }
    const ThreadCpu cpu = oa::bench::ReadThreadCpu(server_tids[target]) - cpu0;
    if (target == kAgent) agent_sent += spec.requests;
    if (into) into->Add(s, lat, cpu);
  };

  LoadSpec spec;
  spec.kind = args.client;
  spec.threads = args.client_threads;
  spec.connections = 1;
  spec.requests = kWarmup;
  measure(kFloor, spec, nullptr);  // warm-up
  measure(kAgent, spec, nullptr);
  long long failures = 0;
  for (const int clients : {1, 32}) {
    spec.connections = clients;
    spec.requests = clients * (clients == 1 ? args.per_client_1 : args.per_client_32);
    Totals floor, agent;
    for (int round = 0; round < args.rounds; ++round) {
      // Alternate which goes first, so that neither always runs right after the other's teardown.
      if (round % 2 == 0) {
        measure(kFloor, spec, &floor);
        measure(kAgent, spec, &agent);
      } else {
        measure(kAgent, spec, &agent);
        measure(kFloor, spec, &floor);
      }
    }
    std::printf("C=%d (%d rounds of %lld requests)\n", clients, args.rounds, spec.requests);
    Report("floor", clients, floor);
    Report("agent", clients, agent);
    std::printf("  ratio agent/floor: p50 %.2fx  p99 %.2fx  throughput %.2fx  srv_cpu/req %.2fx\n",
                oa::bench::PercentileUs(agent.ns, 50) / oa::bench::PercentileUs(floor.ns, 50),
                oa::bench::PercentileUs(agent.ns, 99) / oa::bench::PercentileUs(floor.ns, 99),
                agent.rate() / floor.rate(), agent.server_us_per_req() / floor.server_us_per_req());
    std::fflush(stdout);
    failures += floor.failures + agent.failures;
  }

  const auto c = server.counters();
  bool counters_ok = c.accepted == static_cast<std::uint64_t>(agent_sent) && c.replies_allow == c.accepted;
  std::printf("agent counters: accepted=%llu replies_allow=%llu (requests sent %lld, warm-up included)",
              static_cast<unsigned long long>(c.accepted), static_cast<unsigned long long>(c.replies_allow),
              agent_sent);
  oa::ForEachCounter(c, [&](const char* name, std::uint64_t v) {
    if (v == 0 || std::strcmp(name, "accepted") == 0 || std::strcmp(name, "replies_allow") == 0) return;
    std::printf(" %s=%llu", name, static_cast<unsigned long long>(v));
    counters_ok = false;
  });
  std::printf(" -> %s\n", counters_ok ? "match" : "MISMATCH");
  child.reset();
  server.Stop(std::chrono::seconds(1));
  for (const auto& p : paths) ::unlink(p.c_str());
  ::rmdir(dir.c_str());
  return failures == 0 && counters_ok ? 0 : 1;
}
