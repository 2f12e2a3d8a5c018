// The metrics registry: every number the agent exports, declared once (agent_metrics.cc) with its metric family,
// label, help text and GetStatus key. /metrics (CollectMetricFamilies -> FormatPrometheus) and the management API's
// GetStatus (ForEachStatusValue -> DecisionControlPlane::ToStatus) are both loops over that one table, so a counter
// added there appears in both under names that cannot drift apart.
//
// Why in-tree and not prometheus-cpp: docs/metrics.md (one sentence: the agent exports a snapshot it already holds,
// so a pull-time table is all it needs; prometheus-cpp's live-registry model would duplicate every counter).
//
// Thread-safety: pure functions of a snapshot.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "agent/metrics/agent_snapshot.h"
#include "agent/metrics/metric_family.h"

namespace oa {

// Every family of a snapshot, in exposition order. Optional sections (events, enforcement, management, the
// endpoint's own counters, process, config, certificates) appear only when present in the snapshot.
std::vector<MetricFamily> CollectMetricFamilies(const AgentSnapshot& snapshot);

// The GetStatus view: f(group, key, value) for every status value, where group names a map of StatusSnapshot
// (breaker, cache, decisions_by_source, decisions_by_verdict, portal, ipc, sessions, enforcement, events).
using StatusValueFn = std::function<void(std::string_view group, std::string_view key, std::uint64_t value)>;
void ForEachStatusValue(const AgentSnapshot& snapshot, const StatusValueFn& f);

}  // namespace oa
