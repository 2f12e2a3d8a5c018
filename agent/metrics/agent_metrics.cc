#include "agent/metrics/agent_metrics.h"

#include <string>

namespace oa {
namespace {

constexpr std::string_view kPrefix = "ocserv_agent_";

using Get = std::uint64_t (*)(const AgentSnapshot&);
// A getter from an expression over the snapshot `s` (only called when the row's group is present).
#define OA_GET(expr) [](const AgentSnapshot& s) -> std::uint64_t { return static_cast<std::uint64_t>(expr); }

// One exported number: its key in its GetStatus group ("" = not in GetStatus) and its label value in its family
// ("" = the family has no label).
struct Series {
  std::string_view status_key;
  std::string_view label_value;
  Get get;
};

// One metric family (name without the ocserv_agent_ prefix; "" = GetStatus only). `scale` converts the value to the
// family's base unit (milliseconds -> seconds).
struct FamilyDef {
  std::string_view name;
  MetricType type;
  std::string_view help;
  std::string_view label;
  std::vector<Series> series;
  double scale = 1;
};

class Out;
// A GetStatus group and the families it exports. `extra` adds the families that are not a fixed list of numbers
// (state gauges, histograms, per-source loops) to both views.
struct GroupDef {
  std::string_view status_group;  // "" = not in GetStatus
  bool (*present)(const AgentSnapshot&);
  std::vector<FamilyDef> families;
  void (*extra)(const AgentSnapshot&, Out&) = nullptr;
};

// Collects families (when `families` is set) and status values (when `status` is set) from the same calls.
class Out {
 public:
  Out(std::vector<MetricFamily>* families, const StatusValueFn* status) : families_(families), status_(status) {}

  // Starts a family; samples go to it until the next one. `prefix` false: a standard name (process_*).
  void Family(std::string_view name, MetricType type, std::string_view help, bool prefix = true) {
    if (families_ == nullptr) return;
    MetricFamily f;
    f.name = std::string(prefix ? kPrefix : std::string_view()) + std::string(name);
    f.type = type;
    f.help = std::string(help);
    families_->push_back(std::move(f));
  }
  void Sample(double value, std::vector<std::pair<std::string, std::string>> labels = {}) {
    if (families_ == nullptr) return;
    families_->back().samples.push_back(MetricSample{std::move(labels), value, {}});
  }
  // A histogram sample from a DurationHistogram's snapshot (per-bucket counts, bounds and sum in seconds).
  template <const auto& Bounds>
  void Histogram(const DurationHistogramSnapshot<Bounds>& h,
                 std::vector<std::pair<std::string, std::string>> labels = {}) {
    if (families_ == nullptr) return;
    MetricSample sample{std::move(labels), 0, {}};
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < Bounds.size(); ++i) {
      cumulative += h.counts[i];
      sample.histogram.buckets.emplace_back(Bounds[i], cumulative);
    }
    sample.histogram.count = h.count;
    sample.histogram.sum = h.sum_seconds;
    families_->back().samples.push_back(std::move(sample));
  }
  void Status(std::string_view group, std::string_view key, std::uint64_t value) {
    if (status_ != nullptr) (*status_)(group, key, value);
  }

 private:
  std::vector<MetricFamily>* families_;
  const StatusValueFn* status_;
};

bool Always(const AgentSnapshot&) { return true; }
bool HasEnforcement(const AgentSnapshot& s) { return s.enforcement.has_value(); }
bool HasEvents(const AgentSnapshot& s) { return s.events.has_value(); }
bool HasManagement(const AgentSnapshot& s) { return s.management.has_value(); }
bool HasMetricsHttp(const AgentSnapshot& s) { return s.metrics_http.has_value(); }

constexpr auto kCounter = MetricType::kCounter;
constexpr auto kGauge = MetricType::kGauge;
constexpr auto kHistogram = MetricType::kHistogram;

// A state gauge: one sample per possible state, 1 for the current one, so no label changes on a transition.
template <class State, class Range>
void StateGauge(Out& out, std::string_view label, State current, const Range& all) {
  for (State st : all) out.Sample(st == current ? 1 : 0, {{std::string(label), std::string(to_string(st))}});
}

void AgentExtra(const AgentSnapshot& s, Out& out) {
  out.Family("build_info", kGauge, "Always 1; the agent's version and id are labels.");
  out.Sample(1, {{"version", s.version}, {"agent_id", s.agent_id}});
  out.Family("fail_mode", kGauge, "The fail mode in force (value 1; the mode and the stale fallback are labels).");
  out.Sample(1, {{"mode", std::string(to_string(s.fail.fail_mode))},
                 {"stale_fallback", std::string(to_string(s.fail.stale_fallback))}});
}

void DecisionsExtra(const AgentSnapshot& s, Out& out) {
  out.Family("decisions_by_source_total", kCounter,
             "Connect decisions answered, by where the answer came from (one per request).");
  for (DecisionSource src : kAllDecisionSources) {
    out.Sample(static_cast<double>(s.decisions.by_source(src)), {{"source", std::string(to_string(src))}});
    out.Status("decisions_by_source", to_string(src), s.decisions.by_source(src));
  }
  out.Family("decision_latency_seconds", kHistogram,
             "From a connect request reaching the authorizer to its answer, by where the answer came from.");
  for (DecisionSource src : kAllDecisionSources) {
    out.Histogram(s.decisions.decision_latency[static_cast<std::size_t>(src)],
                  {{"source", std::string(to_string(src))}});
  }
}

void PortalExtra(const AgentSnapshot& s, Out& out) {
  out.Family("portal_call_latency_seconds", kHistogram, "Portal CheckPolicy call durations, by outcome.");
  for (PortalOutcome o : kAllPortalOutcomes) {
    out.Histogram(s.decisions.portal_latency[static_cast<std::size_t>(o)], {{"outcome", std::string(to_string(o))}});
  }
}

void BreakerExtra(const AgentSnapshot& s, Out& out) {
  out.Family("breaker_state", kGauge, "Circuit breaker state: 1 for the current state, 0 for the others.");
  StateGauge(out, "state", s.breaker_state,
             std::initializer_list<BreakerState>{BreakerState::kClosed, BreakerState::kOpen, BreakerState::kHalfOpen});
  out.Family("breaker_override", kGauge, "Operator override of the breaker: 1 for the one in force, 0 for the others.");
  StateGauge(out, "override", s.breaker_override,
             std::initializer_list<BreakerOverride>{BreakerOverride::kAuto, BreakerOverride::kForceOpen,
                                                    BreakerOverride::kForceClosed});
}

void IpcExtra(const AgentSnapshot& s, Out& out) {
  out.Family("ipc_listening", kGauge, "1 while the IPC server accepts helper connections.");
  out.Sample(s.ipc_listening ? 1 : 0);
  // Every IPC server counter by its name in ipc/ipc_server_counters.h (a new counter appears here alone): errors as
  // one family with a reason label, replies as one with a reply label, the others as counters of their own.
  ForEachCounter(s.ipc, [&out](std::string_view name, std::uint64_t v) { out.Status("ipc", name, v); });
  out.Family("ipc_errors_total", kCounter,
             "IPC exchanges refused or failed, by reason (ipc/ipc_server_counters.h explains each reason).");
  ForEachCounterWithKind(s.ipc, [&out](std::string_view name, IpcCounterKind kind, std::uint64_t v) {
    if (kind == IpcCounterKind::kError) out.Sample(static_cast<double>(v), {{"reason", std::string(name)}});
  });
  out.Family("ipc_replies_total", kCounter, "Replies written to helpers, by kind.");
  ForEachCounterWithKind(s.ipc, [&out](std::string_view name, IpcCounterKind kind, std::uint64_t v) {
    if (kind == IpcCounterKind::kReply) {
      out.Sample(static_cast<double>(v), {{"reply", std::string(name.substr(name.find('_') + 1))}});
    }
  });
  ForEachCounterWithKind(s.ipc, [&out](std::string_view name, IpcCounterKind kind, std::uint64_t v) {
    if (kind != IpcCounterKind::kEvent) return;
    out.Family("ipc_" + std::string(name) + "_total", kCounter,
               "IPC server: " + std::string(name) + " (ipc/ipc_server_counters.h).");
    out.Sample(static_cast<double>(v));
  });
}

void EnforcementExtra(const AgentSnapshot& s, Out& out) {
  const auto& e = *s.enforcement;
  out.Family("policy_stream_state", kGauge, "The PolicyWatch stream's state: 1 for the current state, 0 for the others.");
  StateGauge(out, "state", e.stream_state, kAllStreamStates);
  out.Family("policy_events_total", kCounter, "Policy events received, by kind and result.");
  for (std::size_t k = 0; k < kEventKinds; ++k) {
    const auto kind = static_cast<PolicyEventKind>(k);
    if (kind == PolicyEventKind::kHeartbeat) continue;
    for (std::size_t r = 0; r < kEventResults; ++r) {
      const auto result = static_cast<EventResult>(r);
      out.Sample(static_cast<double>(e.events.get(kind, result)),
                 {{"kind", std::string(to_string(kind))}, {"result", std::string(to_string(result))}});
    }
  }
  out.Family("revocation_latency_seconds", kHistogram,
             "From a revocation's published_at (portal) to occtl returning, per forced disconnect.");
  out.Histogram(e.revocation_latency);
}

void EventsExtra(const AgentSnapshot& s, Out& out) {
  out.Family("events_sender_state", kGauge, "The sender's state: 1 for the current one.");
  StateGauge(out, "state", s.events->sender.state,
             std::initializer_list<SenderState>{SenderState::kIdle, SenderState::kSending, SenderState::kBackingOff,
                                                SenderState::kStopped});
}

// The standard process_* names (the Prometheus client libraries' process collector), not prefixed.
void ProcessExtra(const AgentSnapshot& s, Out& out) {
  if (!s.process) return;
  const auto& p = *s.process;
  out.Family("process_cpu_seconds_total", kCounter, "Total user and system CPU time spent in seconds.", false);
  out.Sample(p.cpu_seconds);
  out.Family("process_resident_memory_bytes", kGauge, "Resident memory size in bytes.", false);
  out.Sample(static_cast<double>(p.resident_bytes));
  out.Family("process_open_fds", kGauge, "Number of open file descriptors.", false);
  out.Sample(static_cast<double>(p.open_fds));
  out.Family("process_max_fds", kGauge, "Maximum number of open file descriptors.", false);
  out.Sample(static_cast<double>(p.max_fds));
  out.Family("process_start_time_seconds", kGauge, "Start time of the process since unix epoch in seconds.", false);
  out.Sample(p.start_time_seconds);
}

void ConfigExtra(const AgentSnapshot& s, Out& out) {
  if (!s.config) return;
  const auto& c = *s.config;
  out.Family("config_last_reload_successful", kGauge,
             "1 if the last configuration load (start or SIGHUP) succeeded, 0 if the file was rejected.");
  out.Sample(c.last_successful ? 1 : 0);
  out.Family("config_last_reload_success_timestamp_seconds", kGauge,
             "Unix time of the last successful configuration load (start or SIGHUP).");
  out.Sample(static_cast<double>(c.last_success_unix_seconds));
  out.Family("config_reloads_total", kCounter, "SIGHUP reloads, by result (rejected: the old configuration stays).");
  out.Sample(static_cast<double>(c.applied), {{"result", "applied"}});
  out.Sample(static_cast<double>(c.rejected), {{"result", "rejected"}});
}

void CertificatesExtra(const AgentSnapshot& s, Out& out) {
  if (s.certificates.empty()) return;
  out.Family("certificate_expiry_timestamp_seconds", kGauge,
             "Unix time at which a certificate the agent presents stops being valid (its notAfter), read at start "
             "and at each reload.");
  for (const auto& c : s.certificates) {
    out.Sample(static_cast<double>(c.not_after_unix_seconds), {{"certificate", c.certificate}});
  }
}

// The table. Each row is one number: its family (metric name, type, help, label) and its GetStatus key.
const std::vector<GroupDef>& Groups() {
  static const std::vector<GroupDef> groups = {
      {"", Always,
       {{"uptime_seconds", kGauge, "Seconds since the agent started.", "", {{"", "", OA_GET(s.uptime.count())}}}},
       AgentExtra},
      {"decisions_by_verdict", Always,
       {{"decisions_by_verdict_total", kCounter, "Connect decisions answered, by verdict.", "verdict",
         {{"allow", "allow", OA_GET(s.decisions.allowed)}, {"deny", "deny", OA_GET(s.decisions.denied)}}}},
       DecisionsExtra},
      {"portal", Always,
       {{"", kCounter, "", "", {{"calls", "", OA_GET(s.decisions.portal_calls)}}},
        {"portal_calls_total", kCounter,
         "Portal CheckPolicy calls made by the authorizer, by outcome (one call may answer coalesced requests).",
         "outcome",
         {{"allow", "allow", OA_GET(s.decisions.portal_allow)},
          {"deny", "deny", OA_GET(s.decisions.portal_deny)},
          {"error", "error", OA_GET(s.decisions.portal_error)}}},
        {"", kCounter, "", "", {{"breaker_rejected", "", OA_GET(s.decisions.breaker_rejected)}}},
        {"decision_deadline_answers_total", kCounter,
         "Requests answered by the fail mode at their own deadline because the portal had not answered yet.", "",
         {{"deadline_answers", "", OA_GET(s.decisions.deadline_answers)}}},
        {"decision_no_time_for_portal_total", kCounter,
         "Requests whose deadline left no time to ask the portal (answered by the fail mode).", "",
         {{"no_time_for_portal", "", OA_GET(s.decisions.no_time_for_portal)}}},
        {"portal_calls_in_flight", kGauge, "Portal calls started and not yet completed.", "",
         {{"in_flight", "", OA_GET(s.portal.in_flight)}}},
        {"portal_malformed_replies_total", kCounter,
         "Portal replies that arrived but made no sense (counted as errors).", "",
         {{"malformed_replies", "", OA_GET(s.portal.malformed_replies)}}},
        {"portal_refused_after_shutdown_total", kCounter,
         "Portal calls refused because the client was shutting down.", "",
         {{"refused_after_shutdown", "", OA_GET(s.portal.refused_after_shutdown)}}}},
       PortalExtra},
      {"breaker", Always,
       {{"breaker_trips_total", kCounter, "Transitions of the circuit breaker into open (forced ones included).", "",
         {{"trips", "", OA_GET(s.breaker.trips)}}},
        {"breaker_rejected_total", kCounter, "Portal calls refused at once by the circuit breaker.", "",
         {{"rejected", "", OA_GET(s.breaker.rejected)}}},
        {"breaker_admitted_total", kCounter,
         "Portal calls the circuit breaker let through (half-open probes included).", "",
         {{"admitted", "", OA_GET(s.breaker.admitted)}}},
        {"breaker_probes_total", kCounter, "Half-open probe calls.", "", {{"probes", "", OA_GET(s.breaker.probes)}}},
        {"breaker_reachable_half_opens_total", kCounter,
         "Open -> half-open before the open timeout because the policy stream reconnected (the portal answers).", "",
         {{"reachable_half_opens", "", OA_GET(s.breaker.reachable_half_opens)}}},
        {"breaker_results_total", kCounter, "Call results recorded by the circuit breaker, by class.", "result",
         {{"successes", "success", OA_GET(s.breaker.successes)},
          {"failures", "failure", OA_GET(s.breaker.failures)},
          {"ignored", "ignored", OA_GET(s.breaker.ignored)}}},
        {"breaker_stale_results_total", kCounter,
         "Results dropped because they belonged to an earlier breaker state.", "",
         {{"stale_results", "", OA_GET(s.breaker.stale_results)}}},
        {"breaker_open_timeout_seconds", kGauge, "The open period of the latest trip (0 if none, or forced open).",
         "",
         {{"current_open_timeout_ms", "",
           OA_GET(s.breaker.current_open_timeout.count() < 0 ? 0 : s.breaker.current_open_timeout.count())}},
         0.001}},
       BreakerExtra},
      {"cache", Always,
       {{"cache_hits_total", kCounter, "Decision cache lookups answered by a fresh entry.", "",
         {{"hits", "", OA_GET(s.cache.hits)}}},
        {"cache_misses_total", kCounter, "Decision cache lookups that found nothing fresh.", "",
         {{"misses", "", OA_GET(s.cache.misses)}}},
        {"cache_stale_hits_total", kCounter, "Stale entries served (fail-stale, portal failed or breaker open).", "",
         {{"stale_hits", "", OA_GET(s.cache.stale_hits)}}},
        {"cache_stale_misses_total", kCounter, "Stale lookups that found nothing (the stale fallback answered).", "",
         {{"stale_misses", "", OA_GET(s.cache.stale_misses)}}},
        {"cache_coalesced_total", kCounter, "Requests answered by another request's portal call (single-flight).", "",
         {{"coalesced", "", OA_GET(s.cache.coalesced)}}},
        {"cache_insertions_total", kCounter, "Portal verdicts stored in the decision cache.", "",
         {{"insertions", "", OA_GET(s.cache.insertions)}}},
        {"cache_evictions_total", kCounter, "Live entries pushed out of the decision cache to make room.", "",
         {{"evictions", "", OA_GET(s.cache.evictions)}}},
        {"cache_expirations_total", kCounter, "Entries removed because their stale window ended.", "",
         {{"expirations", "", OA_GET(s.cache.expirations)}}},
        {"cache_entries", kGauge, "Entries held in the decision cache.", "", {{"size", "", OA_GET(s.cache.size)}}},
        {"cache_capacity", kGauge, "resilience.cache.max_entries.", "", {{"capacity", "", OA_GET(s.cache_capacity)}}}}},
      {"ipc", Always, {}, IpcExtra},
      {"sessions", Always,
       {{"session_events_total", kCounter, "Session events reported by ocserv through the helper, by kind.", "event",
         {{"host_updates", "host_update", OA_GET(s.decisions.host_updates)},
          {"disconnects", "disconnect", OA_GET(s.decisions.disconnects)}}},
        {"session_disconnects_unknown_total", kCounter, "Disconnects for a session the agent had not seen connect.",
         "", {{"disconnects_unknown_session", "", OA_GET(s.decisions.disconnects_unknown_session)}}},
        {"sessions_active", kGauge, "Admitted sessions the agent holds (until their disconnect).", "",
         {{"active", "", OA_GET(s.sessions_active)}}}}},
      {"enforcement", HasEnforcement,
       {{"policy_stream_last_applied_version", kGauge, "The last policy event version applied (the resume point).",
         "", {{"stream_last_applied_version", "", OA_GET(s.enforcement->last_applied_version)}}},
        {"", kCounter, "", "", {{"stream_opened", "", OA_GET(s.enforcement->stream.streams_opened)}}},
        {"policy_stream_reconnects_total", kCounter, "PolicyWatch streams that ended and were scheduled again.", "",
         {{"stream_reconnects", "", OA_GET(s.enforcement->stream.reconnects)}}},
        {"policy_stream_watchdog_expired_total", kCounter,
         "Streams cancelled by the watchdog (no event for 3 heartbeats).", "",
         {{"stream_watchdog_expired", "", OA_GET(s.enforcement->stream.watchdog_expired)}}},
        {"policy_stream_unimplemented_total", kCounter, "Watch calls the portal answered UNIMPLEMENTED.", "",
         {{"stream_unimplemented", "", OA_GET(s.enforcement->stream.unimplemented)}}},
        {"", kCounter, "", "",
         {{"events_applied", "", OA_GET(s.enforcement->stream.applied)},
          {"events_ignored_stale", "", OA_GET(s.enforcement->stream.stale)},
          {"events_skipped_unknown", "", OA_GET(s.enforcement->stream.unknown)},
          {"events_invalid", "", OA_GET(s.enforcement->stream.invalid)}}},
        {"policy_heartbeats_total", kCounter, "Heartbeats received on the policy stream.", "",
         {{"heartbeats", "", OA_GET(s.enforcement->stream.heartbeats)}}},
        {"revocations_in_force", kGauge, "Users and groups revoked now.", "",
         {{"revocations_in_force", "", OA_GET(s.enforcement->in_force.size())}}},
        {"revocations_total", kCounter, "Revocations by what happened to them.", "event",
         {{"revocations_applied", "applied", OA_GET(s.enforcement->revocations.revoked)},
          {"revocations_restored", "restored", OA_GET(s.enforcement->revocations.restored)},
          {"revocations_lifted_by_allow", "lifted_by_portal_allow", OA_GET(s.enforcement->revocations.lifted_by_allow)},
          {"revocations_expired", "expired", OA_GET(s.enforcement->revocations.expired)}}},
        {"revocation_blocked_admits_total", kCounter,
         "Admits refused because of a revocation (cached, stale, fail-open or in-flight Allow).", "",
         {{"admits_blocked_by_revocation", "", OA_GET(s.enforcement->revocations.blocked_admits)}}},
        {"sessions_disconnected_total", kCounter, "Sessions ended by the agent through occtl, by cause.", "cause",
         {{"disconnected_revocation", "revocation", OA_GET(s.enforcement->sessions.disconnected_revocation)},
          {"disconnected_recheck", "recheck", OA_GET(s.enforcement->sessions.disconnected_recheck)},
          {"disconnected_session_update", "session_update",
           OA_GET(s.enforcement->sessions.disconnected_session_update)}}},
        {"session_disconnect_requests_unknown_total", kCounter,
         "should_disconnect answers for sessions not live here (nothing done).", "",
         {{"disconnect_requests_unknown", "", OA_GET(s.enforcement->sessions.disconnect_requests_unknown)}}},
        {"session_events_reconstructed_total", kCounter,
         "Session events reported from a reconciliation with occtl (metadata reconstructed=true), by kind.", "kind",
         {{"reconstructed_connects", "connect", OA_GET(s.enforcement->sessions.reconstructed_connects)},
          {"reconstructed_disconnects", "disconnect", OA_GET(s.enforcement->sessions.reconstructed_disconnects)}}},
        {"session_late_disconnects_not_sent_total", kCounter,
         "Disconnect-scripts not sent: reconciliation had already reported the session closed.", "",
         {{"late_disconnects_not_sent", "", OA_GET(s.enforcement->sessions.late_disconnects_not_sent)}}},
        {"session_updates_total", kCounter, "Periodic session updates recorded (events.session_update_interval).", "",
         {{"session_updates", "", OA_GET(s.enforcement->sessions.session_updates)}}},
        {"session_update_listings_failed_total", kCounter, "Session update rounds skipped: occtl could not list.", "",
         {{"session_update_listings_failed", "", OA_GET(s.enforcement->sessions.session_update_listings_failed)}}},
        {"enforcement_workers", kGauge,
         "occtl supervisor threads alive now: 1 while occtl work is queued or running, 0 when idle.", "",
         {{"workers", "", OA_GET(s.enforcement->sessions.workers)}}},
        {"enforcement_occtl_in_flight", kGauge,
         "occtl calls running now (at most enforcement.disconnect_concurrency, all on the one supervisor thread).", "",
         {{"occtl_in_flight", "", OA_GET(s.enforcement->sessions.in_flight)}}},
        {"session_disconnect_failures_total", kCounter, "occtl disconnects that failed (the session was kept).", "why",
         {{"disconnect_failed", "failed", OA_GET(s.enforcement->sessions.disconnect_failed)},
          {"disconnect_timed_out", "timeout", OA_GET(s.enforcement->sessions.disconnect_timed_out)}}},
        {"enforcement_jobs_dropped_total", kCounter, "Disconnect/reconcile jobs dropped (queue full or stopping).", "",
         {{"jobs_dropped", "", OA_GET(s.enforcement->sessions.jobs_dropped)}}},
        {"session_rechecks_total", kCounter, "Session re-checks with the portal, by result.", "result",
         {{"recheck_valid", "valid", OA_GET(s.enforcement->sessions.recheck_valid)},
          {"recheck_invalid", "invalid", OA_GET(s.enforcement->sessions.recheck_invalid)},
          {"recheck_error", "error", OA_GET(s.enforcement->sessions.recheck_error)}}},
        {"session_reconcile_total", kCounter, "Reconciliations of the session registry with occtl, by result.",
         "result",
         {{"reconcile_ok", "ok", OA_GET(s.enforcement->sessions.reconcile_ok)},
          {"reconcile_failed", "failed", OA_GET(s.enforcement->sessions.reconcile_failed)}}}},
       EnforcementExtra},
      {"events", HasEvents,
       {{"events_outbox_depth", kGauge,
         "Session events waiting for delivery to the portal (stored and in memory).", "",
         {{"outbox_depth", "", OA_GET(s.events->outbox.depth)}}},
        {"events_outbox_memory_depth", kGauge,
         "Of those, events only in memory (queued for the next commit, or the outbox file is unusable).", "",
         {{"outbox_memory_depth", "", OA_GET(s.events->outbox.memory_depth)}}},
        {"events_outbox_oldest_age_seconds", kGauge, "How long the oldest undelivered session event has waited.", "",
         {{"outbox_oldest_age_seconds", "", OA_GET(s.events->oldest_age().count())}}},
        {"events_outbox_store_ok", kGauge, "1 while the outbox file is in use; 0 while events are kept in memory.",
         "", {{"outbox_store_ok", "", OA_GET(s.events->outbox.store_ok ? 1 : 0)}}},
        {"events_written_total", kCounter, "Session events appended to the outbox.", "",
         {{"written", "", OA_GET(s.events->outbox.written)}}},
        {"", kCounter, "", "",
         {{"committed", "", OA_GET(s.events->outbox.committed)}, {"attempts", "", OA_GET(s.events->sender.attempts)}}},
        {"events_sent_total", kCounter, "Session events the portal took (then deleted from the outbox).", "",
         {{"sent", "", OA_GET(s.events->sender.sent)}}},
        {"events_retried_total", kCounter, "Deliveries that failed for now (the event stays and is sent again).", "",
         {{"retried", "", OA_GET(s.events->sender.retried)}}},
        {"events_malformed_replies_total", kCounter,
         "Of those, replies with an OK status but no message or one that does not parse (retried, not believed).", "",
         {{"malformed_replies", "", OA_GET(s.events->sender.malformed_replies)}}},
        {"events_parked_total", kCounter, "Session events the portal refused for good, moved aside in the outbox file.",
         "", {{"parked", "", OA_GET(s.events->sender.parked)}}},
        {"events_dropped_total", kCounter, "Session events lost before delivery, by cause.", "cause",
         {{"dropped_full", "outbox_full", OA_GET(s.events->outbox.dropped_full)},
          {"dropped_memory", "memory_queue_full", OA_GET(s.events->outbox.dropped_memory)},
          {"lost_moved_aside", "corrupt_store", OA_GET(s.events->outbox.lost_moved_aside)}}},
        {"events_store_failures_total", kCounter, "Outbox file opens or writes that failed.", "",
         {{"store_failures", "", OA_GET(s.events->outbox.store_failures)}}},
        {"events_store_moved_aside_total", kCounter, "Corrupt outbox files moved aside.", "",
         {{"moved_aside", "", OA_GET(s.events->outbox.moved_aside)}}},
        {"events_released_total", kCounter,
         "Bursts of session events held back while connects kept coming (events.max_delivery_delay), by what "
         "released them: the connect path fell quiet, the first had waited max_delivery_delay, 5000 were waiting.",
         "by",
         {{"released_quiet", "quiet", OA_GET(s.events->sender.released_quiet)},
          {"released_max_delay", "max_delivery_delay", OA_GET(s.events->sender.released_max_delay)},
          {"released_max_held", "backlog", OA_GET(s.events->sender.released_max_held)}}},
        {"events_in_flight", kGauge, "Session event deliveries in flight.", "",
         {{"in_flight", "", OA_GET(s.events->sender.in_flight)}}},
        {"", kGauge, "", "", {{"backoff_ms", "", OA_GET(s.events->sender.current_backoff.count())}}}},
       EventsExtra},
      {"", HasManagement,
       {{"management_calls_total", kCounter, "Management API calls received.", "",
         {{"", "", OA_GET(s.management->calls)}}},
        {"management_refused_total", kCounter, "Management API calls that did not succeed, by reason.", "reason",
         {{"", "unauthenticated", OA_GET(s.management->unauthenticated)},
          {"", "permission_denied", OA_GET(s.management->permission_denied)},
          {"", "invalid_argument", OA_GET(s.management->invalid_argument)},
          {"", "failed", OA_GET(s.management->failed)}}},
        {"management_commands_run_total", kCounter, "occtl commands started by the management API.", "",
         {{"", "", OA_GET(s.management->commands_run)}}},
        {"management_commands_timed_out_total", kCounter, "occtl commands killed at their deadline.", "",
         {{"", "", OA_GET(s.management->commands_timed_out)}}},
        {"management_config_writes_total", kCounter, "ocserv config files replaced through UpdateConfig.", "",
         {{"", "", OA_GET(s.management->config_writes)}}},
        {"management_busy_refused_total", kCounter,
         "Management calls refused with RESOURCE_EXHAUSTED to keep handler threads free, by limit.", "limit",
         {{"", "role_slow_calls", OA_GET(s.management->slow_call_refused)},
          {"", "identity_log_follows", OA_GET(s.management->follow_refused)}}},
        {"management_connections_accepted_total", kCounter, "TCP connections accepted on the management port.", "",
         {{"", "", OA_GET(s.management->connections_accepted)}}},
        {"management_connections_refused_total", kCounter,
         "TCP connections closed at once because the management connection limit was reached.", "",
         {{"", "", OA_GET(s.management->connections_refused_at_cap)}}},
        {"management_accept_errors_total", kCounter,
         "accept() failures on the management port (descriptor exhaustion); accepts pause briefly after each.", "",
         {{"", "", OA_GET(s.management->accept_errors)}}},
        {"management_connections_open", kGauge,
         "Management connections open (as of the last check, at most 1 s old).", "",
         {{"", "", OA_GET(s.management->connections_open)}}}}},
      {"", HasMetricsHttp,
       {{"metrics_scrapes_total", kCounter, "GET /metrics requests answered.", "",
         {{"", "", OA_GET(s.metrics_http->scrapes)}}},
        {"metrics_http_refused_total", kCounter, "Metrics endpoint requests not answered with metrics, by reason.",
         "reason",
         {{"", "not_found", OA_GET(s.metrics_http->not_found)},
          {"", "bad_request", OA_GET(s.metrics_http->bad_requests)},
          {"", "read_timeout", OA_GET(s.metrics_http->read_timeouts)},
          {"", "too_many_connections", OA_GET(s.metrics_http->too_many_connections)},
          {"", "idle_evicted", OA_GET(s.metrics_http->idle_evicted)}}},
        {"metrics_http_accept_errors_total", kCounter,
         "accept() failures on the metrics listener (descriptor exhaustion); accepts pause briefly after each.", "",
         {{"", "", OA_GET(s.metrics_http->accept_errors)}}}}},
      {"", Always, {}, ProcessExtra},
      {"", Always, {}, ConfigExtra},
      {"", Always, {}, CertificatesExtra},
  };
  return groups;
}

void Walk(const AgentSnapshot& s, Out& out) {
  for (const GroupDef& g : Groups()) {
    if (!g.present(s)) continue;
    for (const FamilyDef& f : g.families) {
      if (!f.name.empty()) out.Family(f.name, f.type, f.help);
      for (const Series& x : f.series) {
        const std::uint64_t v = x.get(s);
        if (!f.name.empty()) {
          std::vector<std::pair<std::string, std::string>> labels;
          if (!f.label.empty()) labels.emplace_back(std::string(f.label), std::string(x.label_value));
          out.Sample(static_cast<double>(v) * f.scale, std::move(labels));
        }
        if (!g.status_group.empty() && !x.status_key.empty()) out.Status(g.status_group, x.status_key, v);
      }
    }
    if (g.extra != nullptr) g.extra(s, out);
  }
}

}  // namespace

std::vector<MetricFamily> CollectMetricFamilies(const AgentSnapshot& snapshot) {
  std::vector<MetricFamily> families;
  Out out(&families, nullptr);
  Walk(snapshot, out);
  return families;
}

void ForEachStatusValue(const AgentSnapshot& snapshot, const StatusValueFn& f) {
  Out out(nullptr, &f);
  Walk(snapshot, out);
}

}  // namespace oa
