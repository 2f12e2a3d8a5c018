// DecisionPath: every object on the connect path, built from one Config and owned together — the portal client,
// the circuit breaker, the decision cache, the deadline timer, the authorizer, the session registry and the IPC
// server that feeds them (shared/DESIGN.md "Request flow"). The daemon runs it as one Service (services.cc); the
// management API and the metrics endpoint read and steer it through the accessors.
//
// Start order: portal client (and the session reporter), breaker, cache, timer, authorizer, then the IPC server
// last (helpers are accepted only once everything behind it is ready). Stop runs in reverse: the IPC server drains
// in-flight requests, the portal client finishes or cancels its calls (their answers still reach the authorizer),
// the session reporter sends what is queued, then the timer stops.
//
// Thread-safety: Create/Start/Stop/Reload from the daemon's main thread; the accessors' objects are thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "agent/authorizer/authorizer_counters.h"
#include "agent/authorizer/policy_authorizer.h"
#include "agent/authorizer/session_registry.h"
#include "agent/authorizer/timer_thread.h"
#include "agent/config/config.h"
#include "agent/enforcement/occtl_port.h"
#include "agent/enforcement/policy_enforcer.h"
#include "agent/enforcement/revocation_table.h"
#include "agent/enforcement/session_enforcer.h"
#include "agent/enforcement/session_validator.h"
#include "agent/enforcement/watch_client.h"
#include "ipc/ipc_server.h"
#include "resilience/circuit_breaker.h"
#include "resilience/decision_cache.h"

namespace grpc {
class Channel;
}

namespace oa {

class DecisionPath {
 public:
  // Builds everything but does not listen yet. Fails (naming what) on unreadable certificates, bad key fields.
  static absl::StatusOr<std::unique_ptr<DecisionPath>> Create(const Config& config, const Clock& clock);
  ~DecisionPath();

  // Starts the IPC server: from now on helpers are answered.
  absl::Status Start();
  void Stop(Clock::MonoTime deadline);
  // Applies what may change at run time (fail mode, portal timeout, breaker thresholds); logs what needs a restart.
  // The file's fail mode wins over one set at run time through the management API (the log line says so); the
  // breaker's operator override is not in the file and is kept.
  void Reload(const Config& config);

  PolicyAuthorizer& authorizer() { return *authorizer_; }
  DecisionCache& cache() { return *cache_; }
  CircuitBreaker& breaker() { return *breaker_; }
  PortalClient& portal() { return *portal_; }
  const EventReporter* events() const { return events_.get(); }  // null when portal.report_events is false
  IpcServer& ipc() { return *ipc_; }
  SessionRegistry& sessions() { return sessions_; }
  // Live enforcement (shared/DESIGN.md "Live enforcement").
  RevocationTable& revocations() { return *revocations_; }
  PolicyEnforcer& policy_enforcer() { return *policy_enforcer_; }
  SessionEnforcer& session_enforcer() { return *session_enforcer_; }
  const WatchClient* watch() const { return watch_.get(); }  // null when enforcement.watch is false
  const AuthorizerCounters& counters() const { return counters_; }
  bool ipc_listening() const { return ipc_started_.load(); }  // any thread (management health checks)

 private:
  explicit DecisionPath(const Config& config, const Clock& clock);

  const Clock& clock_;
  Config started_with_;  // to tell what a reload may change
  AuthorizerCounters counters_;
  SessionRegistry sessions_;
  std::shared_ptr<grpc::Channel> channel_;  // one connection to the portal: CheckPolicy, Watch, re-checks
  std::unique_ptr<PortalClient> portal_;
  std::unique_ptr<EventReporter> events_;  // null when portal.report_events is false
  std::unique_ptr<CircuitBreaker> breaker_;
  std::unique_ptr<DecisionCache> cache_;
  std::unique_ptr<TimerThread> timer_;
  std::unique_ptr<PolicyAuthorizer> authorizer_;
  std::unique_ptr<SessionEventSink> session_events_;
  std::unique_ptr<IpcServer> ipc_;
  std::atomic<bool> ipc_started_{false};
  std::unique_ptr<RevocationTable> revocations_;
  std::unique_ptr<OcctlPort> occtl_;
  std::unique_ptr<SessionValidator> validator_;
  std::unique_ptr<SessionEnforcer> session_enforcer_;
  std::unique_ptr<PolicyEnforcer> policy_enforcer_;
  std::unique_ptr<WatchClient> watch_;
  std::shared_ptr<int> periodic_alive_;  // periodic tasks (reconcile, re-check, revocation expiry) hold a weak_ptr
  std::vector<std::shared_ptr<std::function<void()>>> periodic_tasks_;
  void SchedulePeriodic(std::chrono::milliseconds every, std::function<void()> task);
};

}  // namespace oa
