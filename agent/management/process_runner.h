// Runs one program by absolute path with an argv — posix_spawn, never a shell — and waits for it with a deadline:
// stdout and stderr are captured up to a cap, and a program still running at the deadline is killed (SIGKILL to its
// whole process group, so that its own children die too). The child gets a fixed minimal environment, /dev/null
// as stdin and no other descriptor of ours. The output is returned as valid UTF-8 (it goes into proto3 strings):
// invalid bytes become '?', and the cap cuts at a character boundary.
//
// Thread-safety: RunProcess may be called from several threads at once; each call owns its child.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "resilience/clock.h"

namespace oa {

struct ProcessLimits {
  std::chrono::milliseconds timeout{30000};
  std::size_t max_output_bytes = 1 << 20;  // per stream; the rest is read and discarded
};

struct ProcessResult {
  int exit_code = -1;        // exit status, or 128 + signal number when killed by a signal
  bool timed_out = false;    // killed by us at the deadline
  bool output_truncated = false;
  std::string stdout_text;
  std::string stderr_text;
};

// argv[0] must be an absolute path. Errors (as a status) only when the program could not be started; a program that
// ran and failed is an OK result with its exit code.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv, const ProcessLimits& limits,
                                         const Clock& clock);

}  // namespace oa
