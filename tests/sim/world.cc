#include "world.h"

#include <utility>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "agent/authorizer/request_mapping.h"
#include "invariants.h"
#include "resilience/call_result.h"

namespace oa::sim {
namespace {

using std::chrono::milliseconds;

std::string KeyOf(const std::string& user, const std::string& group, const std::string& vhost,
                  const std::string& ip) {
  return user + "|" + group + "|" + vhost + "|" + ip;
}

Subject SubjectOf(int index) {
  if (index < 0) return Subject::All();
  if (index < kUsers) return Subject::User(UserOf(index));
  return Subject::Group("g" + std::to_string(index - kUsers));
}

const CircuitBreakerOptions& BreakerPreset(int i) {
  static const CircuitBreakerOptions presets[] = {
      {3, 50, milliseconds(10'000), 6, milliseconds(2'000), milliseconds(16'000), 1},
      {5, 0, milliseconds(30'000), 20, milliseconds(5'000), milliseconds(60'000), 2},
      {1, 30, milliseconds(5'000), 4, milliseconds(500), milliseconds(4'000), 1},
  };
  return presets[i % 3];
}
milliseconds TimeoutPreset(int i) {
  static const milliseconds presets[] = {milliseconds(300), milliseconds(1000), milliseconds(2500)};
  return presets[i % 3];
}
std::uint32_t RecheckRatePreset(int i) {
  static const std::uint32_t presets[] = {2, 10, 50};
  return presets[i % 3];
}
FailMode FailModeOf(int i) {
  static const FailMode modes[] = {FailMode::kOpen, FailMode::kClose, FailMode::kStale};
  return modes[i % 3];
}

std::atomic<std::uint64_t> outbox_files{0};

std::string Ms(Clock::MonoTime t, Clock::MonoTime origin) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(t - origin).count());
}

}  // namespace

const char* to_string(PlantedBug bug) {
  switch (bug) {
    case PlantedBug::kNone: return "none";
    case PlantedBug::kCacheIgnoresGeneration: return "cache-ignores-generation";
    case PlantedBug::kSenderAcksBeforePortal: return "sender-acks-before-portal";
    case PlantedBug::kFailOpenOverridesDeny: return "fail-open-overrides-deny";
    case PlantedBug::kBreakerCountsDeny: return "breaker-counts-deny";
    case PlantedBug::kTimerFiresLate: return "timer-fires-late";
    case PlantedBug::kNoSingleFlight: return "no-single-flight";
    case PlantedBug::kNoRecheckAfterOutage: return "no-recheck-after-outage";
  }
  return "?";
}

std::string UserOf(int i) { return "u" + std::to_string(i); }
std::string GroupOfUser(int i) { return "g" + std::to_string(i % kGroups); }
std::string SubjectKey(const Subject& s) {
  return (s.kind == SubjectKind::kUser ? "u:" : s.kind == SubjectKind::kGroup ? "g:" : "*:") + s.name;
}

// ---- the core ----

Core::Core(World& world, std::uint64_t s) : w(world) {
  cache = std::make_unique<DecisionCache>(w.config.cache, w.clock, s | 1);
  breaker = std::make_unique<CircuitBreaker>(
      w.config.breaker, w.clock, [&world](const BreakerTransition& t) { world.OnBreakerTransition(t); },
      [&world] { return world.nature.Unit(); });
  revocations = std::make_unique<RevocationTable>(w.clock, std::chrono::hours(24));
  if (w.with_outbox) {
    OutboxOptions oo;
    oo.path = w.outbox_path;
    outbox = std::make_unique<Outbox>(oo, w.clock);
  }
  recorder = std::make_unique<SessionEventRecorder>(sessions, counters, outbox.get(), w.clock);
  // One worker: the simulation waits for it at the end of each step, so its jobs run in queue order.
  enforcer = std::make_unique<SessionEnforcer>(
      SessionEnforcer::Deps{w.clock, scheduler, sessions, w.occtl, recorder.get(), &w.portal},
      SessionEnforcer::Options{1, 200'000, w.config.recheck_rate});
  policy = std::make_unique<PolicyEnforcer>(PolicyEnforcer::Deps{*revocations, *cache, enforcer.get()});
  Scheduler* deadlines = &scheduler;
  if (w.bug == PlantedBug::kTimerFiresLate) {
    late_scheduler = std::make_unique<LateScheduler>(scheduler, std::chrono::milliseconds(250));
    deadlines = late_scheduler.get();
  }
  for (auto* slot : {&authorizer, &second_authorizer}) {
    if (slot == &second_authorizer && w.bug != PlantedBug::kNoSingleFlight) break;
    *slot = std::make_unique<PolicyAuthorizer>(
        PolicyAuthorizer::Deps{w.clock, w.portal, *breaker, *cache, *deadlines, counters, &sessions,
                               revocations.get()},
        *CacheKeyBuilder::Create(w.config.cache.key_fields),
        AuthorizerSettings{w.config.portal_timeout, "sim-agent", w.config.fail_mode});
  }
  if (!outbox) return;
  EventDelivery* delivery = &w.portal;
  if (w.bug == PlantedBug::kSenderAcksBeforePortal) {
    ack_first = std::make_unique<AckFirstDelivery>(w.portal);
    delivery = ack_first.get();
  }
  EventSenderOptions so;
  so.max_in_flight = 8;
  so.seed = s | 1;
  so.max_delay = std::chrono::seconds(1);  // as deployed (events.max_delivery_delay): holding back is simulated too
  sender = std::make_unique<EventSender>(*outbox, *delivery, scheduler, w.clock, so);
}

Core::~Core() {
  if (sender) sender->Stop();
  enforcer->Stop();
  scheduler.Clear();  // before the components: the dropped callbacks own breaker permits and flights
}

// ---- the world ----

World::World(std::uint64_t s, PlantedBug b, bool t)
    : seed(s), bug(b), tracing(t), nature(s ^ 0x6e617475726eULL), with_outbox(UsesOutbox(s)) {
  Rng r(s ^ 0xc0f1600dULL);
  config.decision_timeout = r.Chance(50) ? milliseconds(2000) : milliseconds(500);
  config.portal_timeout = TimeoutPreset(r.Below(3));
  config.fail_mode = FailModeOptions{FailModeOf(r.Below(3)), r.Chance(50) ? StaleFallback::kOpen : StaleFallback::kClose};
  config.breaker = BreakerPreset(r.Below(3));
  config.cache.max_entries = 512;
  config.cache.allow_ttl = milliseconds(60'000);
  config.cache.deny_ttl = milliseconds(20'000);
  config.cache.stale_ttl = milliseconds(600'000);
  config.recheck_rate = RecheckRatePreset(r.Below(3));
  if (UsesFileOutbox(s)) {
    outbox_path = "/dev/shm/oa-sim-" + std::to_string(::getpid()) + "-" + std::to_string(outbox_files++) + ".db";
  } else {
    outbox_path = ":memory:";
  }
  recheck_horizon = clock.now();
  StartCore();
}

World::~World() {
  core.reset();
  if (outbox_path != ":memory:") {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((outbox_path + suffix).c_str());
  }
}

void World::Note(const std::string& line) {
  if (tracing) trace.push_back("[step " + std::to_string(step) + " t=" + Ms(clock.now(), testing::FakeClock().now()) +
                               "ms] " + line);
}

void World::Mix(std::uint64_t a, std::uint64_t b) {
  for (std::uint64_t v : {a, b}) {
    hash ^= v + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    hash *= 1099511628211ULL;
  }
}

void World::Violate(std::string_view invariant, std::string message) {
  Note("VIOLATION of " + std::string(invariant) + ": " + message);
  if (!violation) violation = Violation{std::string(invariant), std::move(message)};
}

void World::StartCore() {
  ++incarnation;
  core = std::make_unique<Core>(*this, seed * 31 + static_cast<std::uint64_t>(incarnation));
  core->enforcer->Start();
  core->enforcer->ReconcileNow();
  core->enforcer->WaitIdle();
  if (core->sender) {
    core->sender->Start();
    // The sender's wake-up comes on the outbox's writer thread: defer it to the end of the step (Settle), so that
    // which step schedules the sender's pump does not depend on thread timing.
    core->outbox->SetOnPending([this] { kick_wanted = true; });
  }
  // The portal's stream replays what is revoked (a fresh agent knows no revocation until then).
  for (const auto& u : portal_revoked_users) {
    PolicyEvent e{++policy_version, std::nullopt, PolicyEventKind::kRevoke, Subject::User(u), {}, "revoked", 0, 0};
    revoked_at_step["u:" + u] = step;
    core->policy->Apply(e);
  }
  for (const auto& g : portal_revoked_groups) {
    PolicyEvent e{++policy_version, std::nullopt, PolicyEventKind::kRevoke, Subject::Group(g), {}, "revoked", 0, 0};
    revoked_at_step["g:" + g] = step;
    core->policy->Apply(e);
  }
  Settle();
}

void World::Crash() {
  ++coverage.crashes;
  if (core->outbox) {
    const OutboxStats s = core->outbox->stats();
    outbox_dropped += s.dropped_full + s.dropped_memory + s.lost_moved_aside;
  }
  core.reset();
  for (auto& [id, h] : helpers) {
    if (!h.answered) h.agent_died = true;
  }
  calls_in_flight.clear();
  recheck_due.clear();
  revoked_at_step.clear();
  keys.clear();
  consecutive_failures = 0;
  config.breaker_override = BreakerOverride::kAuto;
  recheck_horizon = clock.now();
  kick_wanted = false;
  outbox_dirty = false;
  StartCore();
  // A new breaker: its counters start again.
  breaker_failures_before = breaker_successes_before = breaker_generation_before = 0;
  model_generation_seen = core->breaker->generation();
}

void World::Settle() {
  core->enforcer->WaitIdle();
  for (const SessionRecord& s : std::exchange(disconnect_scripts_due, {})) RunScript(s, IpcReason::kDisconnect);
  if (!core->outbox) return;
  if (outbox_dirty) {
    outbox_dirty = false;
    core->outbox->Flush();
  }
  if (kick_wanted.exchange(false)) core->sender->Kick();
}

void World::AfterStep() {
  Settle();
  ++step;
  inv::CheckAfterStep(*this);
  failure_completions_this_step = 0;
  success_completions_this_step = 0;
  const BreakerCounters bc = core->breaker->counters();
  breaker_failures_before = bc.failures;
  breaker_successes_before = bc.successes;
  breaker_generation_before = core->breaker->generation();
}

bool World::RunOneTask() {
  if (!core->scheduler.RunOneDue(clock.now())) return false;
  AfterStep();
  return true;
}

void World::AdvanceBy(milliseconds d) {
  const Clock::MonoTime target = clock.now() + d;
  for (;;) {
    auto next = core->scheduler.NextTime();
    if (!next || *next > target) break;
    if (*next > clock.now()) clock.advance(*next - clock.now());
    RunOneTask();
    if (violation) return;
  }
  if (target > clock.now()) clock.advance(target - clock.now());
}

void World::Apply(const Action& a) {
  using K = Action::Kind;
  SIM_NOTE(*this, Describe(a));
  Mix(static_cast<std::uint64_t>(a.kind) * 1000003 + static_cast<std::uint64_t>(a.a),
      static_cast<std::uint64_t>(a.b) * 1000003 + static_cast<std::uint64_t>(a.c));
  switch (a.kind) {
    case K::kConnect: Connect(a); break;
    case K::kDisconnect: SessionEnded(a, IpcReason::kDisconnect); break;
    case K::kHostUpdate: SessionEnded(a, IpcReason::kHostUpdate); break;
    case K::kAdvance: AdvanceBy(milliseconds(a.a)); break;
    case K::kPortalMode: portal_mode = static_cast<PortalMode>(a.a); break;
    case K::kDeliveryMode: delivery_mode = static_cast<DeliveryMode>(a.a); break;
    case K::kOcctlMode: occtl_mode = static_cast<OcctlMode>(a.a); break;
    case K::kRevoke: {
      const Subject s = SubjectOf(a.a);
      (s.kind == SubjectKind::kUser ? portal_revoked_users : portal_revoked_groups).insert(s.name);
      ApplyPolicyEvent(PolicyEventKind::kRevoke, a.a);
      break;
    }
    case K::kRestore: {
      const Subject s = SubjectOf(a.a);
      (s.kind == SubjectKind::kUser ? portal_revoked_users : portal_revoked_groups).erase(s.name);
      ApplyPolicyEvent(PolicyEventKind::kRestore, a.a);
      break;
    }
    case K::kLocalRevoke: LocalRevocation(true, a.a); break;
    case K::kLocalRestore: LocalRevocation(false, a.a); break;
    case K::kInvalidate: ApplyPolicyEvent(PolicyEventKind::kInvalidate, a.a); break;
    case K::kRecheck: ApplyPolicyEvent(PolicyEventKind::kRecheck, a.a); break;
    case K::kResync: ApplyPolicyEvent(PolicyEventKind::kResync, -1); break;
    case K::kFailMode:
      config.fail_mode = FailModeOptions{FailModeOf(a.a), a.b ? StaleFallback::kOpen : StaleFallback::kClose};
      core->authorizer->SetFailMode(config.fail_mode);
      if (core->second_authorizer) core->second_authorizer->SetFailMode(config.fail_mode);
      break;
    case K::kBreakerForce:
      config.breaker_override = static_cast<BreakerOverride>(a.a % 3);
      core->breaker->SetOverride(config.breaker_override);
      consecutive_failures = 0;
      break;
    case K::kReload:
      config.portal_timeout = TimeoutPreset(a.a);
      config.breaker = BreakerPreset(a.b);
      config.recheck_rate = RecheckRatePreset(a.c);
      config.fail_mode.fail_mode = FailModeOf(a.d);
      core->authorizer->UpdateSettings(AuthorizerSettings{config.portal_timeout, "sim-agent", config.fail_mode});
      if (core->second_authorizer) {
        core->second_authorizer->UpdateSettings(AuthorizerSettings{config.portal_timeout, "sim-agent", config.fail_mode});
      }
      core->breaker->UpdateOptions(config.breaker);
      core->enforcer->SetRecheckRate(config.recheck_rate);
      consecutive_failures = 0;
      break;
    case K::kCrash: Crash(); break;
  }
  AfterStep();
}

void World::Connect(const Action& a) {
  const std::string user = UserOf(a.a), group = GroupOfUser(a.a);
  const std::string ip = "10.0.0." + std::to_string(a.a + 1);
  const std::string key = KeyOf(user, group, "vpn", ip);
  for (int i = 0; i < std::max(a.b, 1); ++i) {
    Helper h;
    const std::string id = std::to_string(1000 + next_session++);
    auto req = std::make_shared<IpcRequest>();
    req->request_id = "r" + id;
    req->reason = IpcReason::kConnect;
    req->id = id;
    req->username = user;
    req->groupname = group;
    req->vhost = "vpn";
    req->ip_real = ip;
    req->ip_remote = "192.168.0." + std::to_string(next_session % 250);
    req->device = "vpns0";
    const milliseconds left(std::max(a.c, 100));
    const milliseconds budget = std::min(config.decision_timeout, left - milliseconds(50));
    h.request = req;
    h.incarnation = incarnation;
    h.arrival_step = step;
    h.arrival = clock.now();
    h.deadline = h.arrival + budget;
    h.gives_up = a.d ? h.arrival + budget / 2 : h.arrival + left;
    auto km = keys.find(key);
    h.surely_cached_deny = km != keys.end() && km->second.surely_fresh_deny_until &&
                           clock.now() < *km->second.surely_fresh_deny_until;
    h.breaker_refusing = config.breaker_override == BreakerOverride::kForceOpen ||
                         core->breaker->state() != BreakerState::kClosed;
    helpers[id] = h;
    SIM_NOTE(*this, "helper " + id + " (" + user + ") asks, deadline +" + std::to_string(budget.count()) + "ms" +
         (a.d ? ", gives up at half of it" : ""));
    PolicyAuthorizer& authorizer = core->second_authorizer && i % 2 == 1 ? *core->second_authorizer : *core->authorizer;
    authorizer.Authorize(req, h.deadline, [this, id, inc = incarnation](IpcReply reply) {
      if (inc != incarnation) return;
      OnAnswer(id, std::move(reply));
    });
  }
}

void World::OnAnswer(const std::string& id, IpcReply reply) {
  Helper& h = helpers.at(id);
  Decision d = std::move(reply.decision);
  if (bug == PlantedBug::kFailOpenOverridesDeny && d.verdict == Verdict::kDeny && d.source == DecisionSource::kCache &&
      config.fail_mode.fail_mode == FailMode::kOpen && core->breaker->state() != BreakerState::kClosed) {
    d = Decision{Verdict::kAllow, DecisionSource::kFailOpen, "planted: fail-open over a cached deny"};
  }
  SIM_NOTE(*this, "helper " + id + " gets " + std::string(oa::to_string(d.verdict)) + " from " +
       std::string(oa::to_string(d.source)) + (d.reason.empty() ? "" : " (" + d.reason + ")"));
  Mix(static_cast<std::uint64_t>(d.verdict) * 16 + static_cast<std::uint64_t>(d.source),
      static_cast<std::uint64_t>(clock.now().time_since_epoch().count()));
  inv::OnAnswer(*this, h, d, h.surely_cached_deny);
  h.answered = true;
  ++coverage.answers;
  if (d.source == DecisionSource::kCoalesced) ++coverage.coalesced;
  if (d.source == DecisionSource::kStale || d.source == DecisionSource::kFailOpen ||
      d.source == DecisionSource::kFailClose) {
    ++(d.reason.rfind("revoked", 0) == 0 ? coverage.revoked_refusals : coverage.degraded_answers);
  }
  const std::string& user = h.request->username;
  // A portal Allow from a call that started after a user's revocation lifts it (RevocationTable::AllowAfterCall).
  if (d.verdict == Verdict::kAllow && completing != nullptr &&
      (d.source == DecisionSource::kPortal || d.source == DecisionSource::kCoalesced)) {
    auto it = revoked_at_step.find("u:" + user);
    if (it != revoked_at_step.end() && completing->start_step > it->second) revoked_at_step.erase(it);
  }
  if (d.verdict != Verdict::kAllow) return;
  if (clock.now() > h.gives_up) {
    ++coverage.helpers_gone;
    SIM_NOTE(*this, "helper " + id + " had given up: ocserv does not run the session");
    return;
  }
  const IpcRequest& r = *h.request;
  live[id] = SessionRecord{r.id, r.username, r.groupname, r.ip_real, d.source, clock.wall_now(), false, r.ip_remote};
  if (with_outbox) events[id].expected.push_back(SessionEventKind::kConnect);
  core->recorder->OnAdmitDelivered(h.request, d.source);
  outbox_dirty = true;
}

void World::SessionEnded(const Action& a, IpcReason reason) {
  if (live.empty()) return;
  auto it = live.begin();
  std::advance(it, a.a % static_cast<int>(live.size()));
  const SessionRecord s = it->second;
  if (reason == IpcReason::kDisconnect) live.erase(it);
  if (with_outbox) {
    events[s.id].expected.push_back(reason == IpcReason::kDisconnect ? SessionEventKind::kDisconnect
                                                                     : SessionEventKind::kHostUpdate);
  }
  RunScript(s, reason);
}

// ocserv runs the helper as its disconnect- or host-update-script for session `s`.
void World::RunScript(const SessionRecord& s, IpcReason reason) {
  auto req = std::make_shared<IpcRequest>();
  req->request_id = "e" + s.id + "-" + std::to_string(step);
  req->reason = reason;
  req->id = s.id;
  req->username = s.username;
  req->groupname = s.groupname;
  req->ip_real = s.ip_real;
  req->ip_remote = s.vpn_ip;
  SIM_NOTE(*this, std::string(reason == IpcReason::kDisconnect ? "disconnect" : "host-update") + " of session " + s.id);
  core->recorder->OnSessionEvent(req);
  outbox_dirty = true;
}

void World::ModelInvalidate(const Subject& s) {
  ++model_invalidations;
  for (auto& [key, m] : keys) {
    if (!s.Covers(m.username, m.groupname)) continue;
    m.may_be_cached = false;
    m.surely_fresh_deny_until.reset();
  }
}

void World::CountRecheckTrigger() {
  // Upper bound of the enforcer's pacing: each trigger schedules at most one re-check per registered session, one
  // every 1/rate s after the previous ones.
  const auto step_ns = std::chrono::nanoseconds(1'000'000'000LL / std::max<std::uint32_t>(config.recheck_rate, 1));
  recheck_horizon = std::max(recheck_horizon, clock.now()) +
                    step_ns * static_cast<std::int64_t>(core->sessions.size() + 1);
}

void World::ApplyPolicyEvent(PolicyEventKind kind, int subject_index) {
  const Subject s = SubjectOf(subject_index);
  PolicyEvent e;
  e.version = ++policy_version;
  e.kind = kind;
  if (kind != PolicyEventKind::kResync) e.subject = s;
  e.reason = "revoked by the simulated portal";
  e.published_at = clock.wall_now();
  if (kind == PolicyEventKind::kRevoke) {
    revoked_at_step[SubjectKey(s)] = step;
    ModelInvalidate(s);
  } else if (kind == PolicyEventKind::kRestore) {
    revoked_at_step.erase(SubjectKey(s));
  } else if (kind == PolicyEventKind::kInvalidate) {
    ModelInvalidate(s);
  } else if (kind == PolicyEventKind::kRecheck) {
    CountRecheckTrigger();
  } else if (kind == PolicyEventKind::kResync) {
    ModelInvalidate(Subject::All());
    CountRecheckTrigger();
  }
  core->policy->Apply(e);
}

void World::LocalRevocation(bool revoke, int subject_index) {
  const Subject s = SubjectOf(subject_index);
  if (revoke) {
    revoked_at_step[SubjectKey(s)] = step;
    ModelInvalidate(s);
    (void)core->policy->Revoke(s, "operator", 0, "local");
  } else {
    revoked_at_step.erase(SubjectKey(s));
    (void)core->policy->Restore(s, "local");
  }
}

void World::OnBreakerTransition(const BreakerTransition& t) {
  SIM_NOTE(*this, "breaker " + std::string(oa::to_string(t.from)) + " -> " + std::string(oa::to_string(t.to)) + " (" +
       std::string(t.reason) + ")");
  Mix(0xb4ea4e4, static_cast<std::uint64_t>(t.to));
  if (t.to == BreakerState::kOpen) ++coverage.breaker_trips;
  if (t.to != BreakerState::kClosed || t.from == BreakerState::kClosed || !core) return;
  // As agent/daemon/decision_path.cc wires it: the portal is back, re-check what was admitted without it.
  if (bug != PlantedBug::kNoRecheckAfterOutage) {
    core->scheduler.RunAt(clock.now(), [this] {
      core->enforcer->RecheckDegraded("circuit breaker closed: the portal is back");
    });
  }
  CountRecheckTrigger();
  for (const SessionRecord& s : core->sessions.ListWhere([](const SessionRecord& r) {
         return !r.reconstructed &&
                (r.admitted_by == DecisionSource::kFailOpen || r.admitted_by == DecisionSource::kStale);
       })) {
    if (recheck_due.emplace(s.id, recheck_horizon).second) ++coverage.rechecks_owed;
  }
}

void World::Quiesce() {
  portal_mode = PortalMode::kHealthy;
  delivery_mode = DeliveryMode::kOk;
  occtl_mode = OcctlMode::kOk;
  SIM_NOTE(*this, "quiesce: the neighbours are healthy again; running until everything is delivered");
  for (int round = 0; round < 8 && !violation; ++round) {
    AdvanceBy(milliseconds(120'000));
    const bool delivered = !core->outbox || (core->outbox->stats().depth == 0 && core->sender->stats().in_flight == 0);
    if (delivered && core->scheduler.pending() == 0) break;
  }
}

// ---- the neighbours ----

void SimPortal::CheckPolicy(PolicyQuery query, milliseconds timeout, PortalClient::Done done) {
  World& w = w_;
  PortalCall c;
  c.id = w.next_call++;
  c.key = KeyOf(query.request.username, query.request.groupname, query.request.vhost, query.request.ip_real);
  c.username = query.request.username;
  c.groupname = query.request.groupname;
  c.session_id = query.request.id;
  c.start_step = w.step;
  c.model_generation = w.model_invalidations;
  c.breaker_generation = w.core->breaker->generation();
  c.start = w.clock.now();
  inv::OnPortalCallStart(w, c);
  auto& km = w.keys[c.key];
  km.username = c.username;
  km.groupname = c.groupname;

  const bool allowed = c.username != UserOf(kUsers - 1) && w.portal_revoked_users.count(c.username) == 0 &&
                       w.portal_revoked_groups.count(c.groupname) == 0;
  PolicyAnswer truth;
  truth.outcome = allowed ? PortalOutcome::kAllow : PortalOutcome::kDeny;
  if (!allowed) truth.deny_reason = "not allowed by the simulated policy";
  const int ttl_roll = w.nature.Below(10);
  if (ttl_roll == 0) truth.cache_ttl = std::chrono::seconds(0);
  if (ttl_roll == 1) truth.cache_ttl = std::chrono::seconds(5);
  auto error = [](absl::StatusCode code, bool malformed = false) {
    PolicyAnswer a;
    a.outcome = PortalOutcome::kError;
    a.error = absl::Status(code, "simulated");
    a.malformed_reply = malformed;
    return a;
  };
  PolicyAnswer answer = truth;
  int latency = w.nature.Between(5, 150);
  bool inline_answer = false;
  switch (w.portal_mode) {
    case PortalMode::kHealthy: break;
    case PortalMode::kSlow: latency = w.nature.Between(200, 5000); break;
    case PortalMode::kFlaky:
      if (w.nature.Chance(35)) answer = error(absl::StatusCode::kUnavailable);
      latency = w.nature.Between(1, 400);
      break;
    case PortalMode::kMalformed:
      if (w.nature.Chance(50)) answer = error(absl::StatusCode::kInternal, true);
      break;
    case PortalMode::kOutage:
      answer = error(absl::StatusCode::kUnavailable);
      inline_answer = w.nature.Chance(30);  // refused at once (the channel fails fast)
      latency = w.nature.Between(1, 50);
      break;
    case PortalMode::kRefusing:
      answer = error(absl::StatusCode::kPermissionDenied);
      break;
    case PortalMode::kCount: break;
  }
  if (!inline_answer && milliseconds(latency) > timeout) {
    answer = error(absl::StatusCode::kDeadlineExceeded);
    latency = static_cast<int>(timeout.count());
  }
  SIM_NOTE(w, "portal call #" + std::to_string(c.id) + " for " + c.username + " starts: will answer " +
         std::string(oa::to_string(answer.outcome)) +
         (answer.outcome == PortalOutcome::kError ? " " + std::string(absl::StatusCodeToString(answer.error.code()))
                                                  : "") +
         (inline_answer ? " at once" : " after " + std::to_string(latency) + "ms"));
  w.Mix(c.id, static_cast<std::uint64_t>(answer.outcome) * 100 + static_cast<std::uint64_t>(latency));
  const std::uint64_t id = c.id;
  w.calls_in_flight.emplace(id, std::move(c));
  ++w.coverage.portal_calls;
  if (inline_answer) {
    w.CompleteCall(id, std::move(answer), std::move(done));
    return;
  }
  const int inc = w.incarnation;
  w.core->scheduler.RunAt(w.clock.now() + milliseconds(latency),
                          [&w, id, inc, answer = std::move(answer), done = std::move(done)]() mutable {
                            if (inc == w.incarnation) w.CompleteCall(id, std::move(answer), std::move(done));
                          });
}

void World::CompleteCall(std::uint64_t call_id, PolicyAnswer answer, PortalClient::Done done) {
  auto it = calls_in_flight.find(call_id);
  if (it == calls_in_flight.end()) return;
  const PortalCall c = std::move(it->second);
  calls_in_flight.erase(it);
  const CallResult result = ClassifyCall(answer.outcome, answer.error.code());
  SIM_NOTE(*this, "portal call #" + std::to_string(c.id) + " ends: " + std::string(oa::to_string(answer.outcome)) + " (" +
       std::string(oa::to_string(result)) + " for the breaker)");
  if (result == CallResult::kFailure) ++failure_completions_this_step;
  if (result == CallResult::kSuccess) ++success_completions_this_step;

  // The model of the cache (invariant 2).
  auto& km = keys[c.key];
  km.username = c.username;
  km.groupname = c.groupname;
  if (answer.outcome != PortalOutcome::kError) {
    const bool ttl_zero = answer.cache_ttl && answer.cache_ttl->count() == 0;
    const bool no_invalidation = c.model_generation == model_invalidations;
    if (ttl_zero) {
      km.may_be_cached = false;
      km.surely_fresh_deny_until.reset();
    } else if (no_invalidation) {
      km.may_be_cached = true;
      km.surely_fresh_deny_until.reset();
      if (answer.outcome == PortalOutcome::kDeny) {
        const milliseconds ttl = answer.cache_ttl ? std::chrono::duration_cast<milliseconds>(*answer.cache_ttl)
                                                  : config.cache.deny_ttl;
        km.surely_fresh_deny_until = clock.now() + ttl * 9 / 10 - milliseconds(1);
      }
    } else {
      km.surely_fresh_deny_until.reset();  // an Allow may replace it, or not: unknown
    }
  }

  // The breaker's consecutive-failure rule (invariant 4): results of the current generation only.
  const std::uint64_t gen = core->breaker->generation();
  if (gen != model_generation_seen) {
    model_generation_seen = gen;
    consecutive_failures = 0;
  }
  const bool current = c.breaker_generation == gen;
  if (current && result == CallResult::kFailure) ++consecutive_failures;
  if (current && result == CallResult::kSuccess) consecutive_failures = 0;
  const bool was_closed_auto =
      current && core->breaker->state() == BreakerState::kClosed && config.breaker_override == BreakerOverride::kAuto;

  completing = &c;
  completing_failed = answer.outcome == PortalOutcome::kError;
  const PortalOutcome outcome = answer.outcome;
  const PolicyAnswer copy = bug == PlantedBug::kCacheIgnoresGeneration ? answer : PolicyAnswer{};
  done(std::move(answer));
  completing = nullptr;
  completing_failed = false;

  if (was_closed_auto && config.breaker.failure_threshold > 0 &&
      consecutive_failures >= config.breaker.failure_threshold &&
      core->breaker->state() == BreakerState::kClosed && core->breaker->generation() == gen) {
    Violate(inv::kBreakerFollowsRules, std::to_string(consecutive_failures) +
                                           " consecutive failures recorded (threshold " +
                                           std::to_string(config.breaker.failure_threshold) +
                                           ") and the breaker is still closed");
  }
  if (consecutive_failures >= config.breaker.failure_threshold) consecutive_failures = 0;

  // Planted bugs, through the components' public API.
  if (bug == PlantedBug::kCacheIgnoresGeneration && outcome != PortalOutcome::kError) {
    auto h = helpers.find(c.session_id);
    if (h != helpers.end()) {
      auto kb = CacheKeyBuilder::Create(config.cache.key_fields);
      std::optional<Millis> ttl;
      if (copy.cache_ttl) ttl = std::chrono::duration_cast<Millis>(*copy.cache_ttl);
      core->cache->Put(kb->Build(KeyFieldValuesOf(*h->second.request)), c.username, c.groupname,
                       outcome == PortalOutcome::kAllow ? Verdict::kAllow : Verdict::kDeny, copy.deny_reason, ttl);
    }
  }
  if (bug == PlantedBug::kBreakerCountsDeny && outcome == PortalOutcome::kDeny) {
    BreakerPermit p = core->breaker->TryAcquire();
    if (p) core->breaker->Record(p, CallResult::kFailure);
  }
}

void SimPortal::Validate(const SessionRecord& session, std::function<void(SessionValidation)> done) {
  World& w = w_;
  w.recheck_due.erase(session.id);
  SessionValidation v;
  const bool down = w.portal_mode == PortalMode::kOutage || w.portal_mode == PortalMode::kRefusing ||
                    (w.portal_mode == PortalMode::kFlaky && w.nature.Chance(35));
  if (down) {
    v.outcome = ValidationOutcome::kError;
    v.reason = "simulated outage";
  } else {
    const bool allowed = session.username != UserOf(kUsers - 1) &&
                         w.portal_revoked_users.count(session.username) == 0 &&
                         w.portal_revoked_groups.count(session.groupname) == 0;
    v.outcome = allowed ? ValidationOutcome::kValid : ValidationOutcome::kInvalid;
    if (!allowed) v.reason = "no longer allowed";
  }
  SIM_NOTE(w, "portal validates session " + session.id + ": " +
         (v.outcome == ValidationOutcome::kValid ? "valid" : v.outcome == ValidationOutcome::kInvalid ? "invalid" : "error"));
  w.Mix(0x7a11d, static_cast<std::uint64_t>(v.outcome));
  const int inc = w.incarnation;
  w.core->scheduler.RunAt(w.clock.now() + milliseconds(w.nature.Between(5, 100)),
                          [&w, inc, v = std::move(v), done = std::move(done)] {
                            if (inc == w.incarnation) done(v);
                          });
}

void SimPortal::Deliver(const StoredEvent& event, EventDelivery::Done done) {
  World& w = w_;
  absl::Status status;
  switch (w.delivery_mode) {
    case DeliveryMode::kOk: break;
    case DeliveryMode::kDown: status = absl::UnavailableError("simulated: portal down"); break;
    case DeliveryMode::kLostAck:
      if (w.nature.Chance(50)) status = absl::DeadlineExceededError("simulated: the answer was lost");
      break;
    case DeliveryMode::kRejectSome:
      if (w.nature.Chance(20)) status = absl::FailedPreconditionError("simulated: refused");
      break;
    case DeliveryMode::kCount: break;
  }
  const int inc = w.incarnation;
  w.core->scheduler.RunAt(w.clock.now() + milliseconds(w.nature.Between(2, 200)),
                          [&w, inc, event, status, done = std::move(done)]() mutable {
                            if (inc == w.incarnation) w.CompleteDelivery(event, status, std::move(done));
                          });
}

void World::CompleteDelivery(const StoredEvent& e, absl::Status status, EventDelivery::Done done) {
  // The portal processes it (unless it is down); a lost answer means it did, but the agent does not know.
  const bool reached = status.ok() || status.code() == absl::StatusCode::kDeadlineExceeded ||
                       status.code() == absl::StatusCode::kFailedPrecondition;
  const bool duplicate = event_ids_received.count(e.event_id) > 0;
  if (reached && !duplicate) {
    event_ids_received.insert(e.event_id);
    ++coverage.events_received;
    inv::OnEventReceived(*this, e);
  }
  if (duplicate && status.code() == absl::StatusCode::kFailedPrecondition) status = absl::OkStatus();
  if (duplicate && status.ok() && nature.Chance(50)) status = absl::AlreadyExistsError("duplicate event_id");
  SIM_NOTE(*this, "portal " + std::string(reached ? "takes" : "cannot take") + " event seq " + std::to_string(e.seq) + " (" +
       std::string(oa::to_string(e.event.kind)) + " of session " + e.event.session_id + ")" +
       (duplicate ? ", a duplicate" : "") + ": " + std::string(absl::StatusCodeToString(status.code())));
  Mix(e.seq, static_cast<std::uint64_t>(status.code()));
  outbox_dirty = true;  // the sender removes, parks or retries it
  done(status);
}

absl::StatusOr<std::vector<SessionRecord>> SimOcctl::ListSessions() {
  if (w_.occtl_mode != OcctlMode::kOk) return absl::UnavailableError("simulated occtl failure");
  std::vector<SessionRecord> out;
  for (const auto& [id, s] : w_.live) {
    SessionRecord r = s;
    r.reconstructed = true;
    out.push_back(r);
  }
  return out;
}

absl::Status SimOcctl::Disconnect(const std::string& session_id) {
  // Runs on the enforcer's worker while the simulation waits for it (World::Settle).
  if (w_.occtl_mode == OcctlMode::kFails) return absl::UnavailableError("simulated occtl failure");
  if (w_.occtl_mode == OcctlMode::kHangs) return absl::DeadlineExceededError("simulated occtl hang, killed");
  auto it = w_.live.find(session_id);
  if (it == w_.live.end()) return absl::UnavailableError("occtl: no such session");
  w_.disconnect_scripts_due.push_back(it->second);
  w_.live.erase(it);
  ++w_.coverage.forced_disconnects;
  if (w_.with_outbox) w_.events[session_id].expected.push_back(SessionEventKind::kDisconnect);
  SIM_NOTE(w_, "occtl disconnects session " + session_id);
  w_.outbox_dirty = true;
  return absl::OkStatus();
}

}  // namespace oa::sim
