// The standard process_* metrics of the agent itself, read from /proc/self (Linux): CPU time, resident memory, open
// and maximum file descriptors, start time. The parsers are pure (tested on fixed /proc text); ReadProcessSnapshot
// reads the live files at scrape time.
//
// Thread-safety: pure functions; ReadProcessSnapshot only reads files.
#pragma once

#include <optional>
#include <string_view>

#include "agent/metrics/agent_snapshot.h"

namespace oa {

struct ProcStatTimes {
  double cpu_seconds = 0;          // utime + stime
  double start_after_boot_seconds = 0;  // starttime
};

// /proc/self/stat: fields 14, 15 (utime, stime) and 22 (starttime), in clock ticks. The command name (field 2) may
// hold spaces and parentheses, so fields are counted from the last ')'.
std::optional<ProcStatTimes> ParseProcStat(std::string_view stat, long ticks_per_second);
// /proc/stat: the "btime" line (boot time, unix seconds).
std::optional<double> ParseBootTime(std::string_view proc_stat);
// /proc/self/statm: the second field (resident pages).
std::optional<std::uint64_t> ParseResidentPages(std::string_view statm);

// Everything at once; a value that cannot be read stays 0.
ProcessSnapshot ReadProcessSnapshot();

}  // namespace oa
