// What a configuration reload (SIGHUP) cannot apply to the running daemon. One table names every part of the
// config that is fixed at start (sockets, the portal connection, the cache's shape, the management and metrics
// listeners...); everything else — portal.timeout, the fail mode, the breaker, logging, agent.shutdown_grace,
// enforcement.revocation_ttl and recheck_rate — is applied at once by the services' Reload. The daemon logs one warning per entry this returns.
//
// Pure function; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "agent/config/config.h"

namespace oa {

// The parts of `next` that differ from what the daemon started with (`started`) and need a restart, each named as
// an operator would look it up ("ipc", "portal (every key but timeout)", ...). Empty when a reload applies it all.
std::vector<std::string_view> ChangesNeedingRestart(const Config& started, const Config& next);

}  // namespace oa
