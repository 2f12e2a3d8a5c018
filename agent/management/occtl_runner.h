// Runs a validated occtl command (occtl_command.h) with the configured occtl path and socket, a timeout clamped to
// ocserv.command_timeout_max, and captured output. The one place the management API starts a process.
//
// Thread-safety: stateless; concurrent calls run concurrent occtl processes.
#pragma once

#include <chrono>

#include "absl/status/statusor.h"
#include "agent/config/management_options.h"
#include "agent/management/occtl_command.h"
#include "agent/management/process_runner.h"
#include "resilience/clock.h"

namespace oa {

// requested <= 0 means "the maximum".
std::chrono::milliseconds ClampOcctlTimeout(const OcservOptions& options, std::chrono::milliseconds requested);

absl::StatusOr<ProcessResult> RunOcctl(const OcservOptions& options, const OcctlCommand& command,
                                       std::chrono::milliseconds timeout, const Clock& clock);

}  // namespace oa
