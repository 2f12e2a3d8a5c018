// The data model of an exposition, after prometheus-cpp's MetricFamily/ClientMetric: a family has a name, a type, a
// help text and samples; a sample has labels and a value (or, for a histogram, buckets, a sum and a count). The
// registry (agent_metrics.h) builds these from an AgentSnapshot; prometheus_format.h writes them as text.
//
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace oa {

enum class MetricType { kCounter, kGauge, kHistogram };

struct HistogramValue {
  std::vector<std::pair<double, std::uint64_t>> buckets;  // (upper bound, cumulative count), +Inf excluded
  std::uint64_t count = 0;                                // also the +Inf bucket
  double sum = 0;
};

struct MetricSample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  HistogramValue histogram;  // kHistogram only
};

struct MetricFamily {
  std::string name;  // full name, ocserv_agent_ or process_ prefix included
  MetricType type = MetricType::kGauge;
  std::string help;
  std::vector<MetricSample> samples;
};

}  // namespace oa
