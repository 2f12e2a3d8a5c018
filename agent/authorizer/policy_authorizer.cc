#include "agent/authorizer/policy_authorizer.h"

#include <atomic>
#include <utility>

#include "absl/status/status.h"
#include "agent/authorizer/audit_log.h"
#include "agent/authorizer/request_mapping.h"
#include "resilience/call_result.h"
#include "resilience/fail_mode.h"

namespace oa {

// One request waiting for its answer. Answered exactly once: by its flight's result or by its own deadline,
// whichever comes first.
struct PolicyAuthorizer::Waiter {
  std::shared_ptr<const IpcRequest> request;
  Done done;
  Clock::MonoTime deadline;
  bool leader = false;
  std::atomic<bool> answered{false};
  Clock::MonoTime started{};  // when Authorize was called: the decision latency histogram
};

// One portal call and everyone waiting for it. `waiters` and `finished` are guarded by flights_mu_.
struct PolicyAuthorizer::Flight {
  CacheKey key;
  // Stamped when the portal call starts: an invalidation or a revocation after these makes the answer too old.
  std::uint64_t cache_generation = 0;
  std::uint64_t revocation_sequence = 0;
  Clock::MonoTime call_started{};  // the portal call latency histogram
  std::vector<std::shared_ptr<Waiter>> waiters;
  bool finished = false;
};

PolicyAuthorizer::PolicyAuthorizer(Deps deps, CacheKeyBuilder key_builder, AuthorizerSettings settings)
    : deps_(deps), key_builder_(std::move(key_builder)), settings_(std::move(settings)), counters_(deps.counters) {}

void PolicyAuthorizer::SetFailMode(FailModeOptions fail_mode) {
  std::lock_guard lock(settings_mu_);
  settings_.fail_mode = fail_mode;
}

void PolicyAuthorizer::UpdateSettings(AuthorizerSettings settings) {
  std::lock_guard lock(settings_mu_);
  settings_ = std::move(settings);
}

AuthorizerSettings PolicyAuthorizer::settings() const {
  std::lock_guard lock(settings_mu_);
  return settings_;
}

std::size_t PolicyAuthorizer::flights_in_progress() const {
  std::lock_guard lock(flights_mu_);
  return flights_.size();
}

void PolicyAuthorizer::Authorize(std::shared_ptr<const IpcRequest> request, Clock::MonoTime deadline, Done done) {
  const Clock::MonoTime started = deps_.clock.now();
  CacheKey key = key_builder_.Build(KeyFieldValuesOf(*request));

  if (auto hit = deps_.cache.GetFresh(key)) {
    // A revoked subject's cached Allow is not used: only the portal, asked after the revocation, may admit it.
    const bool revoked = hit->verdict == Verdict::kAllow && deps_.revocations != nullptr &&
                         deps_.revocations->AnyInForce() &&
                         deps_.revocations->Covering(request->username, request->groupname).has_value();
    if (!revoked) {
      Waiter w{request, std::move(done), deadline, false, {}, started};
      Answer(w, Decision{hit->verdict, DecisionSource::kCache, hit->reason});
      return;
    }
    AuthorizerCounters::Bump(counters_.revoked_cache_skips);
  }

  auto waiter = std::make_shared<Waiter>();
  waiter->request = std::move(request);
  waiter->done = std::move(done);
  waiter->deadline = deadline;
  waiter->started = started;

  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(flights_mu_);
    auto& slot = flights_[key.bytes()];
    if (!slot) {
      slot = std::make_shared<Flight>();
      slot->key = std::move(key);
      waiter->leader = true;
    }
    slot->waiters.push_back(waiter);
    flight = slot;
  }

  // Weak: a request answered before its deadline (the usual case) must not stay in memory until then.
  deps_.scheduler.RunAt(deadline, [this, weak_waiter = std::weak_ptr<Waiter>(waiter),
                                   weak_flight = std::weak_ptr<Flight>(flight)] {
    auto w = weak_waiter.lock();
    auto f = weak_flight.lock();
    if (w && f) OnWaiterDeadline(w, f);
  });
  if (waiter->leader) AskPortal(flight, waiter);
}

void PolicyAuthorizer::AskPortal(const std::shared_ptr<Flight>& flight, const std::shared_ptr<Waiter>& leader) {
  const AuthorizerSettings s = settings();
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(leader->deadline - deps_.clock.now());
  if (left <= std::chrono::milliseconds(0)) {
    AuthorizerCounters::Bump(counters_.no_time_for_portal);
    FailFlight(flight, "no time left to ask the portal");
    return;
  }

  BreakerPermit permit = deps_.breaker.TryAcquire();
  if (!permit) {
    AuthorizerCounters::Bump(counters_.breaker_rejected);
    FailFlight(flight, to_string(permit.rejection()));
    return;
  }

  AuthorizerCounters::Bump(counters_.portal_calls);
  // Read before the call is made: whatever is invalidated or revoked from now on, this answer predates it.
  flight->cache_generation = deps_.cache.generation();
  if (deps_.revocations != nullptr) flight->revocation_sequence = deps_.revocations->sequence();
  // BreakerPermit is move-only and std::function needs a copyable callable: share it.
  auto shared_permit = std::make_shared<BreakerPermit>(std::move(permit));
  flight->call_started = deps_.clock.now();
  deps_.portal.CheckPolicy(PolicyQueryOf(*leader->request, s.agent_id, deps_.clock.wall_now()),
                           std::min(s.portal_timeout, left),
                           [this, flight, shared_permit](PolicyAnswer answer) {
                             deps_.breaker.Record(*shared_permit, ClassifyCall(answer.outcome, answer.error.code()));
                             counters_.ObservePortalCall(answer.outcome, deps_.clock.now() - flight->call_started);
                             OnPortalAnswer(flight, std::move(answer));
                           });
}

std::vector<std::shared_ptr<PolicyAuthorizer::Waiter>> PolicyAuthorizer::TakeWaiters(
    const std::shared_ptr<Flight>& flight) {
  std::lock_guard lock(flights_mu_);
  flight->finished = true;
  auto it = flights_.find(flight->key.bytes());
  if (it != flights_.end() && it->second == flight) flights_.erase(it);
  return std::move(flight->waiters);
}

void PolicyAuthorizer::OnPortalAnswer(const std::shared_ptr<Flight>& flight, PolicyAnswer answer) {
  if (answer.outcome == PortalOutcome::kError) {
    AuthorizerCounters::Bump(counters_.portal_error);
    // The portal client has logged the failure (user, address, code); the answers' audit lines carry the reason.
    const std::string code(absl::StatusCodeToString(answer.error.code()));
    FailFlight(flight, "portal error: " + code);
    return;
  }

  const Verdict verdict = answer.outcome == PortalOutcome::kAllow ? Verdict::kAllow : Verdict::kDeny;
  AuthorizerCounters::Bump(verdict == Verdict::kAllow ? counters_.portal_allow : counters_.portal_deny);
  const std::string reason = verdict == Verdict::kDeny ? answer.deny_reason : std::string();

  auto waiters = TakeWaiters(flight);
  // An Allow from a call that started before a revocation covering a waiter must not admit that waiter (nor be
  // cached). Waiters of one flight share the cache key but, with custom key_fields, not always the group: each is
  // checked on its own.
  // Sized only while a revocation is in force: the usual miss allocates nothing for this.
  std::vector<std::optional<Revocation>> refused;
  bool any_refused = false;
  if (verdict == Verdict::kAllow && deps_.revocations != nullptr && deps_.revocations->AnyInForce()) {
    refused.resize(waiters.size());
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      const IpcRequest& r = *waiters[i]->request;
      refused[i] = deps_.revocations->AllowAfterCall(r.username, r.groupname, flight->revocation_sequence);
      any_refused |= refused[i].has_value();
    }
  }
  if (!waiters.empty() && !any_refused) {
    // Stored before anyone is answered, so a request arriving now finds it (or joins no flight and asks again).
    // Not stored if an invalidation or revocation happened while the call was in flight.
    const IpcRequest& r = *waiters.front()->request;
    std::optional<Millis> ttl;
    if (answer.cache_ttl) ttl = std::chrono::duration_cast<Millis>(*answer.cache_ttl);
    if (!deps_.cache.PutIfGeneration(flight->cache_generation, flight->key, r.username, r.groupname, verdict, reason,
                                     ttl)) {
      AuthorizerCounters::Bump(counters_.in_flight_not_cached);
    }
  } else if (any_refused) {
    AuthorizerCounters::Bump(counters_.in_flight_not_cached);
  }
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    auto& w = waiters[i];
    if (!w->leader) deps_.cache.RecordCoalesced();
    if (!refused.empty() && refused[i]) {
      deps_.revocations->CountBlocked();
      AuthorizerCounters::Bump(counters_.revoked_denied);
      Answer(*w, Decision{Verdict::kDeny, DecisionSource::kFailClose,
                          "revoked while the portal call was in flight: " + refused[i]->reason});
      continue;
    }
    Answer(*w, Decision{verdict, w->leader ? DecisionSource::kPortal : DecisionSource::kCoalesced, reason});
  }
}

void PolicyAuthorizer::FailFlight(const std::shared_ptr<Flight>& flight, std::string_view why) {
  auto waiters = TakeWaiters(flight);
  bool any_unanswered = false;
  for (auto& w : waiters) any_unanswered |= !w->answered.load();
  if (!any_unanswered) return;
  const Decision d = FailModeDecision(flight->key, why);
  for (auto& w : waiters) Answer(*w, RefuseIfRevoked(*w->request, d));
}

void PolicyAuthorizer::OnWaiterDeadline(const std::shared_ptr<Waiter>& waiter, const std::shared_ptr<Flight>& flight) {
  if (waiter->answered.load()) return;
  AuthorizerCounters::Bump(counters_.deadline_answers);
  Answer(*waiter, RefuseIfRevoked(*waiter->request, FailModeDecision(
                                                        flight->key, "decision deadline reached before the portal answered")));
}

Decision PolicyAuthorizer::RefuseIfRevoked(const IpcRequest& request, Decision decision) {
  if (decision.verdict != Verdict::kAllow || deps_.revocations == nullptr) return decision;
  auto revocation = deps_.revocations->Covering(request.username, request.groupname);
  if (!revocation) return decision;
  deps_.revocations->CountBlocked();
  AuthorizerCounters::Bump(counters_.revoked_denied);
  return Decision{Verdict::kDeny, DecisionSource::kFailClose,
                  "revoked (" + Describe(revocation->subject) + "): " + revocation->reason + "; " +
                      std::string(to_string(decision.source)) + " would have admitted"};
}

Decision PolicyAuthorizer::FailModeDecision(const CacheKey& key, std::string_view why) {
  const FailModeOptions mode = settings().fail_mode;
  // The stale entry is looked up only here: on an Error, and only in fail-stale mode — never while the portal is
  // answering.
  std::optional<CachedDecision> stale;
  if (mode.fail_mode == FailMode::kStale) stale = deps_.cache.GetStale(key);
  Decision d = DecideOnError(mode, stale);
  if (d.reason.empty()) {
    d.reason = std::string(why);
  } else if (d.source != DecisionSource::kStale) {
    d.reason = std::string(why) + "; " + d.reason;
  }
  return d;
}

void PolicyAuthorizer::Answer(Waiter& w, Decision decision) {
  if (w.answered.exchange(true)) return;
  counters_.CountAnswer(decision.source, decision.verdict);
  counters_.ObserveDecision(decision.source, deps_.clock.now() - w.started);
  const bool admitted = decision.verdict == Verdict::kAllow;
  const DecisionSource source = decision.source;
  if (admitted && deps_.sessions != nullptr) {
    const IpcRequest& r = *w.request;
    deps_.sessions->Admit(SessionRecord{r.id, r.username, r.groupname, r.ip_real, source, deps_.clock.wall_now(),
                                        false, r.ip_remote});
  }
  auto done = std::move(w.done);
  // The session's connect event is recorded by the IPC side once this answer has reached a helper still waiting
  // for it (SessionEventSink::OnAdmitDelivered), not here: the helper may have gone already.
  done(IpcReply::FromDecision(std::move(decision)));
}

}  // namespace oa
