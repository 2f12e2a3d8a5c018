// FormatPrometheus: an AgentSnapshot in the Prometheus text exposition format (version 0.0.4), every metric named
// `ocserv_agent_*`. A pure function, so that the exact output is unit-tested without a socket; the HTTP side is
// metrics_http_server.h. The metric names are listed in the .cc (and in the README section on metrics).
//
// Thread-safety: pure.
#pragma once

#include <string>
#include <string_view>

#include "agent/metrics/agent_snapshot.h"

namespace oa {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string FormatPrometheus(const AgentSnapshot& snapshot);

// A label value with backslash, double quote and newline escaped as the text format requires.
std::string EscapeLabelValue(std::string_view value);

}  // namespace oa
