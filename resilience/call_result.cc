#include "resilience/call_result.h"

namespace oa {

CallResult ClassifyCall(PortalOutcome outcome, absl::StatusCode code) {
  if (outcome != PortalOutcome::kError) return CallResult::kSuccess;
  switch (code) {
    case absl::StatusCode::kCancelled:
      return CallResult::kIgnored;
    case absl::StatusCode::kOk:  // an Error outcome with an OK status: the reply could not be understood
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return CallResult::kFailure;
    default:
      return CallResult::kIgnored;
  }
}

}  // namespace oa
