// Outbox write throughput and size: appends N session events (a realistic disconnect: user, group, session, IPs,
// stats, admitted_by) as fast as the caller can, waits until the writer has committed all of them, and reports
// sustained events/s and bytes on disk per event, for `process` and `power` durability. Also the caller's cost per
// Append (what the IPC loop pays). Reproduce: see BENCHMARKS.md ("events: outbox").
//
// Usage: oa_outbox_bench [events=200000] [dir=/var/tmp]
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "events/outbox.h"

namespace oa {
namespace {

SessionEvent Disconnect(int i) {
  SessionEvent e;
  e.kind = SessionEventKind::kDisconnect;
  e.username = "user" + std::to_string(i % 5000);
  e.groupname = "staff";
  e.session_id = std::to_string(100000 + i);
  e.client_ip = "198.51.100." + std::to_string(i % 250);
  e.vpn_ip = "10.10." + std::to_string((i / 250) % 250) + "." + std::to_string(i % 250);
  e.device = "vpns" + std::to_string(i % 64);
  e.at = std::chrono::system_clock::now();
  e.duration_seconds = 3600;
  e.bytes_received = 123456789;
  e.bytes_sent = 987654321;
  e.metadata["admitted_by"] = "portal";
  return e;
}

double ThreadCpuNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

std::uintmax_t SizeOf(const std::string& path) {
  std::error_code ec;
  std::uintmax_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    const auto n = std::filesystem::file_size(path + suffix, ec);
    if (!ec) total += n;
  }
  return total;
}

void Run(OutboxDurability durability, int n, const std::string& dir) {
  const std::string path = dir + "/oa-outbox-bench-" + std::to_string(::getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + std::string(suffix));
  OutboxOptions o;
  o.path = path;
  o.durability = durability;
  o.max_memory_events = static_cast<std::size_t>(n) + 1;  // measure the store, not the memory bound
  {
    Outbox box(o, SystemClock::instance());
    std::vector<SessionEvent> events;
    events.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) events.push_back(Disconnect(i));  // built beforehand: only Append is timed
    const double cpu0 = ThreadCpuNs();
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& e : events) box.Append(std::move(e));
    const auto t1 = std::chrono::steady_clock::now();
    const double append_cpu_ns = (ThreadCpuNs() - cpu0) / n;
    box.Flush();
    const auto t2 = std::chrono::steady_clock::now();
    const auto s = box.stats();
    const double append_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
    const double secs = std::chrono::duration<double>(t2 - t0).count();
    std::printf("durability=%-7s events=%d committed=%llu dropped=%llu  sustained %.0f events/s  Append: %.0f ns wall, "
                "%.0f ns CPU per event (caller)  ",
                std::string(to_string(durability)).c_str(), n, static_cast<unsigned long long>(s.committed),
                static_cast<unsigned long long>(s.dropped_full + s.dropped_memory), n / secs, append_ns,
                append_cpu_ns);
  }
  // One event per group (Append then Flush): the commit latency of a lone event — what `power` adds per group.
  {
    Outbox box(o, SystemClock::instance());
    const int lone = 1000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < lone; ++i) {
      box.Append(Disconnect(i));
      box.Flush();
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    std::printf("one event per group: %.0f us per commit  ", us / lone);
  }
  // Closed: SQLite checkpoints the WAL into the database on the last close.
  std::printf("on disk %.0f bytes/event\n", static_cast<double>(SizeOf(path)) / n);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + std::string(suffix));
}

}  // namespace
}  // namespace oa

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200000;
  const std::string dir = argc > 2 ? argv[2] : "/var/tmp";
  oa::Run(oa::OutboxDurability::kProcess, n, dir);
  oa::Run(oa::OutboxDurability::kPower, n, dir);
  return 0;
}
