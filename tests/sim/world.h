// World: one simulated agent (the real decision core, rebuilt after each crash) and its simulated neighbours — a
// portal (CheckPolicy, ValidateSession, EventService), ocserv (its live sessions, occtl, the helpers) — plus what the
// invariants (invariants.h) need to know about what happened. Single-threaded from the simulation's point of view:
// the core's own threads (outbox writer, enforcer worker) are waited for at the end of each step (Settle).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/authorizer/policy_authorizer.h"
#include "agent/authorizer/session_events.h"
#include "agent/authorizer/session_registry.h"
#include "agent/enforcement/occtl_port.h"
#include "agent/enforcement/policy_enforcer.h"
#include "agent/enforcement/revocation_table.h"
#include "agent/enforcement/session_enforcer.h"
#include "agent/enforcement/session_validator.h"
#include "agent/portal/portal_client.h"
#include "events/event_delivery.h"
#include "events/event_sender.h"
#include "events/outbox.h"
#include "fake_clock.h"
#include "resilience/circuit_breaker.h"
#include "resilience/decision_cache.h"
#include "schedule.h"
#include "sim_scheduler.h"

// A trace line, built only when the world is tracing (the strings would cost more than the simulation itself).
#define SIM_NOTE(world, line)          \
  do {                                 \
    if ((world).tracing) (world).Note(line); \
  } while (0)

namespace oa::sim {

// Deliberately broken variants, emulated through the components' public API, for the teeth tests.
enum class PlantedBug : int {
  kNone,
  kCacheIgnoresGeneration,   // a portal answer is cached even if an invalidation happened during the call
  kSenderAcksBeforePortal,   // the delivery says "delivered" before the portal has the event
  kFailOpenOverridesDeny,    // fail-open answers Allow over a fresh cached Deny while the breaker is not closed
  kBreakerCountsDeny,        // a Deny is recorded as a breaker failure
  kTimerFiresLate,           // the authorizer's deadline timer fires 250 ms late
  kNoSingleFlight,           // two authorizers share the cache and breaker but not their flights
  kNoRecheckAfterOutage,     // the breaker's close is not wired to RecheckDegraded
};
inline constexpr PlantedBug kAllPlantedBugs[] = {
    PlantedBug::kNone,           PlantedBug::kCacheIgnoresGeneration, PlantedBug::kSenderAcksBeforePortal,
    PlantedBug::kFailOpenOverridesDeny, PlantedBug::kBreakerCountsDeny, PlantedBug::kTimerFiresLate,
    PlantedBug::kNoSingleFlight, PlantedBug::kNoRecheckAfterOutage};
const char* to_string(PlantedBug bug);

class World;

// The neighbours: one object plays the portal's three services and ocserv's occtl; they answer through the core's
// scheduler (so a crash drops what was in flight).
class SimPortal final : public PortalClient, public SessionValidator, public EventDelivery {
 public:
  explicit SimPortal(World& w) : w_(w) {}
  void CheckPolicy(PolicyQuery query, std::chrono::milliseconds timeout, PortalClient::Done done) override;
  void Shutdown(std::chrono::milliseconds) override {}
  PortalClientStatsSnapshot stats() const override { return {}; }
  void Validate(const SessionRecord& session, std::function<void(SessionValidation)> done) override;
  void Deliver(const StoredEvent& event, EventDelivery::Done done) override;

 private:
  World& w_;
};

// A delivery that acknowledges at once and then tries the portal once (PlantedBug::kSenderAcksBeforePortal).
class AckFirstDelivery final : public EventDelivery {
 public:
  explicit AckFirstDelivery(EventDelivery& real) : real_(real) {}
  void Deliver(const StoredEvent& event, Done done) override {
    done(absl::OkStatus());
    real_.Deliver(event, [](absl::Status) {});
  }
  void Shutdown(std::chrono::milliseconds) override {}

 private:
  EventDelivery& real_;
};

// A scheduler whose tasks run `delay` late (PlantedBug::kTimerFiresLate).
class LateScheduler final : public Scheduler {
 public:
  LateScheduler(Scheduler& real, std::chrono::milliseconds delay) : real_(real), delay_(delay) {}
  void RunAt(Clock::MonoTime when, std::function<void()> task) override { real_.RunAt(when + delay_, std::move(task)); }

 private:
  Scheduler& real_;
  std::chrono::milliseconds delay_;
};

class SimOcctl final : public OcctlPort {
 public:
  explicit SimOcctl(World& w) : w_(w) {}
  absl::StatusOr<std::vector<SessionRecord>> ListSessions() override;
  absl::Status Disconnect(const std::string& session_id) override;

 private:
  World& w_;
};

// The agent: every real component, wired as agent/daemon/decision_path.cc wires them.
struct Core {
  Core(World& w, std::uint64_t incarnation_seed);
  ~Core();
  World& w;
  SimScheduler scheduler;
  AuthorizerCounters counters;
  SessionRegistry sessions;
  std::unique_ptr<DecisionCache> cache;
  std::unique_ptr<CircuitBreaker> breaker;
  std::unique_ptr<RevocationTable> revocations;
  std::unique_ptr<Outbox> outbox;
  std::unique_ptr<SessionEventRecorder> recorder;
  std::unique_ptr<SessionEnforcer> enforcer;
  std::unique_ptr<PolicyEnforcer> policy;
  std::unique_ptr<LateScheduler> late_scheduler;
  std::unique_ptr<PolicyAuthorizer> authorizer;
  std::unique_ptr<PolicyAuthorizer> second_authorizer;  // PlantedBug::kNoSingleFlight
  std::unique_ptr<AckFirstDelivery> ack_first;
  std::unique_ptr<EventSender> sender;
};

// ---- what the simulation remembers, for the invariants ----

struct Helper {
  std::shared_ptr<IpcRequest> request;
  int incarnation = 0;
  std::uint64_t arrival_step = 0;
  Clock::MonoTime arrival{}, deadline{}, gives_up{};
  bool answered = false;
  bool agent_died = false;
  // Seen when it arrived, for invariant 2: the model knew the cache held a fresh Deny for its key; the breaker was
  // not admitting calls.
  bool surely_cached_deny = false;
  bool breaker_refusing = false;  // the agent crashed before answering: the helper got a connection error instead
};

struct PortalCall {
  std::uint64_t id = 0;
  std::string key;  // the cache key's fields: user|group|vhost|ip
  std::string username, groupname, session_id;
  std::uint64_t start_step = 0;
  std::uint64_t model_generation = 0;  // invalidations seen by the model when it started
  std::uint64_t breaker_generation = 0;
  Clock::MonoTime start{};
  PolicyAnswer answer;  // decided from the portal's truth when the call starts
};

// What the model knows about the cache entry of one key.
struct KeyModel {
  std::string username, groupname;
  // A portal answer from a call that started after the latest invalidation covering the key may be cached.
  bool may_be_cached = false;
  // The cache surely holds a fresh Deny until then (the portal's Deny, minus the TTL jitter).
  std::optional<Clock::MonoTime> surely_fresh_deny_until;
};

struct SessionEvents {
  std::vector<SessionEventKind> expected;  // what ocserv and the agent's own disconnects produced, in order
  std::vector<SessionEventKind> received;  // what reached the portal (first receipt of each event id), in order
};

// What the schedules exercised (so that a run with zero violations is not a run where nothing happened).
struct Coverage {
  std::uint64_t answers = 0, degraded_answers = 0, revoked_refusals = 0, portal_calls = 0, coalesced = 0;
  std::uint64_t breaker_trips = 0, crashes = 0, events_received = 0, forced_disconnects = 0;
  std::uint64_t rechecks_owed = 0, helpers_gone = 0;
  void Add(const Coverage& o) {
    answers += o.answers, degraded_answers += o.degraded_answers, revoked_refusals += o.revoked_refusals;
    portal_calls += o.portal_calls, coalesced += o.coalesced, breaker_trips += o.breaker_trips;
    crashes += o.crashes, events_received += o.events_received, forced_disconnects += o.forced_disconnects;
    rechecks_owed += o.rechecks_owed, helpers_gone += o.helpers_gone;
  }
};

struct Violation {
  std::string invariant;
  std::string message;
};

struct WorldConfig {
  std::chrono::milliseconds decision_timeout{2000};
  std::chrono::milliseconds portal_timeout{1000};
  FailModeOptions fail_mode;
  CircuitBreakerOptions breaker;
  DecisionCacheOptions cache;
  std::uint32_t recheck_rate = 20;
  BreakerOverride breaker_override = BreakerOverride::kAuto;
};

class World {
 public:
  World(std::uint64_t seed, PlantedBug bug, bool trace);
  ~World();

  // Applies one action (one step), then settles the core's threads.
  void Apply(const Action& action);
  // Runs the scheduler's next due task, if any (one step). False if none is due now.
  bool RunOneTask();
  // Advances the clock by `d`, one step per task on the way.
  void AdvanceBy(std::chrono::milliseconds d);
  // Makes the neighbours healthy and runs until everything is delivered (or a bound of simulated time).
  void Quiesce();

  void Violate(std::string_view invariant, std::string message);
  void Note(const std::string& line);         // a trace line (when tracing)
  void Mix(std::uint64_t a, std::uint64_t b = 0);  // into the trace hash, always

  // ---- state, public for the invariants ----
  const std::uint64_t seed;
  const PlantedBug bug;
  const bool tracing;
  testing::FakeClock clock;
  Rng nature;  // the neighbours' randomness
  SimPortal portal{*this};
  SimOcctl occtl{*this};
  WorldConfig config;
  std::unique_ptr<Core> core;
  int incarnation = 0;
  const bool with_outbox;   // session events recorded and delivered (schedule.h UsesOutbox)
  std::string outbox_path;  // ":memory:" or a tmpfs file

  std::uint64_t step = 0;
  std::uint64_t hash = 1469598103934665603ULL;
  std::vector<std::string> trace;
  std::optional<Violation> violation;
  Coverage coverage;

  // The neighbours' modes.
  PortalMode portal_mode = PortalMode::kHealthy;
  DeliveryMode delivery_mode = DeliveryMode::kOk;
  OcctlMode occtl_mode = OcctlMode::kOk;
  // The portal's truth.
  std::set<std::string> portal_revoked_users, portal_revoked_groups;

  // The helpers, by session id.
  std::map<std::string, Helper> helpers;
  std::uint64_t next_session = 1;
  // ocserv's live sessions: id -> record (admitted_by as the agent said).
  std::map<std::string, SessionRecord> live;

  // Portal calls in flight, and the one whose completion is running now (for the answers it produces).
  std::map<std::uint64_t, PortalCall> calls_in_flight;
  std::uint64_t next_call = 1;
  const PortalCall* completing = nullptr;
  bool completing_failed = false;
  int failure_completions_this_step = 0;
  int success_completions_this_step = 0;
  std::uint64_t breaker_failures_before = 0, breaker_successes_before = 0, breaker_generation_before = 0;
  int consecutive_failures = 0;  // model of the breaker's rule, reset on any generation change
  std::uint64_t model_generation_seen = 0;

  // Revocations as the agent should have them: subject ("u:name" / "g:name") -> step it was applied at.
  std::map<std::string, std::uint64_t> revoked_at_step;
  std::uint64_t model_invalidations = 0;
  std::map<std::string, KeyModel> keys;  // by key

  // Events.
  std::map<std::string, SessionEvents> events;  // by session id
  std::set<std::string> event_ids_received;
  std::uint64_t outbox_dropped = 0;  // dropped by the documented bounds, over every incarnation
  bool outbox_dirty = false;  // an outbox operation may be queued: flush at the end of the step
  std::atomic<bool> kick_wanted{false};  // the outbox committed new events: kick the sender once settled
  // Sessions occtl ended whose disconnect-script ocserv has yet to run: it runs once the enforcer is idle (Settle),
  // as ocserv runs it after the disconnect. The agent sends no event of its own for a forced disconnect: this
  // script's event carries the reason.
  std::vector<SessionRecord> disconnect_scripts_due;
  std::uint64_t policy_version = 0;

  // Re-checks after an outage (invariant 7): session id -> deadline; and when each was validated.
  std::map<std::string, Clock::MonoTime> recheck_due;
  Clock::MonoTime recheck_horizon{};

 // ---- the steps' parts (public for the neighbours and the core's callbacks) ----
  void StartCore();
  void Crash();
  void Settle();
  void Connect(const Action& a);
  void OnAnswer(const std::string& session_id, IpcReply reply);
  void SessionEnded(const Action& a, IpcReason reason);
  void RunScript(const SessionRecord& s, IpcReason reason);
  void ApplyPolicyEvent(PolicyEventKind kind, int subject_index);
  void LocalRevocation(bool revoke, int subject_index);
  void CountRecheckTrigger();
  void ModelInvalidate(const Subject& s);
  void CompleteDelivery(const StoredEvent& e, absl::Status status, EventDelivery::Done done);
  void OnBreakerTransition(const BreakerTransition& t);
  void CompleteCall(std::uint64_t call_id, PolicyAnswer answer, PortalClient::Done done);
  void AfterStep();
};

std::string SubjectKey(const Subject& s);
std::string UserOf(int i);
std::string GroupOfUser(int i);

}  // namespace oa::sim
