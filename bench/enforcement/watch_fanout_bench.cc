// Fan-out (issue 11): the reference portal `ocserv-portal-sim` (its own process) holds N Watch streams — N agents'
// policy-stream clients, each on its own loopback mTLS connection — and publishes one Revoke; latency per agent from
// the event's published_at to that agent having applied it (the revocation in force in its RevocationTable, its
// cache invalidated, its SessionActions asked to disconnect). Repeated for --rounds revocations, one at a time.
// The target: p99 over all deliveries <= 100 ms. Also reported: per round, the time until the last agent had it.
//
// Each of the N clients is the agent's real WatchClient + PolicyEnforcer + RevocationTable + DecisionCache (small),
// in this process, sharing one TimerThread; the SessionActions at the end of each is a recorder (no sessions: this
// measures the portal's delivery, the revocation-latency bench measures the occtl side). Every client has a channel
// of its own, made with the agent's channel arguments (PortalChannelArguments, as MakePortalChannel) plus
// GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL (otherwise gRPC would share one connection among identical channels): N TCP
// connections and N TLS sessions. Needs about N + 100 descriptors in each process (the soft limit is
// raised to the hard one).
//
// Usage: oa_watch_fanout_bench [--agents 1000] [--rounds 20] [--pause-ms 200]
#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "agent/authorizer/timer_thread.h"
#include "agent/enforcement/policy_enforcer.h"
#include "agent/enforcement/revocation_table.h"
#include "agent/enforcement/watch_client.h"
#include "agent/portal/grpc_process_setup.h"
#include "agent/portal/portal_channel.h"
#include "resilience/decision_cache.h"
#include "bench/common/bench_figures.h"
#include "bench/common/flag_parser.h"
#include "sim_control.h"
#include "spdlog/spdlog.h"
#include "temp_dir.h"

namespace oa::bench {
namespace {

using namespace std::chrono_literals;
constexpr char kProgram[] = "oa_watch_fanout_bench";

struct Args {
  int agents = 1000;
  int rounds = 20;
  int pause_ms = 200;
};

// Where every agent's revocations end: the latency of each one, per round (the revoked user is "fanout-<round>").
class Deliveries {
 public:
  Deliveries(int agents, int rounds) : agents_(agents), ms_(static_cast<std::size_t>(rounds)) {}
  void Record(const std::string& user, std::optional<Clock::WallTime> published_at) {
    const auto now = std::chrono::system_clock::now();
    int round = -1;
    if (user.rfind("fanout-", 0) != 0 || !absl::SimpleAtoi(user.substr(7), &round) || round < 0 ||
        round >= static_cast<int>(ms_.size()) || !published_at) {
      ++unexpected_;
      return;
    }
    std::lock_guard lock(mu_);
    ms_[round].push_back(std::chrono::duration<double, std::milli>(now - *published_at).count());
    if (ms_[round].size() == static_cast<std::size_t>(agents_)) cv_.notify_all();
  }
  bool WaitRound(int round, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ms_[round].size() >= static_cast<std::size_t>(agents_); });
  }
  std::vector<std::vector<double>> ms() const {
    std::lock_guard lock(mu_);
    return ms_;
  }
  int unexpected() const { return unexpected_; }

 private:
  const int agents_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<double>> ms_;
  std::atomic<int> unexpected_{0};
};

class RecordingActions final : public SessionActions {
 public:
  explicit RecordingActions(Deliveries& d) : d_(d) {}
  void DisconnectRevoked(const Revocation& r, std::optional<Clock::WallTime> published_at) override {
    d_.Record(r.subject.name, published_at);
  }
  void Recheck(const Subject&, std::string_view) override {}

 private:
  Deliveries& d_;
};

// One simulated agent: its own channel and the enforcement objects the daemon wires around its WatchClient.
struct Agent {
  Agent(std::shared_ptr<grpc::Channel> channel, const Clock& clock, Scheduler& timer, Deliveries& d, int i)
      : revocations(clock, 24h), cache(SmallCache(), clock), actions(d),
        enforcer(PolicyEnforcer::Deps{revocations, cache, &actions}),
        watch(std::move(channel), WatchClient::Deps{clock, timer, enforcer, {}}, Options(i)) {}
  static DecisionCacheOptions SmallCache() {
    DecisionCacheOptions o;
    o.max_entries = 64;
    return o;
  }
  static WatchClientOptions Options(int i) {
    WatchClientOptions o;
    o.agent_id = "fanout-agent-" + std::to_string(i);
    return o;
  }
  RevocationTable revocations;
  DecisionCache cache;
  RecordingActions actions;
  PolicyEnforcer enforcer;
  WatchClient watch;
};

void RaiseDescriptorLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

void Run(const Args& args) {
  RaiseDescriptorLimit();  // before the sim starts: it inherits the limit
  // Each agent logs one line per applied revocation; 1 000 agents in one process would measure the log sink (on
  // real machines each writes its own). Errors still show.
  spdlog::set_level(spdlog::level::err);
  testing::TempDir dir;
  integration::SimProcess::Options so;
  so.policy_yaml = "default: { allow: true }\n";
  auto sim = integration::SimProcess::Start(dir.path(), so);
  if (!sim.ok()) Die(kProgram, sim.status().ToString());
  SimControl control((*sim)->address());

  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadWholeFile(integration::Pki("ca.pem"));
  tls.pem_cert_chain = ReadWholeFile(integration::Pki("agent-client.pem"));
  tls.pem_private_key = ReadWholeFile(integration::Pki("agent-client.key"));
  auto creds = grpc::SslCredentials(tls);
  PortalOptions portal;  // the agent's channel recipe (MakePortalChannel's arguments), with the defaults' keepalive
  portal.server_name = "portal.test";

  const Clock& clock = SystemClock::instance();
  TimerThread timer;
  Deliveries deliveries(args.agents, args.rounds);
  std::vector<std::unique_ptr<Agent>> agents;
  agents.reserve(static_cast<std::size_t>(args.agents));
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < args.agents; ++i) {
    grpc::ChannelArguments ca = PortalChannelArguments(portal);
    ca.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    agents.push_back(std::make_unique<Agent>(grpc::CreateCustomChannel((*sim)->address(), creds, ca), clock, timer,
                                             deliveries, i));
    agents.back()->watch.Start();
  }
  // All streams open, as the portal counts them, and every client streaming (it has had its first Heartbeat).
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::uint64_t open = 0;
  while (true) {
    auto st = control.Stats();
    if (!st.ok()) Die(kProgram, st.status().ToString());
    open = st->watch_streams_open();
    int streaming = 0;
    for (const auto& a : agents) streaming += a->watch.status().state == StreamState::kStreaming;
    if (open >= static_cast<std::uint64_t>(args.agents) && streaming == args.agents) break;
    if (std::chrono::steady_clock::now() > deadline) {
      Die(kProgram, "only " + std::to_string(open) + " streams open, " + std::to_string(streaming) + " streaming");
    }
    std::this_thread::sleep_for(50ms);
  }
  const double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ProcFigures sim_fig = ReadProcFigures((*sim)->pid()), self_fig = ReadProcFigures(::getpid());
  std::printf("# watch fan-out: %d agents (one mTLS connection and one Watch stream each), %d revocations one at a "
              "time, %d ms apart; sim pid %d; load average at start: %s\n",
              args.agents, args.rounds, args.pause_ms, (*sim)->pid(), LoadAverage().c_str());
  std::printf("streams open at the portal: %llu, set up in %.1f s; portal process: %ld threads, %ld fds, RSS %ld kB; "
              "this process (%d agents): %ld threads, %ld fds, RSS %ld kB\n",
              static_cast<unsigned long long>(open), setup_s, sim_fig.threads, sim_fig.fds, sim_fig.rss_kb,
              args.agents, self_fig.threads, self_fig.fds, self_fig.rss_kb);

  const double sim_cpu0 = ProcessCpuMs((*sim)->pid()), self_cpu0 = ProcessCpuMs(::getpid());
  const auto rounds_start = std::chrono::steady_clock::now();
  int incomplete = 0;
  std::vector<double> publish_ms;  // the PublishPolicyEvent call: the sim queues the event on every stream inside it
  for (int r = 0; r < args.rounds; ++r) {
    const auto p0 = std::chrono::steady_clock::now();
    auto v = control.RevokeUser("fanout-" + std::to_string(r), "bench");
    publish_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - p0).count());
    if (!v.ok()) Die(kProgram, v.status().ToString());
    if (!deliveries.WaitRound(r, 10s)) ++incomplete;
    std::this_thread::sleep_for(std::chrono::milliseconds(args.pause_ms));
  }
  const double sim_cpu = ProcessCpuMs((*sim)->pid()) - sim_cpu0, self_cpu = ProcessCpuMs(::getpid()) - self_cpu0;
  const double rounds_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - rounds_start).count();

  std::vector<double> all, last;
  std::size_t delivered = 0;
  for (const auto& round : deliveries.ms()) {
    all.insert(all.end(), round.begin(), round.end());
    delivered += round.size();
    if (!round.empty()) last.push_back(*std::max_element(round.begin(), round.end()));
  }
  std::printf("\n");
  PrintHeader();
  PrintRow("published_at -> applied, every agent (target)", Summarise(all));
  PrintRow("published_at -> the last agent applied, per round", Summarise(last));
  PrintRow("PublishPolicyEvent call (control client), per round", Summarise(publish_ms));
  // Per revocation and per stream: the CPU of the whole rounds divided by the revocations, so it includes the
  // sim's Heartbeat to every stream every 5 s (about one per 20 rounds here) — the same in every run.
  const double per_rev = 1.0 / args.rounds, per_stream_us = 1000.0 / args.rounds / args.agents;
  std::printf("\ndelivered %zu of %d (%d rounds incomplete after 10 s), unexpected %d\n", delivered,
              args.agents * args.rounds, incomplete, deliveries.unexpected());
  std::printf("CPU during the rounds (%.1f s): portal %.0f ms (%.1f ms per revocation, %.0f us per stream), agents "
              "%.0f ms (%.1f ms per revocation, %.0f us per stream)\n",
              rounds_s, sim_cpu, sim_cpu * per_rev, sim_cpu * per_stream_us, self_cpu, self_cpu * per_rev,
              self_cpu * per_stream_us);
  const auto p = Summarise(all);
  std::printf("\ntarget: p99 published_at -> applied over all agents <= 100 ms: %.2f ms  %s\n", p.p99,
              p.p99 <= 100 && delivered == static_cast<std::size_t>(args.agents * args.rounds) ? "met" : "MISSED");
  std::printf("load average at end: %s\n", LoadAverage().c_str());
  for (auto& a : agents) a->watch.Shutdown();
  timer.Stop();
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  FlagParser(kProgram)
      .Int("--agents", &a.agents, 1)
      .Int("--rounds", &a.rounds, 1)
      .Int("--pause-ms", &a.pause_ms, 0)
      .Parse(argc, argv);
  return a;
}

}  // namespace
}  // namespace oa::bench

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines show at once when stdout is a file
  oa::SetUpGrpcProcess();
  oa::bench::Run(oa::bench::ParseArgs(argc, argv));
  return 0;
}
