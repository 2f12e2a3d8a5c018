// FormatPrometheus: an AgentSnapshot in the Prometheus text exposition format (version 0.0.4). The families come from
// the registry (agent_metrics.h: every name is declared there, once); this file only writes them as text. Pure, so
// that the exact output is unit-tested without a socket; the HTTP side is metrics_http_server.h.
//
// Thread-safety: pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/metrics/agent_snapshot.h"
#include "agent/metrics/metric_family.h"

namespace oa {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string FormatPrometheus(const AgentSnapshot& snapshot);

// Families as text: HELP and TYPE once per family, then its samples (histograms as _bucket/_sum/_count).
std::string FormatText(const std::vector<MetricFamily>& families);

// A label value with backslash, double quote and newline escaped as the text format requires.
std::string EscapeLabelValue(std::string_view value);

}  // namespace oa
