// How a helper request (ipc/ipc_types.h) becomes the decision cache's key fields and the portal's CheckPolicy query.
// Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "agent/portal/portal_client.h"
#include "events/session_event.h"
#include "ipc/ipc_types.h"
#include "resilience/cache_key.h"

namespace oa {

// Views into `request`: it must outlive the result.
KeyFieldValues KeyFieldValuesOf(const IpcRequest& request);

// The request whole, with the agent id and the time (the wire mapping is FillCheckPolicyRequest).
PolicyQuery PolicyQueryOf(const IpcRequest& request, std::string_view agent_id, Clock::WallTime now);

// The session events the outbox records for the portal (vpn.v1.EventService). `admitted_by` is the source of the
// admitting decision (metadata "admitted_by": the portal learns which sessions it did not itself admit), "" when
// unknown. The delivery adds the event id and the agent's id.
SessionEvent ConnectEventOf(const IpcRequest& request, std::string_view admitted_by, Clock::WallTime now);
SessionEvent HostUpdateEventOf(const IpcRequest& request, std::string_view admitted_by, Clock::WallTime now);
SessionEvent DisconnectEventOf(const IpcRequest& request, std::string_view admitted_by, Clock::WallTime now);

}  // namespace oa
