// Helper start-up benchmark: what ocserv pays per connection. fork + execve + waitpid of the real static
// ocserv-agent-auth against the agent's IpcServer with an instant authorizer (a cache hit), interleaved with the
// same for a static C no-op (the floor), in one run. Prints p50/p99 wall time of each and the ratio, and the child's
// own CPU time (user+sys from wait4), which a busy machine disturbs much less than wall time.
// Usage: oa_spawn_bench [iterations=2000]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "ipc/ipc_server.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

// As ocserv-main does it: fork, execve in the child, blocking waitpid in the parent.
std::int64_t SpawnOnce(const char* path, char* const envp[], int* status, std::int64_t* cpu_ns) {
  const auto t0 = SteadyClock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    char* const argv[] = {const_cast<char*>(path), nullptr};
    ::execve(path, argv, envp);
    ::_exit(127);
  }
  rusage ru{};
  ::wait4(pid, status, 0, &ru);
  *cpu_ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000'000LL +
            (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - t0).count();
}

double Mean(const std::vector<std::int64_t>& v) {
  double sum = 0;
  for (auto x : v) sum += static_cast<double>(x);
  return v.empty() ? 0 : sum / static_cast<double>(v.size()) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 2000;
  spdlog::set_level(spdlog::level::warn);

  char dir_tmpl[] = "/tmp/oa-spawn-bench-XXXXXX";
  const std::string dir = ::mkdtemp(dir_tmpl);
  oa::bench::InstantAuthorizer authorizer;
  oa::IpcServerOptions options;
  options.socket_path = dir + "/agent.sock";
  options.allowed_uids = {::getuid()};
  oa::IpcServer server(options, authorizer, nullptr, oa::SystemClock::instance());
  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }

  // A connect environment like ocserv's (both programs get the same one).
  std::vector<std::string> env_strings = {
      "REASON=connect", "ID=12345", "USERNAME=alice", "GROUPNAME=staff", "VHOST=default", "DEVICE=vpns0",
      "USER_AGENT=Open AnyConnect VPN Agent v9.01", "IP_REAL=192.0.2.10", "IP_REAL_LOCAL=192.0.2.1",
      "IP_LOCAL=10.10.0.1", "IP_REMOTE=10.10.0.2", "OCSERV_ROUTES=10.0.0.0/255.0.0.0 172.16.0.0/255.240.0.0 ",
      "OCSERV_DNS=10.0.0.53 ", "OCSERV_AGENT_SOCKET=" + options.socket_path};
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::int64_t> noop_ns, helper_ns, noop_cpu, helper_cpu;
  int bad = 0;
  for (int i = 0; i < iterations + 100; ++i) {  // the first 100 of each are warm-up
    int status = 0;
    std::int64_t nc = 0, hc = 0;
    const auto n = SpawnOnce(OA_STATIC_NOOP_PATH, envp.data(), &status, &nc);
    const auto h = SpawnOnce(OA_HELPER_PATH, envp.data(), &status, &hc);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++bad;
    if (i >= 100) {
      noop_ns.push_back(n);
      helper_ns.push_back(h);
      noop_cpu.push_back(nc);
      helper_cpu.push_back(hc);
    }
  }
  const double n50 = oa::bench::PercentileUs(noop_ns, 50), h50 = oa::bench::PercentileUs(helper_ns, 50);
  std::printf("spawn bench: %d interleaved fork+execve+waitpid runs each\n", iterations);
  std::printf("  static no-op         p50=%7.1f us  p99=%7.1f us\n", n50, oa::bench::PercentileUs(noop_ns, 99));
  std::printf("  ocserv-agent-auth    p50=%7.1f us  p99=%7.1f us  (cache hit; %d non-admit exits)\n", h50,
              oa::bench::PercentileUs(helper_ns, 99), bad);
  std::printf("  ratio helper/no-op   p50 %.2fx\n", h50 / n50);
  const double nc50 = oa::bench::PercentileUs(noop_cpu, 50), hc50 = oa::bench::PercentileUs(helper_cpu, 50);
  std::printf("  child CPU (user+sys) no-op p50=%.0f us  helper p50=%.0f us  mean no-op=%.0f us  helper=%.0f us\n",
              nc50, hc50, Mean(noop_cpu), Mean(helper_cpu));
  std::printf("agent counters: replies_allow=%llu\n",
              static_cast<unsigned long long>(server.counters().replies_allow));
  server.Stop(std::chrono::seconds(1));
  ::rmdir(dir.c_str());
  return bad == 0 ? 0 : 1;
}
