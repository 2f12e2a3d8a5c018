// The process's descriptor limit (RLIMIT_NOFILE), shared by every socket the agent holds: the IPC listener and its
// connections (VPN logins), the management and metrics connections, the portal channels, log files.
//
// Two defences, because neither is enough alone: each TCP listener caps its own connections (CappedAcceptor for
// management, MetricsHttpServerOptions::max_connections), so no hostile peer can take more than its share; and the
// daemon raises the soft limit to the hard limit at start (systemd's default soft limit is 1024, the hard one 524288),
// so that the IPC server's own max_connections (4096 by default) fits beside those caps. Raising is harmless:
// select() is not used anywhere in the agent, so descriptors above 1024 are fine.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace oa {

struct DescriptorLimit {
  std::uint64_t soft = 0;  // after the raise
  std::uint64_t hard = 0;
  bool raised = false;
};

// Raises the soft RLIMIT_NOFILE to the hard limit. An error only if the limit cannot be read.
absl::StatusOr<DescriptorLimit> RaiseDescriptorLimit();

}  // namespace oa
