// EventDelivery: "deliver one session event, tell me how it ended" — the seam between the sender (event_sender.h)
// and the portal. agent/portal implements it with vpn.v1.EventService (grpc_event_delivery.cc); tests substitute a
// fake that completes by hand. Light header: no gRPC.
//
// Thread-safety: Deliver from any thread; `done` is called exactly once, from any thread, possibly inline.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "events/session_event.h"

namespace oa {

class EventDelivery {
 public:
  // OK: the portal took it. Otherwise the status the call ended with (ClassifyDelivery, delivery_policy.h, says
  // what it means). A portal that answers success=false is FailedPrecondition with its message.
  using Done = std::function<void(absl::Status)>;

  // The portal answered a ReportSessionUpdate with should_disconnect: (session_id, username, its disconnect_reason).
  // Live enforcement ends the session (SessionEnforcer::DisconnectRequested). Runs on a delivery thread; must not
  // block.
  using DisconnectRequested =
      std::function<void(const std::string& session_id, const std::string& username, const std::string& reason)>;

  virtual ~EventDelivery() = default;
  // Set once, before the first Deliver. Without one, a should_disconnect is logged and counted only.
  virtual void SetOnDisconnectRequested(DisconnectRequested handler) { (void)handler; }
  // Sends `event` with metadata "event_id" (event.event_id) and the event's own metadata ("admitted_by", ...).
  virtual void Deliver(const StoredEvent& event, Done done) = 0;
  // Replies the portal sent with an OK status that could not be believed (none, oversize, unparsable): each ended
  // its delivery as a retryable error.
  virtual std::uint64_t malformed_replies() const { return 0; }
  // Stops: new deliveries end at once with Cancelled; those in flight get up to `grace`, then are cancelled.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
};

}  // namespace oa
