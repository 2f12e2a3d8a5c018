// ocserv-portal-sim: the reference portal as a program, for the demo, benchmarks and tests that need a separate
// process (SIGHUP reload, restart). See portal_sim.h for what it serves and --help for the flags.
#include <signal.h>
#include <stdio.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "agent/portal/grpc_process_setup.h"
#include "absl/strings/numbers.h"
#include "portal_sim.h"
#include "spdlog/spdlog.h"

namespace {

constexpr char kUsage[] = R"(usage: ocserv-portal-sim --cert FILE --key FILE [options]
  --listen HOST:PORT     where to serve (default 127.0.0.1:0; port 0 picks a free port)
  --port-file FILE       write the bound port here once serving (atomically: temp file + rename)
  --cert FILE --key FILE the server certificate and its key
  --client-ca FILE       require client certificates signed by this CA (default: do not ask for one)
  --policy FILE          YAML policy (tests/fakes/portal_sim/sim_policy.h); SIGHUP reloads it
  --latency-ms N         add N ms before every vpn.v1 answer
  --error-rate R         answer a share R (0..1) of vpn.v1 calls with --error-code (default 14, UNAVAILABLE)
  --error-code N
  --hang                 accept vpn.v1 calls and never answer them
  --refuse-tls           accept TCP connections and close them at once (no TLS, no gRPC)
  --heartbeat-ms N       PolicyWatch: a Heartbeat every N ms (default 5000)
  --watch-log N          PolicyWatch: events held for resumption (default 1000)
  --no-policy-watch      do not serve ocserv_agent.v1.PolicyWatch (agents get UNIMPLEMENTED)
Faults can be changed at run time through ocserv_agent.v1.PortalSimControl on the same port.
SIGHUP reloads the policy; SIGTERM or SIGINT stops.
)";

[[noreturn]] void Usage(const std::string& error) {
  if (!error.empty()) std::cerr << "ocserv-portal-sim: " << error << "\n";
  std::cerr << kUsage;
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  oa::SetUpGrpcProcess();
  oa::sim::PortalSimOptions options;
  std::string port_file;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(flag + " needs a value");
      return argv[++i];
    };
    auto number = [&](auto* out) {
      const std::string v = value();
      if (!absl::SimpleAtoi(v, out)) Usage(flag + ": not a number: " + v);
    };
    if (flag == "--listen") options.listen = value();
    else if (flag == "--port-file") port_file = value();
    else if (flag == "--cert") options.cert_file = value();
    else if (flag == "--key") options.key_file = value();
    else if (flag == "--client-ca") options.client_ca_file = value();
    else if (flag == "--policy") options.policy_file = value();
    else if (flag == "--latency-ms") number(&options.faults.latency_ms);
    else if (flag == "--error-code") number(&options.faults.error_code);
    else if (flag == "--error-rate") {
      const std::string v = value();
      if (!absl::SimpleAtod(v, &options.faults.error_rate) || options.faults.error_rate < 0 ||
          options.faults.error_rate > 1) {
        Usage("--error-rate: expected a number in 0..1, got " + v);
      }
    } else if (flag == "--hang") options.faults.hang = true;
    else if (flag == "--refuse-tls") options.refuse_tls = true;
    else if (flag == "--no-policy-watch") options.policy_watch = false;
    else if (flag == "--heartbeat-ms") {
      std::uint32_t ms = 0;
      number(&ms);
      if (ms == 0) Usage("--heartbeat-ms must be > 0");
      options.watch_heartbeat_interval = std::chrono::milliseconds(ms);
    } else if (flag == "--watch-log") {
      std::uint32_t n = 0;
      number(&n);
      options.watch_log_size = n;
    }
    else if (flag == "--help" || flag == "-h") Usage("");
    else Usage("unknown flag " + flag);
  }

  // Signals are taken synchronously by sigwait below: block them before any thread starts so that none gets them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto sim = oa::sim::PortalSim::Start(options);
  if (!sim.ok()) {
    std::cerr << "ocserv-portal-sim: " << sim.status().ToString() << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << (*sim)->port() << "\n";
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      std::cerr << "ocserv-portal-sim: cannot write " << port_file << "\n";
      return 1;
    }
  }
  std::cout << "ocserv-portal-sim: listening on " << (*sim)->address() << std::endl;

  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      (void)(*sim)->ReloadPolicy();  // logs either way; a bad file keeps the old policy
      continue;
    }
    spdlog::info("portal-sim: signal {}, shutting down", sig);
    (*sim)->Shutdown();
    return 0;
  }
}
