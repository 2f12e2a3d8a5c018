#include "agent/management/occtl_runner.h"

#include <algorithm>

namespace oa {

std::chrono::milliseconds ClampOcctlTimeout(const OcservOptions& options, std::chrono::milliseconds requested) {
  if (requested.count() <= 0) return options.command_timeout_max;
  return std::min(requested, options.command_timeout_max);
}

absl::StatusOr<ProcessResult> RunOcctl(const OcservOptions& options, const OcctlCommand& command,
                                       std::chrono::milliseconds timeout, const Clock& clock) {
  ProcessLimits limits;
  limits.timeout = ClampOcctlTimeout(options, timeout);
  return RunProcess(OcctlArgv(options, command), limits, clock);
}

}  // namespace oa
