#include "agent/metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace oa {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The n-th space-separated field of `text` (0-based), or empty.
std::string_view Field(std::string_view text, int n) {
  std::size_t pos = 0;
  for (int i = 0;; ++i) {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    const std::size_t end = text.find(' ', pos);
    if (i == n) return text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (end == std::string_view::npos) return {};
    pos = end;
  }
}

template <class T>
std::optional<T> Number(std::string_view s) {
  T v{};
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<ProcStatTimes> ParseProcStat(std::string_view stat, long ticks_per_second) {
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  // After ") ": field 3 (state) is index 0, so field N is index N - 3.
  const std::string_view rest = stat.substr(paren + 1);
  const auto utime = Number<unsigned long long>(Field(rest, 14 - 3));
  const auto stime = Number<unsigned long long>(Field(rest, 15 - 3));
  const auto start = Number<unsigned long long>(Field(rest, 22 - 3));
  if (!utime || !stime || !start) return std::nullopt;
  const double hz = static_cast<double>(ticks_per_second);
  return ProcStatTimes{static_cast<double>(*utime + *stime) / hz, static_cast<double>(*start) / hz};
}

std::optional<double> ParseBootTime(std::string_view proc_stat) {
  for (std::size_t pos = 0; pos < proc_stat.size();) {
    std::size_t end = proc_stat.find('\n', pos);
    if (end == std::string_view::npos) end = proc_stat.size();
    const std::string_view line = proc_stat.substr(pos, end - pos);
    if (line.rfind("btime ", 0) == 0) {
      if (auto v = Number<unsigned long long>(Field(line, 1))) return static_cast<double>(*v);
      return std::nullopt;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> ParseResidentPages(std::string_view statm) {
  std::string_view f = Field(statm, 1);
  while (!f.empty() && (f.back() == '\n' || f.back() == ' ')) f.remove_suffix(1);
  return Number<std::uint64_t>(f);
}

ProcessSnapshot ReadProcessSnapshot() {
  ProcessSnapshot p;
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (auto t = ParseProcStat(ReadFile("/proc/self/stat"), hz)) {
    p.cpu_seconds = t->cpu_seconds;
    if (auto boot = ParseBootTime(ReadFile("/proc/stat"))) p.start_time_seconds = *boot + t->start_after_boot_seconds;
  }
  if (auto pages = ParseResidentPages(ReadFile("/proc/self/statm"))) {
    p.resident_bytes = *pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    std::uint64_t n = 0;
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    p.open_fds = n > 0 ? n - 1 : 0;  // minus the descriptor opendir itself holds
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) p.max_fds = static_cast<std::uint64_t>(limit.rlim_cur);
  return p;
}

}  // namespace oa
