// PolicyEvent: one ocserv_agent.v1.PolicyEvent as the enforcement logic sees it — decoded and checked by the stream
// client (watch_event_decoder.h), so that the logic, its tests and a simulation need no protobuf or gRPC.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/enforcement/subject.h"
#include "resilience/clock.h"

namespace oa {

enum class PolicyEventKind : std::uint8_t { kHeartbeat, kRevoke, kRestore, kInvalidate, kRecheck, kResync, kUnknown };

constexpr std::string_view to_string(PolicyEventKind k) {
  switch (k) {
    case PolicyEventKind::kHeartbeat: return "heartbeat";
    case PolicyEventKind::kRevoke: return "revoke";
    case PolicyEventKind::kRestore: return "restore";
    case PolicyEventKind::kInvalidate: return "invalidate";
    case PolicyEventKind::kRecheck: return "recheck";
    case PolicyEventKind::kResync: return "resync";
    case PolicyEventKind::kUnknown: return "unknown";
  }
  return "unknown";
}

struct PolicyEvent {
  std::uint64_t version = 0;
  std::optional<Clock::WallTime> published_at;
  PolicyEventKind kind = PolicyEventKind::kUnknown;
  // Revoke/Restore/Invalidate/Recheck: the subject; nullopt when the event's subject is missing or malformed
  // (none or more than one of username/groupname/all set, or too long) — `invalid` says why.
  std::optional<Subject> subject;
  std::string invalid;             // non-empty: the event is malformed and is not applied
  std::string reason;              // Revoke
  int disconnect_reason = 0;       // Revoke: vpn.v1.DisconnectReason (0 = POLICY_VIOLATION)
  std::uint32_t heartbeat_interval_s = 0;  // Heartbeat
};

}  // namespace oa
