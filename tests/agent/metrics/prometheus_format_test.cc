// FormatPrometheus against a hand-made snapshot: the names, labels and values of the metrics operators alert on, and
// the well-formedness of the whole exposition (every family has HELP and TYPE before its samples, every sample is
// prefixed ocserv_agent_, label values are escaped).
#include "agent/metrics/prometheus_format.h"

#include "agent/metrics/agent_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>
#include <sstream>

namespace oa {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

AgentSnapshot Sample() {
  AgentSnapshot s;
  s.version = "1.2.3";
  s.agent_id = "edge-\"1\"";
  s.uptime = std::chrono::seconds(3600);
  s.fail = {FailMode::kOpen, StaleFallback::kClose};
  s.breaker_state = BreakerState::kHalfOpen;
  s.breaker_override = BreakerOverride::kForceClosed;
  s.breaker.trips = 4;
  s.breaker.rejected = 17;
  s.breaker.admitted = 30;
  s.breaker.failures = 9;
  s.cache.hits = 101;
  s.cache.misses = 102;
  s.cache.stale_hits = 103;
  s.cache.evictions = 104;
  s.cache.expirations = 105;
  s.cache.size = 106;
  s.cache_capacity = 100000;
  s.decisions.source_portal = 11;
  s.decisions.source_cache = 12;
  s.decisions.source_stale = 13;
  s.decisions.source_fail_open = 14;
  s.decisions.source_fail_close = 15;
  s.decisions.source_coalesced = 16;
  s.decisions.allowed = 50;
  s.decisions.denied = 31;
  s.decisions.portal_allow = 7;
  s.decisions.portal_deny = 3;
  s.decisions.portal_error = 2;
  s.decisions.host_updates = 5;
  s.decisions.disconnects = 6;
  s.portal.in_flight = 1;
  s.ipc_listening = true;
  s.ipc.accepted = 200;
  s.ipc.refused_uid = 2;
  s.ipc.oversize = 3;
  s.ipc.read_timeout = 4;
  s.ipc.backstop_timeouts = 5;
  s.sessions_active = 8;
  return s;
}

TEST(PrometheusFormatTest, TheCountersOperatorsAlertOn) {
  const std::string text = FormatPrometheus(Sample());
  const char* const expected[] = {
      "ocserv_agent_build_info{version=\"1.2.3\",agent_id=\"edge-\\\"1\\\"\"} 1\n",
      "ocserv_agent_uptime_seconds 3600\n",
      "ocserv_agent_decisions_by_source_total{source=\"portal\"} 11\n",
      "ocserv_agent_decisions_by_source_total{source=\"cache\"} 12\n",
      "ocserv_agent_decisions_by_source_total{source=\"stale\"} 13\n",
      "ocserv_agent_decisions_by_source_total{source=\"fail_open\"} 14\n",
      "ocserv_agent_decisions_by_source_total{source=\"fail_close\"} 15\n",
      "ocserv_agent_decisions_by_source_total{source=\"coalesced\"} 16\n",
      "ocserv_agent_decisions_by_verdict_total{verdict=\"allow\"} 50\n",
      "ocserv_agent_decisions_by_verdict_total{verdict=\"deny\"} 31\n",
      "ocserv_agent_fail_mode{mode=\"fail-open\",stale_fallback=\"close\"} 1\n",
      "ocserv_agent_portal_calls_total{outcome=\"allow\"} 7\n",
      "ocserv_agent_portal_calls_total{outcome=\"deny\"} 3\n",
      "ocserv_agent_portal_calls_total{outcome=\"error\"} 2\n",
      "ocserv_agent_portal_calls_in_flight 1\n",
      "ocserv_agent_breaker_state{state=\"half_open\"} 1\n",
      "ocserv_agent_breaker_state{state=\"closed\"} 0\n",
      "ocserv_agent_breaker_override{override=\"force_closed\"} 1\n",
      "ocserv_agent_breaker_trips_total 4\n",
      "ocserv_agent_breaker_rejected_total 17\n",
      "ocserv_agent_breaker_results_total{result=\"failure\"} 9\n",
      "ocserv_agent_cache_hits_total 101\n",
      "ocserv_agent_cache_misses_total 102\n",
      "ocserv_agent_cache_stale_hits_total 103\n",
      "ocserv_agent_cache_evictions_total 104\n",
      "ocserv_agent_cache_expirations_total 105\n",
      "ocserv_agent_cache_entries 106\n",
      "ocserv_agent_cache_capacity 100000\n",
      "ocserv_agent_ipc_listening 1\n",
      "ocserv_agent_ipc_accepted_total 200\n",
      "ocserv_agent_ipc_errors_total{reason=\"refused_uid\"} 2\n",
      "ocserv_agent_ipc_errors_total{reason=\"oversize\"} 3\n",
      "ocserv_agent_ipc_errors_total{reason=\"read_timeout\"} 4\n",
      "ocserv_agent_ipc_errors_total{reason=\"backstop_timeouts\"} 5\n",
      "ocserv_agent_ipc_errors_total{reason=\"garbage\"} 0\n",
      "ocserv_agent_session_events_total{event=\"host_update\"} 5\n",
      "ocserv_agent_session_events_total{event=\"disconnect\"} 6\n",
      "ocserv_agent_sessions_active 8\n",
  };
  for (const char* line : expected) EXPECT_THAT(text, HasSubstr(line));
  // Optional sections appear only when their component runs.
  EXPECT_THAT(text, Not(HasSubstr("ocserv_agent_management_")));
  EXPECT_THAT(text, Not(HasSubstr("ocserv_agent_metrics_scrapes_total")));
}

// Issue 14 item 9: Prometheus base units — the breaker's open period is exported in seconds.
TEST(PrometheusFormatTest, BreakerOpenTimeoutIsInSeconds) {
  AgentSnapshot s = Sample();
  s.breaker.current_open_timeout = std::chrono::milliseconds(1500);
  EXPECT_THAT(FormatPrometheus(s), HasSubstr("# TYPE ocserv_agent_breaker_open_timeout_seconds gauge\n"));
  EXPECT_THAT(FormatPrometheus(s), HasSubstr("ocserv_agent_breaker_open_timeout_seconds 1.5\n"));
  EXPECT_THAT(FormatPrometheus(s), Not(HasSubstr("milliseconds")));
  s.breaker.current_open_timeout = std::chrono::milliseconds(30000);
  EXPECT_THAT(FormatPrometheus(s), HasSubstr("ocserv_agent_breaker_open_timeout_seconds 30\n"));
  s.breaker.current_open_timeout = std::chrono::milliseconds(1);
  EXPECT_THAT(FormatPrometheus(s), HasSubstr("ocserv_agent_breaker_open_timeout_seconds 0.001\n"));
  s.breaker.current_open_timeout = std::chrono::milliseconds(0);
  EXPECT_THAT(FormatPrometheus(s), HasSubstr("ocserv_agent_breaker_open_timeout_seconds 0\n"));
}

TEST(PrometheusFormatTest, MalformedSessionReportRepliesAreCounted) {
  AgentSnapshot s = Sample();
  EventsSnapshot events;
  events.sender.retried = 3;
  events.sender.malformed_replies = 2;
  s.events = events;
  EXPECT_THAT(FormatPrometheus(s), HasSubstr("ocserv_agent_events_malformed_replies_total 2\n"));
}

TEST(PrometheusFormatTest, BreakerStatesAndOverridesAreCoded) {
  AgentSnapshot s = Sample();
  s.breaker_state = BreakerState::kClosed;
  s.breaker_override = BreakerOverride::kAuto;
  // Issue 13: one 0/1 gauge per state, so the series stay the same across a transition (only the values change).
  const std::string closed = FormatPrometheus(s);
  EXPECT_THAT(closed, HasSubstr("ocserv_agent_breaker_state{state=\"closed\"} 1\n"));
  EXPECT_THAT(closed, HasSubstr("ocserv_agent_breaker_state{state=\"open\"} 0\n"));
  EXPECT_THAT(closed, HasSubstr("ocserv_agent_breaker_state{state=\"half_open\"} 0\n"));
  EXPECT_THAT(closed, HasSubstr("ocserv_agent_breaker_override{override=\"auto\"} 1\n"));
  EXPECT_THAT(closed, HasSubstr("ocserv_agent_breaker_override{override=\"force_open\"} 0\n"));
  s.breaker_state = BreakerState::kOpen;
  s.breaker_override = BreakerOverride::kForceOpen;
  const std::string open = FormatPrometheus(s);
  EXPECT_THAT(open, HasSubstr("ocserv_agent_breaker_state{state=\"closed\"} 0\n"));
  EXPECT_THAT(open, HasSubstr("ocserv_agent_breaker_state{state=\"open\"} 1\n"));
  EXPECT_THAT(open, HasSubstr("ocserv_agent_breaker_state{state=\"half_open\"} 0\n"));
  EXPECT_THAT(open, HasSubstr("ocserv_agent_breaker_override{override=\"force_open\"} 1\n"));
  EXPECT_THAT(open, HasSubstr("ocserv_agent_breaker_override{override=\"auto\"} 0\n"));
}

TEST(PrometheusFormatTest, ManagementAndEndpointCountersWhenPresent) {
  AgentSnapshot s = Sample();
  ManagementCounters::Snapshot m;
  m.calls = 9;
  m.permission_denied = 2;
  m.follow_refused = 3;
  m.slow_call_refused = 4;
  m.connections_refused_at_cap = 5;
  m.accept_errors = 6;
  m.connections_open = 7;
  s.management = m;
  MetricsHttpCountersSnapshot h;
  h.scrapes = 12;
  h.read_timeouts = 1;
  h.idle_evicted = 2;
  h.accept_errors = 3;
  s.metrics_http = h;
  const std::string text = FormatPrometheus(s);
  EXPECT_THAT(text, HasSubstr("ocserv_agent_management_calls_total 9\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_management_refused_total{reason=\"permission_denied\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_metrics_scrapes_total 12\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_metrics_http_refused_total{reason=\"read_timeout\"} 1\n"));
  // Issue 14: every refusal under hostile load has its counter.
  EXPECT_THAT(text, HasSubstr("ocserv_agent_management_busy_refused_total{limit=\"identity_log_follows\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_management_busy_refused_total{limit=\"role_slow_calls\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_management_connections_refused_total 5\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_management_accept_errors_total 6\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_management_connections_open 7\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_metrics_http_refused_total{reason=\"idle_evicted\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_metrics_http_accept_errors_total 3\n"));
}

TEST(PrometheusFormatTest, SessionEventOutboxAndSenderWhenPresent) {
  AgentSnapshot s = Sample();
  EXPECT_THAT(FormatPrometheus(s), Not(HasSubstr("ocserv_agent_events_"))) << "session reports off: no events family";
  EventsSnapshot e;
  e.outbox.depth = 42;
  e.outbox.memory_depth = 2;
  e.outbox.store_ok = true;
  e.outbox.written = 100;
  e.outbox.dropped_full = 3;
  e.outbox.dropped_memory = 4;
  e.taken_at = Clock::WallTime(std::chrono::seconds(1000));
  e.outbox.oldest_written_at = Clock::WallTime(std::chrono::seconds(970));
  e.sender.sent = 58;
  e.sender.retried = 7;
  e.sender.parked = 1;
  e.sender.released_quiet = 11;
  e.sender.released_max_delay = 5;
  e.sender.state = SenderState::kBackingOff;
  s.events = e;
  const std::string text = FormatPrometheus(s);
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_outbox_depth 42\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_outbox_memory_depth 2\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_outbox_oldest_age_seconds 30\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_outbox_store_ok 1\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_written_total 100\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_sent_total 58\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_retried_total 7\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_parked_total 1\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_dropped_total{cause=\"outbox_full\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_dropped_total{cause=\"memory_queue_full\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_released_total{by=\"quiet\"} 11\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_released_total{by=\"max_delivery_delay\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_released_total{by=\"backlog\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_sender_state{state=\"backing_off\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_events_sender_state{state=\"idle\"} 0\n"));
}

TEST(PrometheusFormatTest, EveryFamilyIsWellFormed) {
  AgentSnapshot s = Sample();
  s.events = EventsSnapshot{};
  s.management = ManagementCounters::Snapshot{};
  s.metrics_http = MetricsHttpCountersSnapshot{};
  s.enforcement = EnforcementSnapshot{};
  s.process = ProcessSnapshot{1.25, 4096, 12, 1024, 1.7e9};
  s.config = ConfigReloadSnapshot{};
  s.certificates = {{"portal_client", 1900000000}};
  std::istringstream in(FormatPrometheus(s));
  std::set<std::string> helped, typed;
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice for " << name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      const std::string type = rest.substr(rest.find(' ') + 1);
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_TRUE(helped.count(name)) << "TYPE before HELP: " << line;
      EXPECT_TRUE(typed.insert(name).second) << "TYPE twice for " << name;
      if (type == "counter") {
        EXPECT_EQ(name.substr(name.size() - 6), "_total") << name;
      }
      continue;
    }
    ++samples;
    std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_TRUE(name.rfind("ocserv_agent_", 0) == 0 || name.rfind("process_", 0) == 0) << line;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {  // a histogram's samples
      const std::string base = name.substr(0, name.size() - std::min(name.size(), std::strlen(suffix)));
      if (!typed.count(name) && name.size() > base.size() && name.substr(base.size()) == suffix && typed.count(base)) {
        name = base;
      }
    }
    EXPECT_TRUE(typed.count(name)) << "sample before its TYPE: " << line;
    const std::string value = line.substr(line.rfind(' ') + 1);
    EXPECT_EQ(value.find_first_not_of("0123456789.e-+"), std::string::npos) << line;
  }
  EXPECT_GT(samples, 50);
}

TEST(PrometheusFormatTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace oa

namespace oa {
namespace {

TEST(PrometheusFormatEnforcementTest, StreamStateIsOneGaugePerStateAndTheLatencyIsAHistogram) {
  AgentSnapshot s;
  EnforcementSnapshot e;
  e.stream_state = StreamState::kBackoff;
  e.stream.reconnects = 3;
  e.sessions.disconnected_revocation = 2;
  e.sessions.recheck_invalid = 1;
  e.revocation_latency.counts[4] = 2;  // (25, 50] ms
  e.revocation_latency.count = 2;
  e.revocation_latency.sum_seconds = 0.061;
  s.enforcement = e;
  const std::string text = FormatPrometheus(s);
  EXPECT_THAT(text, HasSubstr("ocserv_agent_policy_stream_state{state=\"backoff\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_policy_stream_state{state=\"streaming\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_policy_stream_reconnects_total 3\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_sessions_disconnected_total{cause=\"revocation\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_session_rechecks_total{result=\"invalid\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_policy_events_total{kind=\"revoke\",result=\"applied\"} 0\n"));
  // Issue 13: base units — exported in seconds.
  EXPECT_THAT(text, HasSubstr("# TYPE ocserv_agent_revocation_latency_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_revocation_latency_seconds_bucket{le=\"0.025\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_revocation_latency_seconds_bucket{le=\"0.05\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_revocation_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_revocation_latency_seconds_sum 0.061\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_revocation_latency_seconds_count 2\n"));
}

TEST(PrometheusFormatEnforcementTest, AbsentWhenNotWired) {
  EXPECT_THAT(FormatPrometheus(AgentSnapshot{}), ::testing::Not(HasSubstr("policy_stream_state")));
}

// Issue 13: decision latency by source and portal call latency by outcome, in seconds, as histograms.
TEST(PrometheusFormatTest, LatencyHistogramsBySourceAndOutcome) {
  AuthorizerCounters c;
  c.ObserveDecision(DecisionSource::kCache, std::chrono::microseconds(50));
  c.ObserveDecision(DecisionSource::kPortal, std::chrono::milliseconds(30));
  c.ObserveDecision(DecisionSource::kPortal, std::chrono::milliseconds(300));
  c.ObservePortalCall(PortalOutcome::kError, std::chrono::seconds(2));
  AgentSnapshot s;
  s.decisions = c.snapshot();
  const std::string text = FormatPrometheus(s);
  EXPECT_THAT(text, HasSubstr("# TYPE ocserv_agent_decision_latency_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_decision_latency_seconds_bucket{source=\"cache\",le=\"0.0001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_decision_latency_seconds_bucket{source=\"portal\",le=\"0.025\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_decision_latency_seconds_bucket{source=\"portal\",le=\"0.05\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_decision_latency_seconds_bucket{source=\"portal\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_decision_latency_seconds_sum{source=\"portal\"} 0.33\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_decision_latency_seconds_count{source=\"fail_open\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE ocserv_agent_portal_call_latency_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_portal_call_latency_seconds_bucket{outcome=\"error\",le=\"1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_portal_call_latency_seconds_bucket{outcome=\"error\",le=\"2.5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_portal_call_latency_seconds_count{outcome=\"allow\"} 0\n"));
}

TEST(PrometheusFormatTest, IpcRepliesAreOneFamilyByKind) {
  AgentSnapshot s;
  s.ipc.replies_allow = 7;
  s.ipc.replies_error = 2;
  const std::string text = FormatPrometheus(s);
  EXPECT_THAT(text, HasSubstr("ocserv_agent_ipc_replies_total{reply=\"allow\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_ipc_replies_total{reply=\"error\"} 2\n"));
  EXPECT_THAT(text, Not(HasSubstr("ocserv_agent_ipc_replies_allow_total")));
  EXPECT_THAT(text, Not(HasSubstr("ocserv_agent_ipc_oversize_total")));
}

TEST(PrometheusFormatTest, ProcessConfigAndCertificateGauges) {
  AgentSnapshot s;
  s.process = ProcessSnapshot{1.25, 4096, 12, 1024, 1700000000.5};
  s.config = ConfigReloadSnapshot{false, 1700000100, 3, 1};
  s.certificates = {{"portal_client", 1900000000}, {"management", 1800000000}};
  const std::string text = FormatPrometheus(s);
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.25\n"));
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes 4096\n"));
  EXPECT_THAT(text, HasSubstr("process_open_fds 12\n"));
  EXPECT_THAT(text, HasSubstr("process_max_fds 1024\n"));
  EXPECT_THAT(text, HasSubstr("process_start_time_seconds 1700000000.5\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_config_last_reload_successful 0\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_config_last_reload_success_timestamp_seconds 1700000100\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_config_reloads_total{result=\"applied\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("ocserv_agent_config_reloads_total{result=\"rejected\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(
                        "ocserv_agent_certificate_expiry_timestamp_seconds{certificate=\"portal_client\"} 1900000000\n"));
  EXPECT_THAT(text,
              HasSubstr("ocserv_agent_certificate_expiry_timestamp_seconds{certificate=\"management\"} 1800000000\n"));
}

// Issue 15: GetStatus reads the same registry; each status value is the number the metric shows.
TEST(AgentMetricsTest, StatusValuesComeFromTheSameTable) {
  AgentSnapshot s = Sample();
  std::map<std::string, std::map<std::string, std::uint64_t>> status;
  ForEachStatusValue(s, [&status](std::string_view group, std::string_view key, std::uint64_t v) {
    EXPECT_TRUE(status[std::string(group)].emplace(std::string(key), v).second) << group << "/" << key << " twice";
  });
  EXPECT_EQ(status["decisions_by_source"]["fail_open"], 14u);
  EXPECT_EQ(status["decisions_by_verdict"]["allow"], 50u);
  EXPECT_EQ(status["portal"]["error"], 2u);
  EXPECT_EQ(status["breaker"]["failures"], 9u);
  EXPECT_EQ(status["cache"]["capacity"], 100000u);
  EXPECT_EQ(status["ipc"]["oversize"], 3u);
  EXPECT_EQ(status["sessions"]["active"], 8u);
  EXPECT_EQ(status.count("events"), 0u) << "absent sections have no status values";
}

}  // namespace
}  // namespace oa
