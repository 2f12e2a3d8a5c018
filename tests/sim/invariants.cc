#include "invariants.h"

#include <string>

namespace oa::sim::inv {
namespace {

bool Degraded(const Decision& d) {
  return d.source == DecisionSource::kStale || d.source == DecisionSource::kFailOpen ||
         d.source == DecisionSource::kFailClose;
}

std::string What(const Helper& h, const Decision& d) {
  return "helper " + h.request->id + " (" + h.request->username + "/" + h.request->groupname + ") got " +
         std::string(oa::to_string(d.verdict)) + " from " + std::string(oa::to_string(d.source));
}

}  // namespace

void OnAnswer(World& w, const Helper& h, const Decision& d, bool surely_cached_deny_at_arrival) {
  const auto now = w.clock.now();

  // 3. Every helper request gets one answer, by its deadline, whatever the portal does.
  if (h.answered) w.Violate(kAnsweredByDeadline, What(h, d) + " a second time");
  if (now > h.deadline) {
    w.Violate(kAnsweredByDeadline,
              What(h, d) + " " +
                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - h.deadline).count()) +
                  " ms after its deadline");
  }

  // 1. A revoked user or group is never admitted, except by a portal Allow from a call that started after the
  //    revocation.
  if (d.verdict == Verdict::kAllow) {
    for (const std::string& subject : {"u:" + h.request->username, "g:" + h.request->groupname}) {
      auto it = w.revoked_at_step.find(subject);
      if (it == w.revoked_at_step.end()) continue;
      const bool fresh_portal_allow = w.completing != nullptr && w.completing->start_step > it->second &&
                                      (d.source == DecisionSource::kPortal || d.source == DecisionSource::kCoalesced);
      if (!fresh_portal_allow) {
        w.Violate(kRevokedNeverAdmitted,
                  What(h, d) + " although " + subject + " was revoked at step " + std::to_string(it->second) +
                      (w.completing ? " (the call started at step " + std::to_string(w.completing->start_step) + ")"
                                    : ""));
      }
    }
  }

  // 2. Degraded answers (stale, fail-open, fail-close) only when the call for that request failed, the breaker was
  //    not admitting, or the request's own deadline came first — never while the portal is healthy. A revoked
  //    subject's refusal (fail_close, "revoked...") is not a degraded answer. A fresh cached Deny is never
  //    overridden. A cache answer is a verdict the portal gave after the latest invalidation of its subject.
  const bool revoked_refusal = d.source == DecisionSource::kFailClose && d.reason.rfind("revoked", 0) == 0;
  if (Degraded(d) && !revoked_refusal) {
    const bool call_failed = w.completing != nullptr && w.completing_failed;
    const bool at_deadline = now >= h.deadline;
    if (!call_failed && !at_deadline && !h.breaker_refusing) {
      w.Violate(kDegradedOnlyWhenFailing, What(h, d) + " while no call failed, the breaker admitted calls and the "
                                                       "deadline had not come (" + d.reason + ")");
    }
  }
  if (surely_cached_deny_at_arrival && d.verdict != Verdict::kDeny) {
    w.Violate(kDegradedOnlyWhenFailing, What(h, d) + " although a fresh Deny for its key was cached");
  }
  if (d.source == DecisionSource::kCache) {
    const std::string key = h.request->username + "|" + h.request->groupname + "|" + h.request->vhost + "|" +
                            h.request->ip_real;
    auto it = w.keys.find(key);
    if (it == w.keys.end() || !it->second.may_be_cached) {
      w.Violate(kDegradedOnlyWhenFailing,
                What(h, d) + " but no portal answer since the latest invalidation of its subject may be cached");
    }
  }
}

void OnPortalCallStart(World& w, const PortalCall& call) {
  // 5. At most one portal call in flight per cache key.
  for (const auto& [id, other] : w.calls_in_flight) {
    if (other.key == call.key) {
      w.Violate(kOneCallPerKey, "portal call #" + std::to_string(call.id) + " for " + call.key + " starts while #" +
                                    std::to_string(id) + " is in flight");
    }
  }
  // 4. The breaker's rules: none while forced open; at most half_open_max_calls probes in flight when half-open.
  const CircuitBreaker& b = *w.core->breaker;
  if (w.config.breaker_override == BreakerOverride::kForceOpen) {
    w.Violate(kBreakerFollowsRules, "portal call #" + std::to_string(call.id) + " while the breaker is forced open");
  }
  if (w.config.breaker_override == BreakerOverride::kAuto && b.state() == BreakerState::kHalfOpen) {
    int probes = 1;
    for (const auto& [id, other] : w.calls_in_flight) probes += other.breaker_generation == call.breaker_generation;
    const int max = std::max(w.config.breaker.half_open_max_calls, 1);
    if (probes > max) {
      w.Violate(kBreakerFollowsRules, std::to_string(probes) + " half-open probes in flight (at most " +
                                          std::to_string(max) + ")");
    }
  }
}

void OnEventReceived(World& w, const StoredEvent& e) {
  // 6. Per session, the portal gets what happened, in order, each once; nothing for a session never admitted.
  auto it = w.events.find(e.event.session_id);
  if (it == w.events.end() || it->second.expected.empty() ||
      it->second.expected.front() != SessionEventKind::kConnect) {
    w.Violate(kEventsExactlyOnceInOrder, "the portal got a " + std::string(oa::to_string(e.event.kind)) +
                                             " event for session " + e.event.session_id + ", never admitted");
    return;
  }
  SessionEvents& s = it->second;
  const std::size_t i = s.received.size();
  if (i >= s.expected.size() || s.expected[i] != e.event.kind) {
    w.Violate(kEventsExactlyOnceInOrder,
              "the portal got " + std::string(oa::to_string(e.event.kind)) + " (seq " + std::to_string(e.seq) +
                  ") as event #" + std::to_string(i + 1) + " of session " + e.event.session_id + ", expected " +
                  (i < s.expected.size() ? std::string(oa::to_string(s.expected[i])) : std::string("nothing more")));
    return;
  }
  s.received.push_back(e.event.kind);
}

void CheckAfterStep(World& w) {
  const auto now = w.clock.now();
  // 3. No helper is still waiting past its deadline.
  for (const auto& [id, h] : w.helpers) {
    if (!h.answered && !h.agent_died && now > h.deadline) {
      w.Violate(kAnsweredByDeadline, "helper " + id + " still has no answer, " +
                                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                            now - h.deadline)
                                                            .count()) +
                                         " ms after its deadline");
    }
  }
  // 4. A Deny (or any success) never counts as a failure; forced closed stays closed; generations only grow.
  const CircuitBreaker& b = *w.core->breaker;
  const BreakerCounters bc = b.counters();
  if (bc.failures - w.breaker_failures_before > static_cast<std::uint64_t>(w.failure_completions_this_step)) {
    w.Violate(kBreakerFollowsRules,
              "the breaker counted " + std::to_string(bc.failures - w.breaker_failures_before) +
                  " failure(s) in a step where " + std::to_string(w.failure_completions_this_step) +
                  " portal call(s) failed");
  }
  if (bc.successes - w.breaker_successes_before > static_cast<std::uint64_t>(w.success_completions_this_step)) {
    w.Violate(kBreakerFollowsRules, "the breaker counted more successes than calls answered");
  }
  if (w.config.breaker_override == BreakerOverride::kForceClosed && b.state() != BreakerState::kClosed) {
    w.Violate(kBreakerFollowsRules, "forced closed but " + std::string(oa::to_string(b.state())));
  }
  if (b.generation() < w.breaker_generation_before) w.Violate(kBreakerFollowsRules, "the generation went back");

  // 7. After the portal returns, every session admitted by fail-open or stale is re-checked within the rate.
  for (auto it = w.recheck_due.begin(); it != w.recheck_due.end();) {
    const std::string& id = it->first;
    const bool gone = w.core->sessions.ListWhere([&id](const SessionRecord& s) { return s.id == id; }).empty();
    if (gone) {
      it = w.recheck_due.erase(it);
      continue;
    }
    if (now > it->second) {
      w.Violate(kDegradedRecheckedAfterOutage,
                "session " + id + " (admitted without the portal) not re-checked by " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second).count()) +
                    " ms past its due time");
      it = w.recheck_due.erase(it);
      continue;
    }
    ++it;
  }
}

void CheckAtEnd(World& w) {
  // 3. at the end too.
  for (const auto& [id, h] : w.helpers) {
    if (!h.answered && !h.agent_died) w.Violate(kAnsweredByDeadline, "helper " + id + " never got an answer");
  }
  // 6. Everything acknowledged reached the portal exactly once, unless dropped by the bound (counted).
  if (!w.core->outbox) return;
  const OutboxStats s = w.core->outbox->stats();
  const std::uint64_t dropped = w.outbox_dropped + s.dropped_full + s.dropped_memory + s.lost_moved_aside;
  std::uint64_t missing = 0;
  std::string first;
  for (const auto& [id, e] : w.events) {
    if (e.received.size() < e.expected.size()) {
      missing += e.expected.size() - e.received.size();
      if (first.empty()) {
        first = "session " + id + ": " + std::to_string(e.received.size()) + " of " +
                std::to_string(e.expected.size()) + " events reached the portal";
      }
    }
  }
  if (missing > dropped) {
    w.Violate(kEventsExactlyOnceInOrder, std::to_string(missing) + " event(s) never reached the portal (" +
                                             std::to_string(dropped) + " dropped by the bound, outbox depth " +
                                             std::to_string(s.depth) + "); " + first);
  }
}

}  // namespace oa::sim::inv
