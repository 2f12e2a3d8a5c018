// The floor every later benchmark of the decision path compares with: one CheckPolicy round trip through the real
// gRPC portal client to the reference portal (in this process, no added latency) over loopback mTLS with the dev PKI.
// Closed loop: `concurrency` calls are always outstanding; each finished call starts the next one. Reports calls/s
// (items_per_second) and per-call latency percentiles (p50_us, p99_us) measured from CheckPolicy to `done`.
//
//   build/bench/agent/portal/oa_portal_client_bench --benchmark_min_time=3 --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/portal/grpc_process_setup.h"
#include "agent/portal/grpc_portal_client.h"
#include "dev_pki.h"
#include "fake_clock.h"
#include "portal_sim.h"

namespace oa {
namespace {

using namespace std::chrono_literals;
using sim::DevPki;

struct Fixture {
  std::unique_ptr<sim::PortalSim> sim;
  std::unique_ptr<PortalClient> client;
  testing::FakeClock clock;
};

Fixture& Shared() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    const std::string policy = sim::DevPkiDir() + "/bench-policy.yaml";
    std::ofstream(policy) << "users: { alice: { allow: true, ttl: 60 } }\n";
    sim::PortalSimOptions so;
    so.cert_file = DevPki("portal.pem");
    so.key_file = DevPki("portal.key");
    so.client_ca_file = DevPki("ca.pem");
    so.policy_file = policy;
    fx->sim = *sim::PortalSim::Start(so);
    PortalOptions po;
    po.address = fx->sim->address();
    po.ca_file = DevPki("ca.pem");
    po.cert_file = DevPki("agent-client.pem");
    po.key_file = DevPki("agent-client.key");
    fx->client = *MakeGrpcPortalClient(po, fx->clock);
    return fx;
  }();
  return *f;
}

PolicyQuery AliceQuery() {
  PolicyQuery q;
  q.request.username = "alice";
  q.request.groupname = "staff";
  q.request.ip_real = "198.51.100.7";
  q.request.ip_remote = "10.10.0.2";
  q.request.id = "4242";
  q.request.device = "vpns0";
  q.request.vhost = "vpn.example";
  q.request.user_agent = "Open AnyConnect VPN Agent v9.01";
  return q;
}

void BM_CheckPolicyRoundTrip(benchmark::State& state) {
  Fixture& fx = Shared();
  const int concurrency = static_cast<int>(state.range(0));
  const PolicyQuery query = AliceQuery();

  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t completed = 0;  // guarded by mu
  int outstanding = 0;          // guarded by mu
  std::uint64_t errors = 0;     // guarded by mu
  bool stop = false;            // guarded by mu
  std::vector<double> latencies_us;  // guarded by mu
  latencies_us.reserve(1 << 20);

  std::function<void()> launch = [&] {
    const auto start = std::chrono::steady_clock::now();
    fx.client->CheckPolicy(query, 2000ms, [&, start](PolicyAnswer a) {
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      bool again;
      {
        std::lock_guard lock(mu);
        latencies_us.push_back(us);
        if (a.outcome != PortalOutcome::kAllow) ++errors;
        ++completed;
        again = !stop;
        if (!again) --outstanding;
      }
      cv.notify_all();
      if (again) launch();
    });
  };

  // Warm-up: the channel connects and the TLS handshake happens outside the measurement.
  {
    std::promise<void> warm;
    fx.client->CheckPolicy(query, 5000ms, [&](PolicyAnswer) { warm.set_value(); });
    warm.get_future().wait();
  }
  {
    std::lock_guard lock(mu);
    outstanding = concurrency;
  }
  for (int i = 0; i < concurrency; ++i) launch();

  std::uint64_t waited = 0;
  for (auto _ : state) {
    std::unique_lock lock(mu);
    ++waited;
    cv.wait(lock, [&] { return completed >= waited; });
  }
  std::unique_lock lock(mu);
  stop = true;
  cv.wait(lock, [&] { return outstanding == 0; });

  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us.empty() ? 0.0 : latencies_us[static_cast<std::size_t>(p * (latencies_us.size() - 1))];
  };
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["errors"] = static_cast<double>(errors);
  state.counters["concurrency"] = concurrency;
}
BENCHMARK(BM_CheckPolicyRoundTrip)->Arg(1)->Arg(32)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace oa

int main(int argc, char** argv) {
  oa::SetUpGrpcProcess();  // as the agent does
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
