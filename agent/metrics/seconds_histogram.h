// SecondsHistogram: the latency of answers (decisions, portal calls), a DurationHistogram (common/) whose buckets
// span what an answer can take: a cache hit (tens of microseconds) up to the longest decision deadline
// (ipc.decision_timeout, seconds).
#pragma once

#include <array>

#include "common/duration_histogram.h"

namespace oa {

inline constexpr std::array<double, 15> kAnswerLatencyBounds = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                0.1,    0.25,   0.5,   1,      2.5,   5,     10};
using SecondsHistogram = DurationHistogram<kAnswerLatencyBounds>;
using SecondsHistogramSnapshot = SecondsHistogram::Snapshot;

}  // namespace oa
