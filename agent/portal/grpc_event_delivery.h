// The gRPC EventDelivery (events/event_delivery.h): one session event per vpn.v1.EventService call — connect as
// ReportConnect, disconnect as ReportDisconnect, host-update as ReportSessionUpdate (status ACTIVE, no stats: ocserv
// gives none then; that RPC has no metadata, so no event_id — an update is a state, a duplicate is harmless).
// Each call carries metadata "event_id", the event's own metadata ("admitted_by", ...) and "agent_id", and has the
// portal timeout as its deadline. It shares nothing with the decision path's PortalClient (own stub, no breaker).
//
// Light header (no gRPC). Thread-safety: see EventDelivery.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/config/portal_options.h"
#include "events/event_delivery.h"
#include "resilience/clock.h"

namespace oa {

// Same TLS files and checks as MakeGrpcPortalClient (one channel recipe, portal_channel.h). A non-empty `agent_id`
// goes into every report's metadata ("agent_id"). At most `max_in_flight` calls at once; more end at once with
// ResourceExhausted (the sender then backs off). Completions run on one thread of its own, at nice `thread_nice`
// (0 = unchanged; the daemon lowers it like the outbox's threads: decisions first).
absl::StatusOr<std::unique_ptr<EventDelivery>> MakeGrpcEventDelivery(const PortalOptions& options, const Clock& clock,
                                                                     std::string agent_id = "",
                                                                     std::size_t max_in_flight = 256,
                                                                     int thread_nice = 0);

}  // namespace oa
