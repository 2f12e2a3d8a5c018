// EventReporter: tells the portal about sessions (vpn.v1.EventService ReportConnect / ReportDisconnect),
// fire-and-forget. A report never delays or changes a decision: it is sent in the background with the portal
// timeout, is not retried, and is dropped (counted, logged) when `max_in_flight` reports are already outstanding or
// the reporter is shut down. Losing an event is acceptable; stalling ocserv is not.
//
// Light header (no gRPC). Thread-safety: every method may be called from any thread; Report* never block.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/config/portal_options.h"
#include "resilience/clock.h"

namespace oa {

// vpn.v1.DisconnectReason, same numbers.
enum class DisconnectReason : std::uint8_t {
  kUnspecified = 0,
  kUserInitiated = 1,
  kAdminForced = 2,
  kIdleTimeout = 3,
  kSessionLimit = 4,
  kCertificateRevoked = 5,
  kPolicyViolation = 6,
  kServerShutdown = 7,
  kConnectionError = 8,
};

struct ConnectEvent {
  std::string username;
  std::string session_id;
  std::string client_ip;
  std::string vpn_ip;
  std::string device;
  std::string groupname;
  Clock::WallTime connected_at{};  // epoch = now by the reporter's Clock
  std::map<std::string, std::string> metadata;
};

struct DisconnectEvent {
  std::string username;
  std::string session_id;
  Clock::WallTime disconnected_at{};  // epoch = now by the reporter's Clock
  DisconnectReason reason = DisconnectReason::kUnspecified;
  std::int64_t duration_seconds = 0;  // STATS_DURATION
  std::uint64_t bytes_received = 0;   // STATS_BYTES_IN
  std::uint64_t bytes_sent = 0;       // STATS_BYTES_OUT
  std::map<std::string, std::string> metadata;
};

struct EventReporterStatsSnapshot {
  std::uint64_t sent = 0;       // reports started
  std::uint64_t succeeded = 0;  // the portal answered success
  std::uint64_t failed = 0;     // gRPC error, a malformed reply, or the portal answered success=false
  std::uint64_t malformed_replies = 0;  // of `failed`: OK status but no reply, or one that does not parse
  std::uint64_t dropped = 0;    // never sent: too many in flight, or shut down
  std::uint64_t in_flight = 0;
};

class EventReporter {
 public:
  virtual ~EventReporter() = default;
  virtual void ReportConnect(ConnectEvent event) = 0;
  virtual void ReportDisconnect(DisconnectEvent event) = 0;
  // Stops taking reports, waits up to `grace` for those in flight, cancels the rest. Idempotent; the destructor does
  // the same with no grace.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
  virtual EventReporterStatsSnapshot stats() const = 0;
};

// Same TLS files and checks as MakeGrpcPortalClient; each report's deadline is options.timeout. A non-empty
// `agent_id` goes into every report's metadata ("agent_id").
absl::StatusOr<std::unique_ptr<EventReporter>> MakeGrpcEventReporter(const PortalOptions& options, const Clock& clock,
                                                                    std::size_t max_in_flight = 256,
                                                                    std::string agent_id = "");

}  // namespace oa
