// Figures the benchmarks print (enforcement, decision path): percentiles, the wall clock as nanoseconds (the unit
// published_at is compared in), a process's (or a thread's) CPU, threads, RSS and descriptors from /proc.
// Header-only: each benchmark is one translation unit.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace oa::bench {

[[noreturn]] inline void Die(const char* program, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", program, why.c_str());
  std::exit(1);
}

inline std::int64_t WallNs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct Percentiles {
  std::size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentiles of milliseconds.
inline Percentiles Summarise(std::vector<double> ms) {
  Percentiles s;
  s.n = ms.size();
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * (ms.size() - 1) + 0.5))]; };
  s.p50 = pct(0.50);
  s.p90 = pct(0.90);
  s.p99 = pct(0.99);
  s.max = ms.back();
  return s;
}

inline void PrintRow(const char* what, const Percentiles& s) {
  std::printf("| %-46s | %6zu | %8.2f | %8.2f | %8.2f | %8.2f |\n", what, s.n, s.p50, s.p90, s.p99, s.max);
}
inline void PrintHeader() {
  std::printf("| %-46s | %6s | %8s | %8s | %8s | %8s |\n", "ms", "n", "p50", "p90", "p99", "max");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(48, '-').c_str(), std::string(8, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str());
}

// Threads, RSS and its high-water mark of a process, from /proc/PID/status.
struct ProcStatus {
  long threads = 0, rss_kb = 0, hwm_kb = 0;
};
inline ProcStatus ReadProcStatus(pid_t pid) {
  ProcStatus s;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    auto value = [&](const char* key, long* out) {
      if (line.rfind(key, 0) == 0) *out = std::strtol(line.c_str() + std::strlen(key), nullptr, 10);
    };
    value("Threads:", &s.threads);
    value("VmRSS:", &s.rss_kb);
    value("VmHWM:", &s.hwm_kb);
  }
  return s;
}

// Threads, RSS and open descriptors of a process, from /proc.
struct ProcFigures {
  long threads = 0, rss_kb = 0, fds = 0;
};
inline ProcFigures ReadProcFigures(pid_t pid) {
  const ProcStatus status = ReadProcStatus(pid);
  ProcFigures f;
  f.threads = status.threads;
  f.rss_kb = status.rss_kb;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++f.fds;
  }
  return f;
}

// User + system CPU, ms, from the text of a /proc/.../stat file (fields 14 and 15, counted after the command name,
// which may hold spaces and parentheses). 0 if the text is not a stat line.
inline double StatCpuMs(const std::string& stat_text) {
  const auto close = stat_text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat_text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// User + system CPU of a process so far, ms.
inline double ProcessCpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  return StatCpuMs(text);
}

// CPU ms so far of each thread of a process, by "comm (tid)".
inline std::map<std::string, double> ThreadCpuMs(pid_t pid) {
  std::map<std::string, double> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(entry.path() / "stat");
    std::string text;
    std::getline(in, text);
    const auto open = text.find('('), close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    out[text.substr(open + 1, close - open - 1) + " (" + entry.path().filename().string() + ")"] = StatCpuMs(text);
  }
  return out;
}

inline std::string LoadAverage() {
  std::string load;
  std::getline(std::ifstream("/proc/loadavg"), load);
  return load;
}

}  // namespace oa::bench
