// DecisionPath: every object on the connect path, built from one Config and owned together — the portal client,
// the circuit breaker, the decision cache, the deadline timer, the authorizer, the session registry and the IPC
// server that feeds them (docs/architecture.md#flow). The daemon runs it as one Service (services.cc); the
// management API and the metrics endpoint read and steer it through the accessors.
//
// Start order: portal client, the session-event outbox and its sender (events/), breaker, cache, timer, authorizer,
// then the IPC server last (helpers are accepted only once everything behind it is ready). Stop runs in reverse:
// the IPC server drains in-flight requests (the events they produce still reach the outbox), the portal client
// finishes or cancels its calls (their answers still reach the authorizer), the sender starts nothing more and its
// deliveries in flight finish or are cancelled (undelivered events stay in the outbox for the next start), the
// outbox commits what is queued, then the timers stop.
//
// Thread-safety: Create/Start/Stop/Reload from the daemon's main thread; the accessors' objects are thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "agent/authorizer/authorizer_counters.h"
#include "agent/authorizer/policy_authorizer.h"
#include "agent/authorizer/session_events.h"
#include "agent/authorizer/session_registry.h"
#include "agent/authorizer/timer_thread.h"
#include "agent/config/config.h"
#include "agent/enforcement/occtl_port.h"
#include "agent/enforcement/policy_enforcer.h"
#include "agent/enforcement/revocation_table.h"
#include "agent/enforcement/session_enforcer.h"
#include "agent/enforcement/session_validator.h"
#include "agent/enforcement/watch_client.h"
#include "events/event_sender.h"
#include "events/outbox.h"
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
  // Null when portal.report_events is false.
  const Outbox* outbox() const { return outbox_.get(); }
  const EventSender* event_sender() const { return sender_.get(); }
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
  // The session-event pipeline (null when portal.report_events is false). The sender has a timer thread of its own:
  // it reads the outbox file, which must never delay the authorizer's deadlines on timer_.
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<EventDelivery> delivery_;
  std::unique_ptr<TimerThread> sender_timer_;
  std::unique_ptr<EventSender> sender_;
  std::unique_ptr<CircuitBreaker> breaker_;
  std::unique_ptr<DecisionCache> cache_;
  std::unique_ptr<TimerThread> timer_;
  std::unique_ptr<PolicyAuthorizer> authorizer_;
  std::unique_ptr<SessionEventRecorder> session_events_;
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
