#include "agent/metrics/prometheus_format.h"

#include <charconv>
#include <cmath>
#include <string>

#include "agent/metrics/agent_metrics.h"

namespace oa {
namespace {

// The shortest fixed-notation text that reads back as the same double ("11", "1.5", "0.0001", never "1e-04");
// +Inf/-Inf/NaN as the format spells
// them.
void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char text[400];  // fixed notation of the largest double
  const auto r = std::to_chars(text, text + sizeof text, v, std::chars_format::fixed);
  out.append(text, r.ptr);
}

std::string_view TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

using Labels = std::vector<std::pair<std::string, std::string>>;

void AppendSample(std::string& out, std::string_view name, std::string_view suffix, const Labels& labels,
                  const std::pair<std::string_view, std::string>* extra, double value) {
  out += name;
  out += suffix;
  if (!labels.empty() || extra != nullptr) {
    out += '{';
    bool first = true;
    auto label = [&](std::string_view k, std::string_view v) {
      if (!first) out += ',';
      first = false;
      out += k;
      out += "=\"";
      out += EscapeLabelValue(v);
      out += '"';
    };
    for (const auto& [k, v] : labels) label(k, v);
    if (extra != nullptr) label(extra->first, extra->second);
    out += '}';
  }
  out += ' ';
  AppendValue(out, value);
  out += '\n';
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

std::string FormatText(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& f : families) {
    out += "# HELP " + f.name + " " + f.help + "\n";
    out += "# TYPE " + f.name + " " + std::string(TypeName(f.type)) + "\n";
    for (const MetricSample& s : f.samples) {
      if (f.type != MetricType::kHistogram) {
        AppendSample(out, f.name, "", s.labels, nullptr, s.value);
        continue;
      }
      for (const auto& [bound, cumulative] : s.histogram.buckets) {
        std::pair<std::string_view, std::string> le{"le", ""};
        AppendValue(le.second, bound);
        AppendSample(out, f.name, "_bucket", s.labels, &le, static_cast<double>(cumulative));
      }
      const std::pair<std::string_view, std::string> inf{"le", "+Inf"};
      AppendSample(out, f.name, "_bucket", s.labels, &inf, static_cast<double>(s.histogram.count));
      AppendSample(out, f.name, "_sum", s.labels, nullptr, s.histogram.sum);
      AppendSample(out, f.name, "_count", s.labels, nullptr, static_cast<double>(s.histogram.count));
    }
  }
  return out;
}

std::string FormatPrometheus(const AgentSnapshot& snapshot) { return FormatText(CollectMetricFamilies(snapshot)); }

}  // namespace oa
