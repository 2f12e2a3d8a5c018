// How a helper request (ipc/ipc_types.h) becomes the decision cache's key fields and the portal's CheckPolicy query.
// Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "agent/portal/event_reporter.h"
#include "agent/portal/portal_client.h"
#include "ipc/ipc_types.h"
#include "resilience/cache_key.h"

namespace oa {

// Views into `request`: it must outlive the result.
KeyFieldValues KeyFieldValuesOf(const IpcRequest& request);

// Every field the anchor protocol has, plus the rest of what ocserv gave the helper.
PolicyQuery PolicyQueryOf(const IpcRequest& request, std::string_view agent_id, Clock::WallTime now);

// The portal's session reports (vpn.v1.EventService). `admitted_by` is the source of the admitting decision
// (metadata "admitted_by": the portal learns which sessions it did not itself admit), "" when unknown. The reporter
// adds the agent's id.
ConnectEvent ConnectEventOf(const IpcRequest& request, std::string_view admitted_by, Clock::WallTime now);
DisconnectEvent DisconnectEventOf(const IpcRequest& request, std::string_view admitted_by, Clock::WallTime now);

}  // namespace oa
