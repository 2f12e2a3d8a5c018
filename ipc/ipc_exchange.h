// The replies of one helper exchange, apart from the event loop that moves its bytes (ipc_server.cc): the reply to
// the authorizer's decision, the acknowledgement of a session event, error replies, the counter each reply bumps,
// and the audit line of a connect decision. No I/O, no connection state.
//
// Thread-safety: pure functions, except AuditDecision, which logs (spdlog is thread-safe).
#pragma once

#include <chrono>
#include <string>

#include "ipc/ipc_server_counters.h"
#include "ipc/ipc_types.h"

namespace oa {

// The reply to the authorizer's answer for connect `request_id`: verdict, source and the deny reason, cut to fit
// what the helper accepts and made valid UTF-8. An Ack for a connect is an authorizer bug; it goes out as an ack,
// which the helper rejects (it admits only an allow).
IpcResponse DecisionReply(const std::string& request_id, IpcReply reply);

// The acknowledgement of a host-update / disconnect (the server answers those itself, never the authorizer).
IpcResponse AckReply(const std::string& request_id);

// A reply carrying only an error: the agent refused the request or the connection.
IpcResponse ErrorReply(const std::string& request_id, std::string error);
// The same without a request id, framed once: for refusals sent straight after accept.
std::string ErrorFrame(std::string error);

// Bumps the replies_* counter of `reply`.
void CountReply(IpcServerCounters& counters, const IpcResponse& reply);

// The one audit line of a connect decision (docs/architecture.md#audit-and-counters), latency from accept to reply.
void AuditDecision(const IpcRequest& request, const IpcResponse& reply,
                   std::chrono::duration<double, std::milli> latency);

}  // namespace oa
