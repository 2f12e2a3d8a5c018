// ControlPlane: what the management API needs from the rest of the agent (cache, fail mode, breaker, IPC server),
// as one narrow interface so that agent/management depends on none of them (only on the breaker's BreakerOverride
// enum, a header-only type). The daemon implements it over the real authorizer (agent/daemon/decision_control_plane.h);
// tests use tests/fakes/fake_control_plane.h.
//
// Thread-safety: implementations must be safe to call from any thread (gRPC handler threads call it concurrently).
// Every call returns promptly: no call may wait on the portal.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "resilience/circuit_breaker.h"  // BreakerOverride: the breaker's own enum, so the daemon needs no mapping
#include "resilience/options.h"

namespace oa {

// A consistent-enough picture of the agent for GetStatus. Counters are name -> value so that a new counter needs no
// change here (names: see control.proto).
struct StatusSnapshot {
  std::string version;
  std::string agent_id;
  std::chrono::seconds uptime{0};
  FailMode fail_mode = FailMode::kStale;
  StaleFallback stale_fallback = StaleFallback::kClose;
  std::string breaker_state;  // "closed" | "open" | "half_open"
  BreakerOverride breaker_override = BreakerOverride::kAuto;
  std::map<std::string, std::uint64_t> breaker_counters;
  std::map<std::string, std::uint64_t> cache_stats;
  std::map<std::string, std::uint64_t> decisions_by_source;
  std::map<std::string, std::uint64_t> decisions_by_verdict;  // allow, deny
  std::map<std::string, std::uint64_t> portal;    // calls and how they ended, breaker rejections, client stats
  std::map<std::string, std::uint64_t> ipc;       // every IPC server counter by name (ipc/ipc_server_counters.h)
  std::map<std::string, std::uint64_t> sessions;  // session events and the sessions held
  // The session-event outbox and its sender (empty when portal.report_events is false): outbox_depth,
  // outbox_oldest_age_seconds, written, sent, retried, parked, dropped_full, ...
  std::map<std::string, std::uint64_t> events;
  std::string events_sender_state;  // idle | sending | backing_off | stopped; "" when off
  // Live enforcement.
  std::string policy_stream = "disabled";
  std::map<std::string, std::uint64_t> enforcement;
  struct RevocationInfo {
    std::string subject, reason, origin;
    std::uint64_t age_seconds = 0, expires_in_seconds = 0;
  };
  std::vector<RevocationInfo> revocations;
};

// A local revocation's target (AgentControl.Revoke / Restore).
struct LocalSubject {
  bool group = false;
  std::string name;
};

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;

  virtual StatusSnapshot Status() = 0;

  // Cache invalidation by exact user / exact group / everything. Returns how many entries were removed.
  virtual std::size_t InvalidateUser(std::string_view username) = 0;
  virtual std::size_t InvalidateGroup(std::string_view groupname) = 0;
  virtual std::size_t InvalidateAll() = 0;

  // Takes effect on the next decision; returns the previous mode.
  virtual FailMode SetFailMode(FailMode mode) = 0;
  // Returns the previous override.
  virtual BreakerOverride SetBreakerOverride(BreakerOverride override) = 0;

  // Live enforcement without the portal. InvalidArgument for an empty name; Unimplemented where not wired.
  virtual absl::StatusOr<std::uint64_t> Revoke(const LocalSubject&, std::string /*reason*/, int /*disconnect_reason*/,
                                               std::string /*by*/) {
    return absl::UnimplementedError("revocation is not available");
  }
  virtual absl::StatusOr<bool> Restore(const LocalSubject&, std::string /*by*/) {
    return absl::UnimplementedError("revocation is not available");
  }

  // For health checks.
  virtual bool IpcListening() = 0;
  virtual std::string BreakerState() = 0;
};

}  // namespace oa
