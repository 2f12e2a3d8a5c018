// DecisionControlPlane: the management API's ControlPlane over the real decision path — GetStatus reads the
// authorizer, breaker, cache, portal client, IPC server and session counters; invalidation goes to the DecisionCache;
// SetFailMode to PolicyAuthorizer::SetFailMode; SetBreakerOverride to CircuitBreaker::SetOverride. It also produces
// the AgentSnapshot the metrics endpoint formats, so GetStatus and /metrics read the same numbers.
//
// It takes references to the parts, not the DecisionPath, so that tests assemble it over a real authorizer, cache and
// breaker with a fake portal client (tests/agent/daemon/decision_control_plane_test.cc); PartsOf() in services.cc
// takes them from a DecisionPath.
//
// Run-time changes and SIGHUP: a reload re-applies the file's fail mode (DecisionPath::Reload logs when that replaces
// a different mode, e.g. one set here), because the file is what an operator reads and what survives a restart. The
// breaker override is not in the file: it survives a reload and lasts until an operator sets it back to auto.
//
// Thread-safety: every method from any thread (gRPC handler threads, the metrics thread). SetFailMode is serialised
// by a mutex so that two concurrent callers each get the mode that was in force before their own change.
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "agent/authorizer/authorizer_counters.h"
#include "agent/authorizer/policy_authorizer.h"
#include "agent/authorizer/session_registry.h"
#include "agent/enforcement/watch_client.h"
#include "agent/management/control_plane.h"
#include "agent/metrics/agent_snapshot.h"
#include "agent/portal/portal_client.h"
#include "ipc/ipc_server.h"
#include "resilience/circuit_breaker.h"
#include "resilience/clock.h"
#include "resilience/decision_cache.h"

namespace oa {

class DecisionControlPlane final : public ControlPlane {
 public:
  // Every reference must outlive this object. The pointers are optional (absent: their counters read as zero).
  struct Parts {
    PolicyAuthorizer& authorizer;
    DecisionCache& cache;
    CircuitBreaker& breaker;
    const AuthorizerCounters& counters;
    const SessionRegistry* sessions = nullptr;
    const PortalClient* portal = nullptr;
    const IpcServer* ipc = nullptr;
    std::function<bool()> ipc_listening;  // empty: reported as not listening
    const Outbox* outbox = nullptr;             // null: session reports are off
    const EventSender* event_sender = nullptr;  // null: session reports are off
    // Live enforcement (all optional).
    RevocationTable* revocations = nullptr;
    PolicyEnforcer* policy_enforcer = nullptr;
    const SessionEnforcer* session_enforcer = nullptr;
    std::function<std::optional<WatchStatus>()> watch_status = {};  // empty or nullopt: stream disabled
  };

  // `clock` must outlive this object; uptime counts from construction.
  DecisionControlPlane(Parts parts, std::string version, const Clock& clock);

  // Every counter at once, for the metrics endpoint (management and metrics-endpoint counters are left empty: the
  // daemon adds them).
  AgentSnapshot Collect() const;

  StatusSnapshot Status() override;
  std::size_t InvalidateUser(std::string_view username) override;
  std::size_t InvalidateGroup(std::string_view groupname) override;
  std::size_t InvalidateAll() override;
  FailMode SetFailMode(FailMode mode) override;
  BreakerOverride SetBreakerOverride(BreakerOverride override) override;
  bool IpcListening() override;
  std::string BreakerState() override;
  absl::StatusOr<std::uint64_t> Revoke(const LocalSubject& subject, std::string reason, int disconnect_reason,
                                       std::string by) override;
  absl::StatusOr<bool> Restore(const LocalSubject& subject, std::string by) override;

  // The GetStatus view of a snapshot (pure; public for tests).
  static StatusSnapshot ToStatus(const AgentSnapshot& s);

 private:
  Parts parts_;
  const std::string version_;
  const Clock& clock_;
  const Clock::MonoTime started_;
  std::mutex operator_mu_;
};

}  // namespace oa
