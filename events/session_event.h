// SessionEvent: one record of the portal's view of a session (shared/DESIGN.md "Session records that are never
// lost") — a connect that ocserv admitted, a host-update, or a disconnect with its STATS_* and duration (a forced
// disconnect is a disconnect whose `reason` says why). The outbox stores it, the sender delivers it. Plain data, no
// gRPC: the room's lower layers and the IPC side can build one cheaply.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

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

enum class SessionEventKind : std::uint8_t {
  kConnect = 1,     // vpn.v1 ReportConnect
  kHostUpdate = 2,  // vpn.v1 ReportSessionUpdate (status ACTIVE)
  kDisconnect = 3,  // vpn.v1 ReportDisconnect (a forced disconnect too, with its reason)
};

std::string_view to_string(SessionEventKind kind);

struct SessionEvent {
  SessionEventKind kind = SessionEventKind::kConnect;
  std::string username;
  std::string groupname;
  std::string session_id;  // ocserv's ID (worker pid)
  std::string client_ip;   // connect: IP_REAL
  std::string vpn_ip;      // connect: IP_REMOTE
  std::string device;
  Clock::WallTime at{};    // connected_at / update time / disconnected_at
  DisconnectReason reason = DisconnectReason::kUnspecified;  // disconnect only
  std::int64_t duration_seconds = 0;  // STATS_DURATION
  std::uint64_t bytes_received = 0;   // STATS_BYTES_IN: what the server received from the client
  std::uint64_t bytes_sent = 0;       // STATS_BYTES_OUT
  // Sent as the request's metadata (connect / disconnect): "admitted_by", later "reconstructed" etc. The sender adds
  // "event_id" and "agent_id".
  std::map<std::string, std::string> metadata;
};

// An event as the outbox holds it: `seq` orders delivery (assigned at append, increasing), `event_id` is unique
// and stable across retries and restarts (metadata["event_id"]: the portal drops duplicates by it).
struct StoredEvent {
  std::uint64_t seq = 0;
  std::string event_id;
  Clock::WallTime written_at{};
  SessionEvent event;
};

}  // namespace oa
