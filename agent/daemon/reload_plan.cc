#include "agent/daemon/reload_plan.h"

namespace oa {
namespace {

// The keys the services apply on reload (DecisionPath::Reload, ConfigureLogging, the shutdown reading the current
// config). Cleared before comparing, so that changing them needs no restart.
Config WithoutLiveKeys(Config c) {
  c.source_path.clear();
  c.agent.shutdown_grace = {};
  c.portal.timeout = {};
  c.resilience.fail = {};
  c.resilience.circuit_breaker = {};
  c.logging = {};
  c.enforcement.revocation_ttl = {};  // for revocations made from then on
  c.enforcement.recheck_rate = {};
  return c;
}

struct RestartRule {
  std::string_view what;
  bool (*changed)(const Config& started, const Config& next);
};

// Compared after WithoutLiveKeys. A part of the config missing here is still caught by the whole-object comparison
// in ChangesNeedingRestart ("other settings"), so a new section cannot change silently.
constexpr RestartRule kRestartRules[] = {
    {"agent.id in session reports (policy queries use the new id at once)",
     [](const Config& a, const Config& b) { return a.agent != b.agent; }},
    {"ipc", [](const Config& a, const Config& b) { return a.ipc != b.ipc; }},
    {"portal (every key but timeout)", [](const Config& a, const Config& b) { return a.portal != b.portal; }},
    {"resilience.cache", [](const Config& a, const Config& b) { return a.resilience.cache != b.resilience.cache; }},
    {"management", [](const Config& a, const Config& b) { return a.management != b.management; }},
    {"ocserv", [](const Config& a, const Config& b) { return a.ocserv != b.ocserv; }},
    {"events", [](const Config& a, const Config& b) { return a.events != b.events; }},
    {"enforcement (every key but revocation_ttl and recheck_rate)",
     [](const Config& a, const Config& b) { return a.enforcement != b.enforcement; }},
    {"metrics", [](const Config& a, const Config& b) { return a.metrics != b.metrics; }},
};

}  // namespace

std::vector<std::string_view> ChangesNeedingRestart(const Config& started, const Config& next) {
  const Config a = WithoutLiveKeys(started);
  const Config b = WithoutLiveKeys(next);
  std::vector<std::string_view> changed;
  if (a == b) return changed;
  for (const RestartRule& rule : kRestartRules) {
    if (rule.changed(a, b)) changed.push_back(rule.what);
  }
  if (changed.empty()) changed.push_back("other settings");
  return changed;
}

}  // namespace oa
