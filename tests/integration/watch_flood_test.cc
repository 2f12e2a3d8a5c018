// Issue 11 "Bad input", at daemon level: a portal floods the agent's policy stream (FloodPortal: pre-serialized
// Invalidate events written back to back, well beyond 100 000 per second on the portal's side) while connect
// requests keep arriving over the IPC socket (the real helper, and the same frames sent straight from the test).
// The real ocserv-agent daemon; its counters are read from its /metrics endpoint. Asserted, without timing: every
// request got the portal's or the cache's real answer (never fail mode, stale or the IPC backstop), the stream
// applied every event in version order on one stream (count, last version, nothing stale or invalid), the daemon
// did not crash and stops cleanly. Measured and printed (BENCHMARKS.md, enforcement): the event rate and the
// decision latency during the flood vs before it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include "flood_portal.h"
#include "harness.h"
#include "loopback_http.h"
#include "temp_dir.h"

namespace oa::integration {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr std::uint64_t kEvents = 300'000;

// Waits (bounded) for something that crosses process boundaries; a hang fails, no timing is asserted.
template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = 60s) {
  const auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

std::string HttpGet(int port, const std::string& path) {
  return oa::testing::LoopbackHttpGet(port, path, std::chrono::seconds(20));
}

// The value of one series ("name" or "name{labels}", exactly as exposed); -1 when absent.
double Series(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

// CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; -1 when unreadable.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(f);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

class WatchFloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    occtl_ = dir_.path() + "/occtl";
    std::filesystem::copy_file(std::string(OA_SOURCE_DIR) + "/tests/fakes/fake_occtl.sh", occtl_);
    std::filesystem::permissions(occtl_, std::filesystem::perms::owner_all);
    FloodPortalOptions o;
    o.events = kEvents;
    auto portal = FloodPortal::Start(o);
    ASSERT_TRUE(portal.ok()) << portal.status();
    portal_ = *std::move(portal);
    AgentSettings s;
    s.portal_address = portal_->address();
    s.report_events = false;  // the flood portal serves CheckPolicy and Watch only
    s.metrics = true;
    s.portal_timeout = "2s";  // the defaults: a loaded machine may slow a portal call down, it must not fail it
    s.decision_timeout = "3s";
    s.extra_yaml = "ocserv:\n  occtl_path: " + occtl_ + "\n  occtl_socket: " + dir_.path() + "/occtl.socket\n";
    auto agent = AgentProcess::Start(dir_.path(), s);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    std::smatch m;
    ASSERT_TRUE(Eventually([&] {
      const std::string log = agent_->Log();
      return std::regex_search(log, m, std::regex(R"(metrics: listening on \S+ \(port (\d+)\))"));
    })) << agent_->Log();
    metrics_port_ = std::stoi(m[1]);
  }
  void TearDown() override {
    if (agent_) {
      EXPECT_EQ(agent_->Stop(), 0) << "the daemon stops cleanly after the flood";
      if (HasFailure()) std::cerr << "---- agent log (tail) ----\n" << Tail(agent_->Log(), 6000);
    }
  }
  static std::string Tail(const std::string& s, std::size_t n) { return s.size() > n ? s.substr(s.size() - n) : s; }
  std::string Metrics() { return HttpGet(metrics_port_, "/metrics"); }

  struct Latencies {
    std::vector<double> all, portal, cache;  // round-trips in ms
  };
  // One connect over the socket, as the helper sends it: must be the portal's or the cache's Allow; its round-trip
  // goes into `out`. Half the requests are for u0..u49, among the flood's subjects (their cached answers keep being
  // invalidated), a quarter for 20 users the flood never names (cache hits), a quarter for users never seen before.
  void Ask(int i, Latencies& out) {
    ConnectEnv env;
    env.username = i % 4 == 3   ? "fresh-" + std::to_string(i)
                   : i % 4 == 2 ? "steady-" + std::to_string(i % 20)
                                : "u" + std::to_string(i % 50);
    env.id = std::to_string(10'000 + i);
    const auto t0 = Steady::now();
    auto r = AskAgent(agent_->socket_path(), ConnectRequest(env));
    const double ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    if (!r.ok()) {
      ADD_FAILURE() << "request " << i << ": " << r.status();
    } else {
      EXPECT_TRUE(r->error.empty()) << r->error;
      EXPECT_EQ(r->verdict, WireVerdict::kAllow) << "request " << i << " " << r->reason;
      EXPECT_TRUE(r->source == WireSource::kPortal || r->source == WireSource::kCache)
          << "request " << i << ": source " << static_cast<int>(r->source);
      (r->source == WireSource::kPortal ? out.portal : out.cache).push_back(ms);
    }
    out.all.push_back(ms);
  }
  static std::string Figures(const Latencies& l) {
    std::ostringstream o;
    o << "p50 " << Percentile(l.all, 0.5) << " p99 " << Percentile(l.all, 0.99) << " (" << l.all.size()
      << " requests; portal answers p50 " << Percentile(l.portal, 0.5) << " p99 " << Percentile(l.portal, 0.99) << " n "
      << l.portal.size() << ", cache answers p50 " << Percentile(l.cache, 0.5) << " p99 " << Percentile(l.cache, 0.99)
      << " n " << l.cache.size() << ")";
    return o.str();
  }

  testing::TempDir dir_;
  std::string occtl_;
  std::unique_ptr<FloodPortal> portal_;
  std::unique_ptr<AgentProcess> agent_;
  int metrics_port_ = 0;
};

TEST_F(WatchFloodTest, DecisionsKeepFlowingWhileThePortalFloodsThePolicyStream) {
  ASSERT_TRUE(portal_->WaitForWatch(30s)) << agent_->Log();
  const std::string streaming = "ocserv_agent_policy_stream_state{state=\"streaming\"}";
  ASSERT_TRUE(Eventually([&] { return Series(Metrics(), streaming) == 1; })) << Metrics();

  // Before the flood: the same requests, for the comparison.
  constexpr int kQuiet = 300;
  Latencies quiet;
  for (int i = 0; i < kQuiet; ++i) Ask(i, quiet);

  // During the flood = until the agent applied the last event (the portal is done writing long before: HTTP/2 flow
  // control lets it run megabytes ahead). Its counters are looked at every 100 ms.
  const auto flood_start = Steady::now();
  const double cpu_before = CpuSeconds(agent_->pid());
  ASSERT_TRUE(portal_->StartFlood());
  Latencies during;
  int helpers = 0;
  std::string m;
  auto all_applied = [&] {
    m = Metrics();
    return Series(m, "ocserv_agent_policy_stream_last_applied_version") == static_cast<double>(kEvents);
  };
  double applied_s = 0, agent_cpu_s = 0;
  auto next_look = Steady::now();
  for (int i = kQuiet; Steady::now() - flood_start < 120s; ++i) {  // a hang fails, no timing is asserted
    if (Steady::now() >= next_look) {
      if (all_applied()) {
        applied_s = std::chrono::duration<double>(Steady::now() - flood_start).count();
        agent_cpu_s = CpuSeconds(agent_->pid()) - cpu_before;
        break;
      }
      next_look = Steady::now() + 100ms;
    }
    if (i % 100 == 0) {
      // The real helper, as ocserv runs it: admitted, and the audit line says by whom.
      ConnectEnv env;
      env.username = "u" + std::to_string(i % 50);
      env.id = std::to_string(10'000 + i);
      const HelperRun run = RunHelper(agent_->socket_path(), env);
      EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
      auto rec = agent_->DecisionOf(run.pid, 10s);
      ASSERT_TRUE(rec.has_value());
      EXPECT_TRUE(rec->source == "portal" || rec->source == "cache") << rec->line;
      ++helpers;
      continue;
    }
    Ask(i, during);
  }
  ASSERT_GT(applied_s, 0) << "the agent did not apply every event\n" << m;
  const FloodStats flood = portal_->Stats();
  ASSERT_TRUE(flood.flood_done);
  ASSERT_FALSE(during.all.empty()) << "no request was answered while the flood was on";

  // Every event is applied, in order, on the one stream (a reconnect would show as a second Watch call).
  EXPECT_EQ(Series(m, "ocserv_agent_policy_events_total{kind=\"invalidate\",result=\"applied\"}"),
            static_cast<double>(kEvents));
  EXPECT_EQ(Series(m, "ocserv_agent_policy_events_total{kind=\"invalidate\",result=\"ignored_stale\"}"), 0);
  EXPECT_EQ(Series(m, "ocserv_agent_policy_events_total{kind=\"invalidate\",result=\"invalid\"}"), 0);
  EXPECT_EQ(Series(m, "ocserv_agent_policy_events_total{kind=\"unknown\",result=\"invalid\"}"), 0);
  EXPECT_EQ(Series(m, "ocserv_agent_policy_stream_reconnects_total"), 0);
  EXPECT_EQ(Series(m, streaming), 1);
  EXPECT_EQ(portal_->Stats().watch_calls, 1u);

  // Every answer was the real one: none from the fail mode, a stale entry or the IPC server's backstop.
  for (const char* source : {"stale", "fail_open", "fail_close"}) {
    EXPECT_EQ(Series(m, std::string("ocserv_agent_decisions_by_source_total{source=\"") + source + "\"}"), 0)
        << source;
  }
  EXPECT_EQ(Series(m, "ocserv_agent_ipc_errors_total{reason=\"backstop_timeouts\"}"), 0);
  const double answered = Series(m, "ocserv_agent_decisions_by_source_total{source=\"portal\"}") +
                          Series(m, "ocserv_agent_decisions_by_source_total{source=\"cache\"}") +
                          std::max(0.0, Series(m, "ocserv_agent_decisions_by_source_total{source=\"coalesced\"}"));
  EXPECT_EQ(answered, static_cast<double>(kQuiet + during.all.size() + helpers));
  EXPECT_EQ(::kill(agent_->pid(), 0), 0) << "the daemon is alive";

  std::cout << "flood: " << kEvents << " events written by the portal in " << flood.flood_seconds << " s ("
            << static_cast<long>(static_cast<double>(kEvents) / flood.flood_seconds) << " events/s); all applied by the"
            << " agent " << applied_s << " s after the start (" << static_cast<long>(kEvents / applied_s)
            << " events/s, looked at every 100 ms); agent CPU meanwhile " << agent_cpu_s << " s = "
            << agent_cpu_s * 1e6 / static_cast<double>(kEvents) << " us per event (requests and scrapes included)\n"
            << "decision round-trip over the socket, ms: quiet " << Figures(quiet) << "\n  during the flood "
            << Figures(during) << " + " << helpers << " helper runs; CheckPolicy calls " << flood.check_policy_calls
            << "\n";
}

}  // namespace
}  // namespace oa::integration
