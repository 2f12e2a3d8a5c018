// PolicyAuthorizer: decides each VPN connect (docs/architecture.md#flow):
//
//   fresh cache hit -> answer (source cache), inline
//   miss -> single-flight per cache key: the first request (leader) asks the portal through the circuit breaker,
//           later requests for the same key (followers) wait for that one call
//     portal Allow/Deny -> cache it (the portal's TTL or the configured one), answer everyone
//                          (leader: source portal, followers: coalesced)
//     portal Error or breaker open -> the fail mode (resilience/fail_mode.h) answers everyone
//   every waiting request also has its own deadline: if the portal has not answered by then, that request alone is
//   answered from the fail mode (counted in deadline_answers), so each answer comes within ipc.decision_timeout.
//
// Revocations (agent/enforcement/revocation_table.h, optional): a fresh cache hit that would admit a revoked user or
// group is not used (the request goes to the portal); a stale or fail-open admit of a revoked subject becomes a
// deny (source fail_close, reason "revoked: ..."); and a portal Allow from a call that started before the revocation
// is a deny too (it cannot know about it). Answers to calls that started before any cache invalidation are not
// cached (DecisionCache::PutIfGeneration). While no revocation is in force the hit path pays one atomic load.
//
// Each answer is counted by source and verdict (AuthorizerCounters); the IPC server writes its audit line (warning
// for the degraded sources stale / fail_open / fail_close). The fail mode can be changed at run time (management API,
// SIGHUP) and applies from the next decision.
//
// Thread-safety (docs/architecture.md#threads): Authorize may be called from any thread (the IPC loop); portal
// completions and deadline tasks run on other threads. A fresh cache hit calls `done` inline, before Authorize returns; everything else calls it
// later, from a portal or scheduler thread. Lifetime: every dependency must outlive this object, and the portal
// client and the scheduler must be stopped (no more completions or tasks) before it is destroyed.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "agent/authorizer/authorizer_counters.h"
#include "agent/authorizer/session_registry.h"
#include "agent/enforcement/revocation_table.h"
#include "agent/portal/portal_client.h"
#include "common/scheduler.h"
#include "ipc/authorizer.h"
#include "resilience/cache_key.h"
#include "resilience/circuit_breaker.h"
#include "resilience/decision_cache.h"
#include "resilience/options.h"

namespace oa {

struct AuthorizerSettings {
  std::chrono::milliseconds portal_timeout{2000};  // portal.timeout
  std::string agent_id;                            // sent to the portal with every query
  FailModeOptions fail_mode;
};

class PolicyAuthorizer final : public Authorizer {
 public:
  struct Deps {
    const Clock& clock;
    PortalClient& portal;
    CircuitBreaker& breaker;
    DecisionCache& cache;
    Scheduler& scheduler;
    AuthorizerCounters& counters;         // shared with SessionEventRecorder; read by metrics and management
    SessionRegistry* sessions = nullptr;  // optional: admitted sessions are recorded with their source
    RevocationTable* revocations = nullptr;  // optional: revoked users/groups are not admitted
  };

  PolicyAuthorizer(Deps deps, CacheKeyBuilder key_builder, AuthorizerSettings settings);
  PolicyAuthorizer(const PolicyAuthorizer&) = delete;
  PolicyAuthorizer& operator=(const PolicyAuthorizer&) = delete;

  void Authorize(std::shared_ptr<const IpcRequest> request, Clock::MonoTime deadline, Done done) override;

  // Run-time changes (management API, config reload). They apply from the next decision.
  void SetFailMode(FailModeOptions fail_mode);
  void UpdateSettings(AuthorizerSettings settings);
  AuthorizerSettings settings() const;

  AuthorizerCountersSnapshot counters() const { return counters_.snapshot(); }
  // Keys with a portal call in flight.
  std::size_t flights_in_progress() const;

 private:
  struct Waiter;
  struct Flight;

  void AskPortal(const std::shared_ptr<Flight>& flight, const std::shared_ptr<Waiter>& leader);
  void OnPortalAnswer(const std::shared_ptr<Flight>& flight, PolicyAnswer answer);
  void FailFlight(const std::shared_ptr<Flight>& flight, std::string_view why);
  void OnWaiterDeadline(const std::shared_ptr<Waiter>& waiter, const std::shared_ptr<Flight>& flight);
  std::vector<std::shared_ptr<Waiter>> TakeWaiters(const std::shared_ptr<Flight>& flight);
  Decision FailModeDecision(const CacheKey& key, std::string_view why);
  // A decision that would admit `request` while a revocation covers it becomes a deny naming the revocation.
  Decision RefuseIfRevoked(const IpcRequest& request, Decision decision);
  void Answer(Waiter& waiter, Decision decision);

  Deps deps_;
  const CacheKeyBuilder key_builder_;

  mutable std::mutex settings_mu_;
  AuthorizerSettings settings_;

  mutable std::mutex flights_mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // by cache key bytes

  AuthorizerCounters& counters_;
};

}  // namespace oa
