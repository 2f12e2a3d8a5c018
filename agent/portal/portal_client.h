// PortalClient: asks the portal (vpn.v1.AuthService/CheckPolicy) whether a VPN connection may proceed, and reports
// how the call ended as one of three outcomes — Allow, Deny or Error (docs/architecture.md#outcomes).
//
// This header is deliberately light (no gRPC, no protobuf): the authorizer, the circuit breaker and their tests
// include it, and fakes implement it. The real implementation is MakeGrpcPortalClient (grpc_portal_client.h).
//
// Thread-safety: every method may be called from any thread, concurrently. CheckPolicy never blocks waiting for the
// portal: `done` runs exactly once, normally on a gRPC thread; it may also run on the calling thread before
// CheckPolicy returns (a call refused at once, e.g. after Shutdown or when the channel fails fast), so a caller must
// not hold, around CheckPolicy, a lock that `done` takes. `done` must not block: it runs on gRPC's callback threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ipc/ipc_types.h"
#include "resilience/clock.h"
#include "resilience/decision.h"

namespace oa {

// Everything CheckPolicy sends: what ocserv gave the helper, as the IPC server decoded it, plus who asks and when.
// The query carries the request whole rather than a copy of its fields, so that a new ocserv variable touches only
// the IPC decode and the wire mapping (FillCheckPolicyRequest in check_policy_result.cc, which names the
// proto/vpn/v1/auth.proto field each request field goes to).
struct PolicyQuery {
  IpcRequest request;
  std::string agent_id;
  // When the helper was asked; the epoch (default) means "now" by the client's Clock.
  Clock::WallTime request_time{};
};

// How one CheckPolicy call ended.
struct PolicyAnswer {
  PortalOutcome outcome = PortalOutcome::kError;

  // kAllow / kDeny only.
  std::string deny_reason;                    // kDeny: the portal's reason (may be empty)
  std::optional<std::chrono::seconds> cache_ttl;  // absent: the configured TTL; 0 s: do not cache this decision
  std::uint64_t policy_epoch = 0;             // 0: the portal does not say
  std::vector<std::string> routes;
  std::vector<std::string> dns_servers;
  bool should_disconnect = false;
  std::map<std::string, std::string> metadata;

  // kError only: why. The code is the gRPC status code (absl::StatusCode uses the same numbers), so the breaker can
  // classify it; a reply that arrived but makes no sense has malformed_reply set and code kInternal.
  absl::Status error;
  bool malformed_reply = false;
};

// Counters of one client (a snapshot: plain numbers).
struct PortalClientStatsSnapshot {
  std::uint64_t calls = 0;             // CheckPolicy calls started
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t errors = 0;            // every kError, including the two below
  std::uint64_t malformed_replies = 0;
  std::uint64_t refused_after_shutdown = 0;
  std::uint64_t in_flight = 0;         // started and `done` not yet returned
};

class PortalClient {
 public:
  using Done = std::function<void(PolicyAnswer)>;

  virtual ~PortalClient() = default;

  // Asks the portal. The call is abandoned (kError, DEADLINE_EXCEEDED) `timeout` after it starts; callers pass the
  // smaller of portal.timeout and what is left of their own deadline. See the header comment for where `done` runs.
  virtual void CheckPolicy(PolicyQuery query, std::chrono::milliseconds timeout, Done done) = 0;

  // Stops taking calls (later calls end at once as kError/UNAVAILABLE), waits up to `grace` for calls in flight,
  // cancels what is left (kError/CANCELLED) and returns once every `done` has returned. Idempotent. The destructor
  // does the same with no grace. Never call it from a `done` (it would wait for itself).
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;

  virtual PortalClientStatsSnapshot stats() const = 0;
};

}  // namespace oa
