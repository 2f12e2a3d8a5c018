// AgentSnapshot: every number the agent exposes about itself, read at one moment — the decision path's counters
// (authorizer, breaker, cache, portal client, IPC server, sessions), the fail mode, and the management API's calls.
// Plain data: the metrics endpoint formats it (prometheus_format.h) and the management API's GetStatus is built from
// it (agent/daemon/decision_control_plane.h), so both always report the same counters under the same names.
//
// Thread-safety: a value type; the counters in it are copies, not live.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/authorizer/authorizer_counters.h"
#include "agent/enforcement/latency_histogram.h"
#include "agent/enforcement/policy_enforcer.h"
#include "agent/enforcement/revocation_table.h"
#include "agent/enforcement/session_enforcer.h"
#include "agent/enforcement/watch_stream_logic.h"
#include "agent/management/management_counters.h"
#include "events/event_sender.h"
#include "events/outbox.h"
#include "agent/portal/portal_client.h"
#include "ipc/ipc_server_counters.h"
#include "resilience/circuit_breaker.h"
#include "resilience/decision_cache.h"
#include "resilience/options.h"

namespace oa {

// The metrics endpoint's own counters (metrics_http_server.h), each declared once.
#define OA_METRICS_HTTP_COUNTERS(X)                                                                            \
  X(scrapes)              /* GET /metrics answered */                                                         \
  X(not_found)            /* any other path (404) or method (405) */                                          \
  X(bad_requests)         /* unparsable or oversize request line/headers (400 / 431) */                       \
  X(read_timeouts)        /* no complete request within the read timeout */                                   \
  X(too_many_connections) /* closed at once: the connection limit was reached, none idle to evict */          \
  X(idle_evicted)         /* at the limit, the oldest connection without a request was closed */              \
  X(accept_errors)        /* accept() failed (descriptor exhaustion...): accepts paused briefly */

struct MetricsHttpCountersSnapshot {
#define OA_X(name) std::uint64_t name = 0;
  OA_METRICS_HTTP_COUNTERS(OA_X)
#undef OA_X
};

// The session-event outbox and its sender (events/).
struct EventsSnapshot {
  OutboxStats outbox;
  EventSenderStats sender;
  Clock::WallTime taken_at{};
  // How long the oldest undelivered event has waited; 0 when none.
  std::chrono::seconds oldest_age() const {
    if (outbox.oldest_written_at == Clock::WallTime{} || taken_at <= outbox.oldest_written_at) {
      return std::chrono::seconds(0);
    }
    return std::chrono::duration_cast<std::chrono::seconds>(taken_at - outbox.oldest_written_at);
  }
};

// Live enforcement (agent/enforcement): the policy stream, events, revocations, forced disconnects, re-checks.
struct EnforcementSnapshot {
  StreamState stream_state = StreamState::kDisabled;
  WatchStreamCounters stream;
  std::uint64_t last_applied_version = 0;
  EventCountsSnapshot events;
  RevocationCountersSnapshot revocations;
  std::vector<Revocation> in_force;
  SessionEnforcerCounters sessions;
  LatencyHistogramSnapshot revocation_latency;
  Clock::MonoTime taken_at{};  // to tell how long each revocation has left
};

// The process itself (agent/metrics/process_metrics.h), in base units.
struct ProcessSnapshot {
  double cpu_seconds = 0;          // user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;       // RLIMIT_NOFILE soft limit
  double start_time_seconds = 0;   // unix time
};

// How the configuration file was last (re)loaded. The start counts as a successful load.
struct ConfigReloadSnapshot {
  bool last_successful = true;
  std::int64_t last_success_unix_seconds = 0;
  std::uint64_t applied = 0;   // SIGHUP reloads applied
  std::uint64_t rejected = 0;  // SIGHUP reloads refused (invalid file; the old config stays)
};

// A certificate's not-after time, read from its file at start and at each reload (certificate_expiry.h).
struct CertificateExpirySnapshot {
  std::string certificate;  // which one: portal_client, management
  std::int64_t not_after_unix_seconds = 0;
};

struct AgentSnapshot {
  std::string version;
  std::string agent_id;
  std::chrono::seconds uptime{0};

  FailModeOptions fail;
  BreakerState breaker_state = BreakerState::kClosed;
  BreakerOverride breaker_override = BreakerOverride::kAuto;
  BreakerCounters breaker;
  DecisionCacheStats cache;
  std::size_t cache_capacity = 0;
  AuthorizerCountersSnapshot decisions;
  PortalClientStatsSnapshot portal;
  bool ipc_listening = false;
  IpcServerCounters::Snapshot ipc;
  std::size_t sessions_active = 0;
  std::optional<EventsSnapshot> events;              // absent when portal.report_events is false
  std::optional<EnforcementSnapshot> enforcement;    // absent when not wired (tests)

  // Absent when the management API (or the metrics endpoint itself) is not running.
  std::optional<ManagementCounters::Snapshot> management;
  std::optional<MetricsHttpCountersSnapshot> metrics_http;

  // Filled in by the metrics service (absent in GetStatus and in tests that do not set them).
  std::optional<ProcessSnapshot> process;
  std::optional<ConfigReloadSnapshot> config;
  std::vector<CertificateExpirySnapshot> certificates;
};

}  // namespace oa
