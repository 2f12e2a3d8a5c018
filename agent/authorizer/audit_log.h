// The audit trail of session events, apart so that only this file pays for spdlog's formatting
// templates. (The one line per connect decision is written by the IPC server, ipc/ipc_server.cc, which sees every
// answer, the backstop's included, and the latency from accept.) Thread-safe (spdlog's default logger).
#pragma once

#include <optional>

#include "agent/authorizer/session_registry.h"
#include "ipc/ipc_types.h"
#include "resilience/decision.h"

namespace oa {

// "session disconnect|host-update id=… user=… bytes_in=… bytes_out=… duration_s=… admitted_by=…". With
// logging.format: json each key=value becomes a JSON field of its own (agent/daemon/audit_json.h): keep the form.
void LogSessionEvent(const IpcRequest& request, const std::optional<SessionRecord>& admitted);

}  // namespace oa
