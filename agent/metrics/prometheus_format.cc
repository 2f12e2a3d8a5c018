#include "agent/metrics/prometheus_format.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <utility>


namespace oa {
namespace {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Appends one metric family at a time: HELP and TYPE once, then its samples. Names get the ocserv_agent_ prefix here,
// so that no call site can forget it.
class Writer {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = "ocserv_agent_";
    name_ += name;
    Append({"# HELP ", name_, " ", help, "\n# TYPE ", name_, " ", type, "\n"});
  }
  // A sample of the current family under a suffixed name (histograms: _bucket, _sum, _count).
  void SampleAs(std::string_view suffix, std::uint64_t value, Labels labels = {}) {
    const std::string family = name_;
    name_ += suffix;
    Sample(value, labels);
    name_ = family;
  }
  void Sample(std::uint64_t value, Labels labels = {}) {
    out_ += name_;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        Append({first ? "" : ",", k, "=\"", EscapeLabelValue(v), "\""});
        first = false;
      }
      out_ += '}';
    }
    Append({" ", std::to_string(value), "\n"});
  }
  // A family with one unlabelled sample.
  void Single(std::string_view name, std::string_view type, std::string_view help, std::uint64_t value) {
    Family(name, type, help);
    Sample(value);
  }
  void Counter(std::string_view name, std::string_view help, std::uint64_t value) {
    Single(name, "counter", help, value);
  }
  void Gauge(std::string_view name, std::string_view help, std::uint64_t value) { Single(name, "gauge", help, value); }
  // A gauge in seconds (Prometheus' base unit), exact to the millisecond: "30", "1.5", "0.001".
  void GaugeSeconds(std::string_view name, std::string_view help, std::chrono::milliseconds value) {
    Family(name, "gauge", help);
    const long long ms = value.count() < 0 ? 0 : static_cast<long long>(value.count());
    char text[32];
    std::snprintf(text, sizeof text, "%lld.%03lld", ms / 1000, ms % 1000);
    std::string_view v(text);
    while (v.back() == '0') v.remove_suffix(1);
    if (v.back() == '.') v.remove_suffix(1);
    Append({name_, " ", v, "\n"});
  }

  std::string Take() { return std::move(out_); }

 private:
  void Append(std::initializer_list<std::string_view> parts) {
    for (std::string_view p : parts) out_ += p;
  }
  std::string out_;
  std::string name_;
};

std::uint64_t Code(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return 0;
    case BreakerState::kOpen: return 1;
    case BreakerState::kHalfOpen: return 2;
  }
  return 0;
}

std::uint64_t Code(BreakerOverride o) {
  switch (o) {
    case BreakerOverride::kAuto: return 0;
    case BreakerOverride::kForceOpen: return 1;
    case BreakerOverride::kForceClosed: return 2;
  }
  return 0;
}

void Decisions(Writer& w, const AgentSnapshot& s) {
  const auto& d = s.decisions;
  w.Family("decisions_by_source_total", "counter",
           "Connect decisions answered, by where the answer came from (one per request).");
  for (DecisionSource src : {DecisionSource::kPortal, DecisionSource::kCache, DecisionSource::kStale,
                             DecisionSource::kFailOpen, DecisionSource::kFailClose, DecisionSource::kCoalesced}) {
    w.Sample(d.by_source(src), {{"source", to_string(src)}});
  }
  w.Family("decisions_by_verdict_total", "counter", "Connect decisions answered, by verdict.");
  w.Sample(d.allowed, {{"verdict", "allow"}});
  w.Sample(d.denied, {{"verdict", "deny"}});
  w.Counter("decision_deadline_answers_total",
            "Requests answered by the fail mode at their own deadline because the portal had not answered yet.",
            d.deadline_answers);
  w.Counter("decision_no_time_for_portal_total",
            "Requests whose deadline left no time to ask the portal (answered by the fail mode).",
            d.no_time_for_portal);
  w.Family("fail_mode", "gauge", "The fail mode in force (value 1; the mode and the stale fallback are labels).");
  w.Sample(1, {{"mode", to_string(s.fail.fail_mode)}, {"stale_fallback", to_string(s.fail.stale_fallback)}});
}

void Portal(Writer& w, const AgentSnapshot& s) {
  const auto& d = s.decisions;
  w.Family("portal_calls_total", "counter",
           "Portal CheckPolicy calls made by the authorizer, by outcome (one call may answer coalesced requests).");
  w.Sample(d.portal_allow, {{"outcome", "allow"}});
  w.Sample(d.portal_deny, {{"outcome", "deny"}});
  w.Sample(d.portal_error, {{"outcome", "error"}});
  w.Gauge("portal_calls_in_flight", "Portal calls started and not yet completed.", s.portal.in_flight);
  w.Counter("portal_malformed_replies_total", "Portal replies that arrived but made no sense (counted as errors).",
            s.portal.malformed_replies);
  w.Counter("portal_refused_after_shutdown_total", "Portal calls refused because the client was shutting down.",
            s.portal.refused_after_shutdown);
}

void Breaker(Writer& w, const AgentSnapshot& s) {
  const auto& b = s.breaker;
  w.Family("breaker_state", "gauge", "Circuit breaker state: 0 closed, 1 open, 2 half_open (also as the label).");
  w.Sample(Code(s.breaker_state), {{"state", to_string(s.breaker_state)}});
  w.Family("breaker_override", "gauge",
           "Operator override of the breaker: 0 auto, 1 force_open, 2 force_closed (also as the label).");
  w.Sample(Code(s.breaker_override), {{"override", to_string(s.breaker_override)}});
  w.Counter("breaker_trips_total", "Transitions of the circuit breaker into open (forced ones included).", b.trips);
  w.Counter("breaker_rejected_total", "Portal calls refused at once by the circuit breaker.", b.rejected);
  w.Counter("breaker_admitted_total", "Portal calls the circuit breaker let through (half-open probes included).",
            b.admitted);
  w.Counter("breaker_probes_total", "Half-open probe calls.", b.probes);
  w.Family("breaker_results_total", "counter", "Call results recorded by the circuit breaker, by class.");
  w.Sample(b.successes, {{"result", "success"}});
  w.Sample(b.failures, {{"result", "failure"}});
  w.Sample(b.ignored, {{"result", "ignored"}});
  w.Counter("breaker_stale_results_total", "Results dropped because they belonged to an earlier breaker state.",
            b.stale_results);
  w.GaugeSeconds("breaker_open_timeout_seconds", "The open period of the latest trip (0 if none, or forced open).",
                 b.current_open_timeout);
}

void Cache(Writer& w, const AgentSnapshot& s) {
  const auto& c = s.cache;
  w.Counter("cache_hits_total", "Decision cache lookups answered by a fresh entry.", c.hits);
  w.Counter("cache_misses_total", "Decision cache lookups that found nothing fresh.", c.misses);
  w.Counter("cache_stale_hits_total", "Stale entries served (fail-stale, portal failed or breaker open).",
            c.stale_hits);
  w.Counter("cache_stale_misses_total", "Stale lookups that found nothing (the stale fallback answered).",
            c.stale_misses);
  w.Counter("cache_coalesced_total", "Requests answered by another request's portal call (single-flight).",
            c.coalesced);
  w.Counter("cache_insertions_total", "Portal verdicts stored in the decision cache.", c.insertions);
  w.Counter("cache_evictions_total", "Live entries pushed out of the decision cache to make room.", c.evictions);
  w.Counter("cache_expirations_total", "Entries removed because their stale window ended.", c.expirations);
  w.Gauge("cache_entries", "Entries held in the decision cache.", c.size);
  w.Gauge("cache_capacity", "resilience.cache.max_entries.", s.cache_capacity);
}

void Ipc(Writer& w, const AgentSnapshot& s) {
  w.Gauge("ipc_listening", "1 while the IPC server accepts helper connections.", s.ipc_listening ? 1 : 0);
  // One counter per IPC server counter, by its name in ipc/ipc_server_counters.h (a new counter appears here alone).
  ForEachCounter(s.ipc, [&w](std::string_view name, std::uint64_t value) {
    w.Counter("ipc_" + std::string(name) + "_total",
              "IPC server: " + std::string(name) + " (ipc/ipc_server_counters.h).", value);
  });
}

void Sessions(Writer& w, const AgentSnapshot& s) {
  const auto& d = s.decisions;
  w.Family("session_events_total", "counter", "Session events reported by ocserv through the helper, by kind.");
  w.Sample(d.host_updates, {{"event", "host_update"}});
  w.Sample(d.disconnects, {{"event", "disconnect"}});
  w.Counter("session_disconnects_unknown_total", "Disconnects for a session the agent had not seen connect.",
            d.disconnects_unknown_session);
  w.Gauge("sessions_active", "Admitted sessions the agent holds (until their disconnect).", s.sessions_active);
}

// The session-event outbox and its sender (events/).
void SessionEvents(Writer& w, const EventsSnapshot& e) {
  const auto& o = e.outbox;
  const auto& x = e.sender;
  w.Gauge("events_outbox_depth", "Session events waiting for delivery to the portal (stored and in memory).",
          o.depth);
  w.Gauge("events_outbox_memory_depth",
          "Of those, events only in memory (queued for the next commit, or the outbox file is unusable).",
          o.memory_depth);
  w.Gauge("events_outbox_oldest_age_seconds", "How long the oldest undelivered session event has waited.",
          static_cast<std::uint64_t>(e.oldest_age().count()));
  w.Gauge("events_outbox_store_ok", "1 while the outbox file is in use; 0 while events are kept in memory.",
          o.store_ok ? 1 : 0);
  w.Counter("events_written_total", "Session events appended to the outbox.", o.written);
  w.Counter("events_sent_total", "Session events the portal took (then deleted from the outbox).", x.sent);
  w.Counter("events_retried_total", "Deliveries that failed for now (the event stays and is sent again).", x.retried);
  w.Counter("events_malformed_replies_total",
            "Of those, replies with an OK status but no message or one that does not parse (retried, not believed).",
            x.malformed_replies);
  w.Counter("events_parked_total", "Session events the portal refused for good, moved aside in the outbox file.",
            x.parked);
  w.Family("events_dropped_total", "counter", "Session events lost before delivery, by cause.");
  w.Sample(o.dropped_full, {{"cause", "outbox_full"}});
  w.Sample(o.dropped_memory, {{"cause", "memory_queue_full"}});
  w.Sample(o.lost_moved_aside, {{"cause", "corrupt_store"}});
  w.Counter("events_store_failures_total", "Outbox file opens or writes that failed.", o.store_failures);
  w.Counter("events_store_moved_aside_total", "Corrupt outbox files moved aside.", o.moved_aside);
  w.Gauge("events_in_flight", "Session event deliveries in flight.", x.in_flight);
  w.Family("events_sender_state", "gauge", "The sender's state: 1 for the current one.");
  for (SenderState st : {SenderState::kIdle, SenderState::kSending, SenderState::kBackingOff, SenderState::kStopped}) {
    w.Sample(st == x.state ? 1 : 0, {{"state", std::string(to_string(st))}});
  }
}

void Management(Writer& w, const ManagementCounters::Snapshot& m) {
  w.Counter("management_calls_total", "Management API calls received.", m.calls);
  w.Family("management_refused_total", "counter", "Management API calls that did not succeed, by reason.");
  w.Sample(m.unauthenticated, {{"reason", "unauthenticated"}});
  w.Sample(m.permission_denied, {{"reason", "permission_denied"}});
  w.Sample(m.invalid_argument, {{"reason", "invalid_argument"}});
  w.Sample(m.failed, {{"reason", "failed"}});
  w.Counter("management_commands_run_total", "occtl commands started by the management API.", m.commands_run);
  w.Counter("management_commands_timed_out_total", "occtl commands killed at their deadline.",
            m.commands_timed_out);
  w.Counter("management_config_writes_total", "ocserv config files replaced through UpdateConfig.", m.config_writes);
  w.Family("management_busy_refused_total", "counter",
           "Management calls refused with RESOURCE_EXHAUSTED to keep handler threads free, by limit.");
  w.Sample(m.slow_call_refused, {{"limit", "role_slow_calls"}});
  w.Sample(m.follow_refused, {{"limit", "identity_log_follows"}});
  w.Counter("management_connections_accepted_total", "TCP connections accepted on the management port.",
            m.connections_accepted);
  w.Counter("management_connections_refused_total",
            "TCP connections closed at once because the management connection limit was reached.",
            m.connections_refused_at_cap);
  w.Counter("management_accept_errors_total",
            "accept() failures on the management port (descriptor exhaustion); accepts pause briefly after each.",
            m.accept_errors);
  w.Gauge("management_connections_open", "Management connections open (as of the last check, at most 1 s old).",
          m.connections_open);
}

void MetricsHttp(Writer& w, const MetricsHttpCountersSnapshot& h) {
  w.Counter("metrics_scrapes_total", "GET /metrics requests answered.", h.scrapes);
  w.Family("metrics_http_refused_total", "counter", "Metrics endpoint requests not answered with metrics, by reason.");
  w.Sample(h.not_found, {{"reason", "not_found"}});
  w.Sample(h.bad_requests, {{"reason", "bad_request"}});
  w.Sample(h.read_timeouts, {{"reason", "read_timeout"}});
  w.Sample(h.too_many_connections, {{"reason", "too_many_connections"}});
  w.Sample(h.idle_evicted, {{"reason", "idle_evicted"}});
  w.Counter("metrics_http_accept_errors_total",
            "accept() failures on the metrics listener (descriptor exhaustion); accepts pause briefly after each.",
            h.accept_errors);
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

void Enforcement(Writer& w, const EnforcementSnapshot& e) {
  w.Family("policy_stream_state", "gauge", "The PolicyWatch stream's state: 1 for the current state, 0 for the others.");
  for (StreamState st : kAllStreamStates) w.Sample(st == e.stream_state ? 1 : 0, {{"state", to_string(st)}});
  w.Counter("policy_stream_reconnects_total", "PolicyWatch streams that ended and were scheduled again.",
            e.stream.reconnects);
  w.Counter("policy_stream_watchdog_expired_total", "Streams cancelled by the watchdog (no event for 3 heartbeats).",
            e.stream.watchdog_expired);
  w.Counter("policy_stream_unimplemented_total", "Watch calls the portal answered UNIMPLEMENTED.",
            e.stream.unimplemented);
  w.Gauge("policy_stream_last_applied_version", "The last policy event version applied (the resume point).",
          e.last_applied_version);
  w.Family("policy_events_total", "counter", "Policy events received, by kind and result.");
  for (std::size_t k = 0; k < kEventKinds; ++k) {
    const auto kind = static_cast<PolicyEventKind>(k);
    if (kind == PolicyEventKind::kHeartbeat) continue;
    for (std::size_t r = 0; r < kEventResults; ++r) {
      const auto result = static_cast<EventResult>(r);
      w.Sample(e.events.get(kind, result), {{"kind", to_string(kind)}, {"result", to_string(result)}});
    }
  }
  w.Counter("policy_heartbeats_total", "Heartbeats received on the policy stream.", e.stream.heartbeats);
  w.Gauge("revocations_in_force", "Users and groups revoked now.", e.in_force.size());
  w.Family("revocations_total", "counter", "Revocations by what happened to them.");
  w.Sample(e.revocations.revoked, {{"event", "applied"}});
  w.Sample(e.revocations.restored, {{"event", "restored"}});
  w.Sample(e.revocations.lifted_by_allow, {{"event", "lifted_by_portal_allow"}});
  w.Sample(e.revocations.expired, {{"event", "expired"}});
  w.Counter("revocation_blocked_admits_total",
            "Admits refused because of a revocation (cached, stale, fail-open or in-flight Allow).",
            e.revocations.blocked_admits);
  w.Family("sessions_disconnected_total", "counter", "Sessions ended by the agent through occtl, by cause.");
  w.Sample(e.sessions.disconnected_revocation, {{"cause", "revocation"}});
  w.Sample(e.sessions.disconnected_recheck, {{"cause", "recheck"}});
  w.Sample(e.sessions.disconnected_session_update, {{"cause", "session_update"}});
  w.Counter("session_disconnect_requests_unknown_total",
            "should_disconnect answers for sessions not live here (nothing done).", e.sessions.disconnect_requests_unknown);
  w.Family("session_events_reconstructed_total", "counter",
           "Session events reported from a reconciliation with occtl (metadata reconstructed=true), by kind.");
  w.Sample(e.sessions.reconstructed_connects, {{"kind", "connect"}});
  w.Sample(e.sessions.reconstructed_disconnects, {{"kind", "disconnect"}});
  w.Counter("session_late_disconnects_not_sent_total",
            "Disconnect-scripts not sent: reconciliation had already reported the session closed.",
            e.sessions.late_disconnects_not_sent);
  w.Counter("session_updates_total", "Periodic session updates recorded (events.session_update_interval).",
            e.sessions.session_updates);
  w.Counter("session_update_listings_failed_total", "Session update rounds skipped: occtl could not list.",
            e.sessions.session_update_listings_failed);
  w.Gauge("enforcement_workers", "occtl worker threads alive now (started on demand, gone when idle).",
          e.sessions.workers);
  w.Family("session_disconnect_failures_total", "counter", "occtl disconnects that failed (the session was kept).");
  w.Sample(e.sessions.disconnect_failed, {{"why", "failed"}});
  w.Sample(e.sessions.disconnect_timed_out, {{"why", "timeout"}});
  w.Counter("enforcement_jobs_dropped_total", "Disconnect/reconcile jobs dropped (queue full or stopping).",
            e.sessions.jobs_dropped);
  w.Family("session_rechecks_total", "counter", "Session re-checks with the portal, by result.");
  w.Sample(e.sessions.recheck_valid, {{"result", "valid"}});
  w.Sample(e.sessions.recheck_invalid, {{"result", "invalid"}});
  w.Sample(e.sessions.recheck_error, {{"result", "error"}});
  w.Family("session_reconcile_total", "counter", "Reconciliations of the session registry with occtl, by result.");
  w.Sample(e.sessions.reconcile_ok, {{"result", "ok"}});
  w.Sample(e.sessions.reconcile_failed, {{"result", "failed"}});
  const auto& h = e.revocation_latency;
  w.Family("revocation_latency_milliseconds", "histogram",
           "From a revocation's published_at (portal) to occtl returning, per forced disconnect.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < LatencyHistogramSnapshot::kBoundsMs.size(); ++i) {
    cumulative += h.counts[i];
    const std::string le = std::to_string(static_cast<long long>(LatencyHistogramSnapshot::kBoundsMs[i]));
    w.SampleAs("_bucket", cumulative, {{"le", le}});
  }
  w.SampleAs("_bucket", h.count, {{"le", "+Inf"}});
  w.SampleAs("_sum", static_cast<std::uint64_t>(h.sum_ms));
  w.SampleAs("_count", h.count);
}

std::string FormatPrometheus(const AgentSnapshot& s) {
  Writer w;
  w.Family("build_info", "gauge", "Always 1; the agent's version and id are labels.");
  w.Sample(1, {{"version", s.version}, {"agent_id", s.agent_id}});
  w.Gauge("uptime_seconds", "Seconds since the agent started.", static_cast<std::uint64_t>(s.uptime.count()));
  Decisions(w, s);
  Portal(w, s);
  Breaker(w, s);
  Cache(w, s);
  Ipc(w, s);
  Sessions(w, s);
  if (s.enforcement) Enforcement(w, *s.enforcement);
  if (s.events) SessionEvents(w, *s.events);
  if (s.management) Management(w, *s.management);
  if (s.metrics_http) MetricsHttp(w, *s.metrics_http);
  return w.Take();
}

}  // namespace oa
