#include "agent/daemon/decision_control_plane.h"

namespace oa {

DecisionControlPlane::DecisionControlPlane(Parts parts, std::string version, const Clock& clock)
    : parts_(std::move(parts)), version_(std::move(version)), clock_(clock), started_(clock.now()) {}

AgentSnapshot DecisionControlPlane::Collect() const {
  AgentSnapshot s;
  const AuthorizerSettings settings = parts_.authorizer.settings();
  s.version = version_;
  s.agent_id = settings.agent_id;
  s.uptime = std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - started_);
  s.fail = settings.fail_mode;
  s.breaker_state = parts_.breaker.state();
  s.breaker_override = parts_.breaker.override_mode();
  s.breaker = parts_.breaker.counters();
  s.cache = parts_.cache.stats();
  s.cache_capacity = parts_.cache.capacity();
  s.decisions = parts_.counters.snapshot();
  if (parts_.portal != nullptr) s.portal = parts_.portal->stats();
  s.ipc_listening = parts_.ipc_listening ? parts_.ipc_listening() : false;
  if (parts_.ipc != nullptr) s.ipc = parts_.ipc->counters();
  if (parts_.sessions != nullptr) s.sessions_active = parts_.sessions->size();
  if (parts_.revocations != nullptr) {
    EnforcementSnapshot e;
    e.taken_at = clock_.now();
    if (parts_.watch_status) {
      if (auto w = parts_.watch_status()) {
        e.stream_state = w->state;
        e.stream = w->counters;
        e.last_applied_version = w->last_applied_version;
      }
    }
    if (parts_.policy_enforcer != nullptr) e.events = parts_.policy_enforcer->counts();
    e.revocations = parts_.revocations->counters();
    e.in_force = parts_.revocations->List();
    if (parts_.session_enforcer != nullptr) {
      e.sessions = parts_.session_enforcer->counters();
      e.revocation_latency = parts_.session_enforcer->revocation_latency();
    }
    s.enforcement = std::move(e);
  }
  if (parts_.outbox != nullptr && parts_.event_sender != nullptr) {
    s.events = EventsSnapshot{parts_.outbox->stats(), parts_.event_sender->stats(), clock_.wall_now()};
  }
  return s;
}

absl::StatusOr<std::uint64_t> DecisionControlPlane::Revoke(const LocalSubject& subject, std::string reason,
                                                           int disconnect_reason, std::string by) {
  if (parts_.policy_enforcer == nullptr) return absl::UnimplementedError("live enforcement is not wired");
  auto r = parts_.policy_enforcer->Revoke(subject.group ? Subject::Group(subject.name) : Subject::User(subject.name),
                                          std::move(reason), disconnect_reason, std::move(by));
  if (!r.ok()) return r.status();
  return r->sequence;
}

absl::StatusOr<bool> DecisionControlPlane::Restore(const LocalSubject& subject, std::string by) {
  if (parts_.policy_enforcer == nullptr) return absl::UnimplementedError("live enforcement is not wired");
  return parts_.policy_enforcer->Restore(
      subject.group ? Subject::Group(subject.name) : Subject::User(subject.name), by);
}

StatusSnapshot DecisionControlPlane::ToStatus(const AgentSnapshot& s) {
  StatusSnapshot out;
  out.version = s.version;
  out.agent_id = s.agent_id;
  out.uptime = s.uptime;
  out.fail_mode = s.fail.fail_mode;
  out.stale_fallback = s.fail.stale_fallback;
  out.breaker_state = std::string(to_string(s.breaker_state));
  out.breaker_override = s.breaker_override;
  const auto& b = s.breaker;
  out.breaker_counters = {{"admitted", b.admitted},   {"probes", b.probes},   {"rejected", b.rejected},
                          {"successes", b.successes}, {"failures", b.failures}, {"ignored", b.ignored},
                          {"stale_results", b.stale_results}, {"trips", b.trips},
                          {"current_open_timeout_ms", static_cast<std::uint64_t>(b.current_open_timeout.count())}};
  const auto& c = s.cache;
  out.cache_stats = {{"hits", c.hits},           {"misses", c.misses},         {"stale_hits", c.stale_hits},
                     {"stale_misses", c.stale_misses}, {"coalesced", c.coalesced}, {"insertions", c.insertions},
                     {"evictions", c.evictions}, {"expirations", c.expirations}, {"size", c.size},
                     {"capacity", s.cache_capacity}};
  const auto& d = s.decisions;
  for (DecisionSource src : {DecisionSource::kPortal, DecisionSource::kCache, DecisionSource::kStale,
                             DecisionSource::kFailOpen, DecisionSource::kFailClose, DecisionSource::kCoalesced}) {
    out.decisions_by_source[std::string(to_string(src))] = d.by_source(src);
  }
  out.decisions_by_verdict = {{"allow", d.allowed}, {"deny", d.denied}};
  out.portal = {{"calls", d.portal_calls},
                {"allow", d.portal_allow},
                {"deny", d.portal_deny},
                {"error", d.portal_error},
                {"breaker_rejected", d.breaker_rejected},
                {"deadline_answers", d.deadline_answers},
                {"no_time_for_portal", d.no_time_for_portal},
                {"in_flight", s.portal.in_flight},
                {"malformed_replies", s.portal.malformed_replies},
                {"refused_after_shutdown", s.portal.refused_after_shutdown}};
  ForEachCounter(s.ipc, [&out](std::string_view name, std::uint64_t v) { out.ipc[std::string(name)] = v; });
  out.sessions = {{"host_updates", d.host_updates},
                  {"disconnects", d.disconnects},
                  {"disconnects_unknown_session", d.disconnects_unknown_session},
                  {"active", s.sessions_active}};
  if (s.enforcement) {
    const auto& e = *s.enforcement;
    out.policy_stream = std::string(to_string(e.stream_state));
    out.enforcement = {{"stream_last_applied_version", e.last_applied_version},
                       {"stream_opened", e.stream.streams_opened},
                       {"stream_reconnects", e.stream.reconnects},
                       {"stream_watchdog_expired", e.stream.watchdog_expired},
                       {"stream_unimplemented", e.stream.unimplemented},
                       {"events_applied", e.stream.applied},
                       {"events_ignored_stale", e.stream.stale},
                       {"events_skipped_unknown", e.stream.unknown},
                       {"events_invalid", e.stream.invalid},
                       {"heartbeats", e.stream.heartbeats},
                       {"revocations_in_force", e.in_force.size()},
                       {"revocations_applied", e.revocations.revoked},
                       {"revocations_restored", e.revocations.restored},
                       {"revocations_lifted_by_allow", e.revocations.lifted_by_allow},
                       {"revocations_expired", e.revocations.expired},
                       {"admits_blocked_by_revocation", e.revocations.blocked_admits},
                       {"disconnected_revocation", e.sessions.disconnected_revocation},
                       {"disconnected_recheck", e.sessions.disconnected_recheck},
                       {"disconnected_session_update", e.sessions.disconnected_session_update},
                       {"reconstructed_connects", e.sessions.reconstructed_connects},
                       {"reconstructed_disconnects", e.sessions.reconstructed_disconnects},
                       {"late_disconnects_not_sent", e.sessions.late_disconnects_not_sent},
                       {"session_updates", e.sessions.session_updates},
                       {"disconnect_failed", e.sessions.disconnect_failed},
                       {"disconnect_timed_out", e.sessions.disconnect_timed_out},
                       {"recheck_valid", e.sessions.recheck_valid},
                       {"recheck_invalid", e.sessions.recheck_invalid},
                       {"recheck_error", e.sessions.recheck_error},
                       {"reconcile_ok", e.sessions.reconcile_ok},
                       {"reconcile_failed", e.sessions.reconcile_failed}};
    const auto now_wall = std::chrono::system_clock::now();
    for (const auto& r : e.in_force) {
      StatusSnapshot::RevocationInfo info;
      info.subject = Describe(r.subject);
      info.reason = r.reason;
      info.origin = r.origin;
      info.age_seconds = static_cast<std::uint64_t>(
          std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(now_wall - r.revoked_at).count()));
      info.expires_in_seconds = static_cast<std::uint64_t>(std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::seconds>(r.expires_at - e.taken_at).count()));
      out.revocations.push_back(std::move(info));
    }
  }
  if (s.events) {
    const auto& o = s.events->outbox;
    const auto& x = s.events->sender;
    out.events = {{"outbox_depth", o.depth},
                  {"outbox_memory_depth", o.memory_depth},
                  {"outbox_oldest_age_seconds", static_cast<std::uint64_t>(s.events->oldest_age().count())},
                  {"outbox_store_ok", o.store_ok ? 1u : 0u},
                  {"written", o.written},
                  {"committed", o.committed},
                  {"sent", x.sent},
                  {"attempts", x.attempts},
                  {"retried", x.retried},
                  {"parked", x.parked},
                  {"dropped_full", o.dropped_full},
                  {"dropped_memory", o.dropped_memory},
                  {"lost_moved_aside", o.lost_moved_aside},
                  {"store_failures", o.store_failures},
                  {"moved_aside", o.moved_aside},
                  {"in_flight", x.in_flight},
                  {"backoff_ms", static_cast<std::uint64_t>(x.current_backoff.count())}};
    out.events_sender_state = std::string(to_string(x.state));
  }
  return out;
}

StatusSnapshot DecisionControlPlane::Status() { return ToStatus(Collect()); }

std::size_t DecisionControlPlane::InvalidateUser(std::string_view username) {
  return parts_.cache.InvalidateUser(username);
}

std::size_t DecisionControlPlane::InvalidateGroup(std::string_view groupname) {
  return parts_.cache.InvalidateGroup(groupname);
}

std::size_t DecisionControlPlane::InvalidateAll() { return parts_.cache.InvalidateAll(); }

FailMode DecisionControlPlane::SetFailMode(FailMode mode) {
  // The stale fallback is kept: the API sets the mode only.
  const std::lock_guard lock(operator_mu_);
  FailModeOptions options = parts_.authorizer.settings().fail_mode;
  const FailMode previous = options.fail_mode;
  options.fail_mode = mode;
  parts_.authorizer.SetFailMode(options);
  return previous;
}

BreakerOverride DecisionControlPlane::SetBreakerOverride(BreakerOverride override) {
  const std::lock_guard lock(operator_mu_);  // the same lock: one operator action at a time
  const BreakerOverride previous = parts_.breaker.override_mode();
  parts_.breaker.SetOverride(override);
  return previous;
}

bool DecisionControlPlane::IpcListening() { return parts_.ipc_listening ? parts_.ipc_listening() : false; }

std::string DecisionControlPlane::BreakerState() { return std::string(to_string(parts_.breaker.state())); }

}  // namespace oa
