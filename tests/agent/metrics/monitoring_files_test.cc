// The shipped dashboard and alert rules (packaging/monitoring) against the registry: the dashboard is valid JSON
// (protobuf's strict JSON parser), and every metric name either file uses is one the agent exports — so a rename in
// agent/metrics/agent_metrics.cc cannot leave a panel or an alert silently empty. (`promtool check rules` / `test
// rules` check the rules' PromQL; tests/packaging/CMakeLists.txt registers them.)
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "agent/metrics/agent_metrics.h"

namespace oa {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every family name of a snapshot with every optional section present; histograms also under their sample names.
std::set<std::string> ExportedNames() {
  AgentSnapshot s;
  s.events = EventsSnapshot{};
  s.enforcement = EnforcementSnapshot{};
  s.management = ManagementCounters::Snapshot{};
  s.metrics_http = MetricsHttpCountersSnapshot{};
  s.process = ProcessSnapshot{};
  s.config = ConfigReloadSnapshot{};
  s.certificates = {{"portal_client", 1}};
  std::set<std::string> names;
  for (const MetricFamily& f : CollectMetricFamilies(s)) {
    names.insert(f.name);
    if (f.type == MetricType::kHistogram) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(f.name + suffix);
    }
  }
  return names;
}

// The agent's metric names in a PromQL expression.
std::set<std::string> NamesIn(const std::string& expr) {
  static const std::regex kName(R"(\b((ocserv_agent|process)_[a-z0-9_]+))");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kName); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1].str());
  }
  return out;
}

void CollectExprs(const google::protobuf::Value& v, std::vector<std::string>& out) {
  if (v.has_struct_value()) {
    for (const auto& [key, field] : v.struct_value().fields()) {
      if ((key == "expr" || key == "query") && field.has_string_value()) out.push_back(field.string_value());
      CollectExprs(field, out);
    }
  } else if (v.has_list_value()) {
    for (const auto& item : v.list_value().values()) CollectExprs(item, out);
  }
}

TEST(MonitoringFilesTest, DashboardIsJsonAndUsesOnlyExportedMetrics) {
  const std::string text = Slurp(OA_MONITORING_DIR "/ocserv-agent-dashboard.json");
  ASSERT_FALSE(text.empty());
  google::protobuf::Value root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(text, &root);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  std::vector<std::string> exprs;
  CollectExprs(root, exprs);
  EXPECT_GT(exprs.size(), 20u);
  const std::set<std::string> exported = ExportedNames();
  std::set<std::string> used;
  for (const auto& e : exprs) {
    for (const auto& name : NamesIn(e)) {
      used.insert(name);
      EXPECT_TRUE(exported.count(name)) << name << " is not exported by the agent (in: " << e << ")";
    }
  }
  // The panels an operator needs first are there.
  for (const char* name : {"ocserv_agent_decision_latency_seconds_bucket", "ocserv_agent_portal_call_latency_seconds_bucket",
                           "ocserv_agent_breaker_state", "ocserv_agent_events_outbox_depth",
                           "ocserv_agent_certificate_expiry_timestamp_seconds", "process_resident_memory_bytes"}) {
    EXPECT_TRUE(used.count(name)) << name << " has no panel";
  }
}

TEST(MonitoringFilesTest, AlertRulesUseOnlyExportedMetrics) {
  const YAML::Node rules = YAML::LoadFile(OA_MONITORING_DIR "/ocserv-agent.rules.yml");
  const std::set<std::string> exported = ExportedNames();
  std::set<std::string> alerts;
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      alerts.insert(rule["alert"].as<std::string>());
      const std::string expr = rule["expr"].as<std::string>();
      const auto names = NamesIn(expr);
      EXPECT_FALSE(names.empty()) << expr;
      for (const auto& name : names) EXPECT_TRUE(exported.count(name)) << name << " in " << expr;
    }
  }
  // Issue 13: portal errors, breaker open, fail-open answers, outbox depth, stream down, certificate expiry.
  for (const char* a : {"OcservAgentPortalErrors", "OcservAgentBreakerOpen", "OcservAgentFailOpenAnswers",
                        "OcservAgentOutboxBacklog", "OcservAgentPolicyStreamDown",
                        "OcservAgentCertificateExpiresSoon"}) {
    EXPECT_TRUE(alerts.count(a)) << a;
  }
}

}  // namespace
}  // namespace oa
