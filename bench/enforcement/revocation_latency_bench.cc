// Revocation latency (issue 11): from the portal publishing a Revoke (the event's published_at, stamped by the
// reference portal) to occtl started for the revoked user's session, over N revocations while N sessions are live.
//
// What is real: the reference portal `ocserv-portal-sim` as its own process, over loopback mTLS with the dev PKI; the
// agent's enforcement pipeline in this process, wired as agent/daemon/decision_path.cc wires it — the portal channel
// (MakePortalChannel), WatchClient (and its WatchStreamLogic), PolicyEnforcer with a RevocationTable and a
// DecisionCache, SessionEnforcer with the SessionRegistry and the real OcctlPort (MakeOcctlPort: posix_spawn with a
// deadline, as deployed), on a TimerThread and the SystemClock. What is fake: occtl itself — a small C program
// (fake_occtl_clock.c) that writes CLOCK_REALTIME as its first act, so "occtl started" is when occtl's main() ran.
//
// The registry holds N sessions, one per user (bench-user-0 .. N-1); revocation i revokes bench-user-i, whose one
// session must be disconnected. Revokes are published open-loop at --rate per second (each through PortalSimControl,
// one at a time). Reported: published_at -> occtl started (the target: p99 <= 100 ms), and its two halves —
// published_at -> the enforcer asked to disconnect (stream delivery, decoding, revocation in force, cache
// invalidated) and that -> occtl started (queue, spawn, exec, the dynamic loader).
//
// Usage: oa_revocation_latency_bench [--revocations 1000] [--rate 50] [--concurrency 4]
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "agent/authorizer/session_registry.h"
#include "agent/authorizer/timer_thread.h"
#include "agent/enforcement/occtl_port.h"
#include "agent/enforcement/policy_enforcer.h"
#include "agent/enforcement/revocation_table.h"
#include "agent/enforcement/session_enforcer.h"
#include "agent/enforcement/watch_client.h"
#include "agent/portal/grpc_process_setup.h"
#include "agent/portal/portal_channel.h"
#include "resilience/decision_cache.h"
#include "bench/common/bench_figures.h"
#include "bench/common/flag_parser.h"
#include "sim_control.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "temp_dir.h"

namespace oa::bench {
namespace {

using namespace std::chrono_literals;
constexpr char kProgram[] = "oa_revocation_latency_bench";

struct Args {
  int revocations = 1000;
  double rate = 50;
  int concurrency = 4;  // enforcement.disconnect_concurrency's default
};

// Between PolicyEnforcer and SessionEnforcer: notes when the enforcer was asked to disconnect a revoked user, then
// passes the call on unchanged.
class TimedActions final : public SessionActions {
 public:
  explicit TimedActions(SessionActions& next) : next_(next) {}
  void DisconnectRevoked(const Revocation& r, std::optional<Clock::WallTime> published_at) override {
    const auto now = std::chrono::system_clock::now();
    {
      std::lock_guard lock(mu_);
      seen_[r.subject.name] = {published_at ? WallNs(*published_at) : 0, WallNs(now)};
    }
    next_.DisconnectRevoked(r, published_at);
  }
  void Recheck(const Subject& s, std::string_view why) override { next_.Recheck(s, why); }

  struct Seen {
    std::int64_t published_ns = 0, applied_ns = 0;
  };
  std::map<std::string, Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  SessionActions& next_;
  mutable std::mutex mu_;
  std::map<std::string, Seen> seen_;
};

// "<session id> <ns>" lines written by the fake occtl.
std::unordered_map<std::string, std::int64_t> ReadStarts(const std::string& path) {
  std::unordered_map<std::string, std::int64_t> out;
  std::ifstream in(path);
  std::string id;
  long long ns = 0;
  while (in >> id >> ns) out.emplace(id, ns);
  return out;
}

std::string SessionIdOf(int i) { return std::to_string(100000 + i); }

void Run(const Args& args) {
  testing::TempDir dir;
  integration::SimProcess::Options so;
  so.policy_yaml = "default: { allow: true }\n";
  auto sim = integration::SimProcess::Start(dir.path(), so);
  if (!sim.ok()) Die(kProgram, sim.status().ToString());
  SimControl control((*sim)->address());

  // The fake occtl, copied next to its .starts file.
  const std::string occtl = dir / "occtl";
  std::filesystem::copy_file(OA_BENCH_FAKE_OCCTL, occtl);
  ::chmod(occtl.c_str(), 0755);

  const Clock& clock = SystemClock::instance();
  PortalOptions po;
  po.address = (*sim)->address();
  po.ca_file = integration::Pki("ca.pem");
  po.cert_file = integration::Pki("agent-client.pem");
  po.key_file = integration::Pki("agent-client.key");
  po.server_name = "portal.test";
  po.timeout = 2s;
  auto channel = MakePortalChannel(po);
  if (!channel.ok()) Die(kProgram, channel.status().ToString());

  TimerThread timer;
  RevocationTable revocations(clock, 24h);
  DecisionCache cache(DecisionCacheOptions{}, clock);
  SessionRegistry registry;
  for (int i = 0; i < args.revocations; ++i) {
    SessionRecord s;
    s.id = SessionIdOf(i);
    s.username = "bench-user-" + std::to_string(i);
    s.groupname = "staff";
    s.ip_real = "192.0.2.10";
    s.admitted_at = clock.wall_now();
    registry.Admit(std::move(s));
  }
  OcservOptions oo;
  oo.occtl_path = occtl;
  oo.occtl_socket = dir / "occtl.socket";  // never opened by the fake
  auto port = MakeOcctlPort(oo, 5000ms, clock);
  SessionEnforcer::Options eo;
  eo.concurrency = static_cast<std::size_t>(args.concurrency);
  SessionEnforcer sessions(SessionEnforcer::Deps{clock, timer, registry, *port, nullptr, nullptr}, eo);
  sessions.Start();
  TimedActions timed(sessions);
  PolicyEnforcer enforcer(PolicyEnforcer::Deps{revocations, cache, &timed});
  WatchClientOptions wo;
  wo.agent_id = "bench-agent";
  wo.portal_address = po.address;
  WatchClient watch(*channel, WatchClient::Deps{clock, timer, enforcer, {}}, wo);
  watch.Start();
  const auto connect_deadline = std::chrono::steady_clock::now() + 10s;
  while (watch.status().state != StreamState::kStreaming) {
    if (std::chrono::steady_clock::now() > connect_deadline) Die(kProgram, "the Watch stream did not open");
    std::this_thread::sleep_for(5ms);
  }

  std::printf("# revocation latency: %d revocations, %zu live sessions, published at %.0f/s, up to %d occtl calls at once; "
              "sim pid %d; load average at start: %s\n",
              args.revocations, registry.size(), args.rate, args.concurrency, (*sim)->pid(), LoadAverage().c_str());
  const double sim_cpu0 = ProcessCpuMs((*sim)->pid()), self_cpu0 = ProcessCpuMs(::getpid());
  const auto start = std::chrono::steady_clock::now();
  const auto interval = std::chrono::duration<double>(1.0 / args.rate);
  for (int i = 0; i < args.revocations; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval * i));
    auto v = control.RevokeUser("bench-user-" + std::to_string(i), "bench");
    if (!v.ok()) Die(kProgram, v.status().ToString());
  }
  const std::string starts_file = occtl + ".starts";
  const auto done_deadline = std::chrono::steady_clock::now() + 60s;
  while (ReadStarts(starts_file).size() < static_cast<std::size_t>(args.revocations) &&
         std::chrono::steady_clock::now() < done_deadline) {
    std::this_thread::sleep_for(20ms);
  }
  sessions.WaitIdle();
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double sim_cpu = ProcessCpuMs((*sim)->pid()) - sim_cpu0, self_cpu = ProcessCpuMs(::getpid()) - self_cpu0;

  const auto starts = ReadStarts(starts_file);
  const auto seen = timed.seen();
  std::vector<double> total, delivery, spawn;
  int missing = 0;
  for (int i = 0; i < args.revocations; ++i) {
    auto s = seen.find("bench-user-" + std::to_string(i));
    auto o = starts.find(SessionIdOf(i));
    if (s == seen.end() || o == starts.end() || s->second.published_ns == 0) {
      ++missing;
      continue;
    }
    total.push_back(static_cast<double>(o->second - s->second.published_ns) / 1e6);
    delivery.push_back(static_cast<double>(s->second.applied_ns - s->second.published_ns) / 1e6);
    spawn.push_back(static_cast<double>(o->second - s->second.applied_ns) / 1e6);
  }
  std::printf("\n");
  PrintHeader();
  PrintRow("published_at -> occtl started (target)", Summarise(total));
  PrintRow("  published_at -> enforcer asked to disconnect", Summarise(delivery));
  PrintRow("  enforcer asked -> occtl started", Summarise(spawn));
  const auto c = sessions.counters();
  const auto hist = sessions.revocation_latency();
  std::printf("\nsessions disconnected (revocation) %llu, occtl failed %llu, timed out %llu, jobs dropped %llu; "
              "registry left %zu; missing measurements %d\n",
              static_cast<unsigned long long>(c.disconnected_revocation),
              static_cast<unsigned long long>(c.disconnect_failed),
              static_cast<unsigned long long>(c.disconnect_timed_out), static_cast<unsigned long long>(c.jobs_dropped),
              registry.size(), missing);
  std::printf("agent's own histogram (published_at -> occtl returned): %llu observations, mean %.2f ms\n",
              static_cast<unsigned long long>(hist.count), hist.count ? hist.sum_seconds * 1000 / hist.count : 0.0);
  std::printf("wall %.1f s; CPU: this process (pipeline + publisher + the occtl children's spawns) %.0f ms, sim %.0f ms"
              "; revocations in force %s\n",
              wall_s, self_cpu, sim_cpu, revocations.AnyInForce() ? "yes" : "no");
  const auto p = Summarise(total);
  std::printf("\ntarget: p99 published_at -> occtl started <= 100 ms: %.2f ms  %s\n", p.p99,
              p.p99 <= 100 && missing == 0 ? "met" : "MISSED");
  std::printf("load average at end: %s\n", LoadAverage().c_str());
  watch.Shutdown();
  sessions.Stop();
  timer.Stop();
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  FlagParser(kProgram)
      .Int("--revocations", &a.revocations, 1)
      .Double("--rate", &a.rate, FlagParser::kPositive)
      .Int("--concurrency", &a.concurrency, 1)
      .Parse(argc, argv);
  return a;
}

}  // namespace
}  // namespace oa::bench

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines show at once when stdout is a file
  oa::SetUpGrpcProcess();
  // The pipeline logs one line per revocation and per forced disconnect, as deployed: to stderr, apart from the figures.
  spdlog::set_default_logger(spdlog::stderr_color_mt("agent"));
  oa::bench::Run(oa::bench::ParseArgs(argc, argv));
  return 0;
}
