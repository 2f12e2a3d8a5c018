#include "events/delivery_policy.h"

#include <algorithm>

namespace oa {

DeliveryVerdict ClassifyDelivery(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
    // The portal already has an event with this id: it was delivered before (a retry after a lost answer).
    case absl::StatusCode::kAlreadyExists:
      return DeliveryVerdict::kDelivered;
    // The portal looked at this event and will never take it: retrying it would block every event behind it.
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kNotFound:
      return DeliveryVerdict::kPark;
    // Everything else says nothing about the event itself — the portal is down, slow, overloaded, restarting, not
    // (yet) serving EventService, or refusing this agent's credentials (which an operator fixes): keep the event.
    // The outbox's bound is what limits a long outage.
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnauthenticated:
    default:
      return DeliveryVerdict::kRetry;
  }
}

std::chrono::milliseconds RetryBackoff::Next() {
  base_ms_ = base_ms_ == 0 ? static_cast<double>(options_.initial.count()) : base_ms_ * options_.multiplier;
  base_ms_ = std::min(base_ms_, static_cast<double>(options_.max.count()));
  ++failures_;
  // Uniform in [base·(1−jitter), base·(1+jitter)], as before the shared helper.
  const auto ms = Jittered(std::chrono::duration<double, std::milli>(base_ms_), options_.jitter, NextUnit(rng_state_));
  return std::chrono::milliseconds(std::max<long long>(1, static_cast<long long>(ms.count())));
}

}  // namespace oa
