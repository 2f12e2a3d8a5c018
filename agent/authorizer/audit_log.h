// The audit trail: one line per decision and one per session event. Kept apart so that only this file pays for
// spdlog's formatting templates. Thread-safe (spdlog's default logger).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "agent/authorizer/session_registry.h"
#include "ipc/ipc_types.h"
#include "resilience/decision.h"

namespace oa {

// "decision user=… group=… ip=… id=… verdict=… source=… latency_ms=… reason=… request_id=…". Logged at info for
// portal / cache / coalesced, at warning for the degraded sources (stale, fail_open, fail_close).
void LogDecision(const IpcRequest& request, const Decision& decision, std::chrono::nanoseconds latency);

// "session disconnect|host-update id=… user=… bytes_in=… bytes_out=… duration_s=… admitted_by=…".
void LogSessionEvent(const IpcRequest& request, const std::optional<SessionRecord>& admitted);

// A failed portal call (warning): its gRPC code and message.
void LogPortalError(const IpcRequest& leader, std::string_view code, std::string_view message);

}  // namespace oa
