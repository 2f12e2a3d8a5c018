// How one portal call counts for the circuit breaker. The classification lives in exactly one function so that the
// breaker, the authorizer and the tests agree on it (docs/architecture.md#outcomes). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "resilience/decision.h"

namespace oa {

enum class CallResult : std::uint8_t {
  kSuccess,  // the portal answered Allow or Deny: it is healthy
  kFailure,  // evidence that the portal is slow or gone
  kIgnored,  // says nothing about the portal's health (our own cancellation, or a non-outage error)
};

// `code` is the gRPC status of the call, passed as absl::StatusCode (same numeric values as grpc::StatusCode), so
// this library needs no gRPC. The rules:
//   - outcome Allow or Deny                                 -> kSuccess (a Deny is a successful call)
//   - outcome Error with CANCELLED (the caller gave up)     -> kIgnored
//   - outcome Error with UNAVAILABLE (also how gRPC reports transport and TLS failures), DEADLINE_EXCEEDED,
//     RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN, DATA_LOSS     -> kFailure
//   - outcome Error with OK: the call completed but the reply was malformed -> kFailure. A portal client may also
//     report a malformed reply as INTERNAL or DATA_LOSS; both count the same.
//   - any other code (INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED, ...) -> kIgnored: the
//     portal is reachable and answering, so it is no outage, but it gave no verdict either. The fail mode still
//     decides the answer; only the breaker ignores it.
CallResult ClassifyCall(PortalOutcome outcome, absl::StatusCode code);

constexpr std::string_view to_string(CallResult r) {
  switch (r) {
    case CallResult::kSuccess: return "success";
    case CallResult::kFailure: return "failure";
    case CallResult::kIgnored: return "ignored";
  }
  return "unknown";
}

}  // namespace oa
