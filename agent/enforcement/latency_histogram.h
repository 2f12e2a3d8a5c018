// LatencyHistogram: the revocation latency (an event's published_at -> occtl returned), a DurationHistogram
// (common/) with buckets from 1 ms to 10 s. Thread-safe.
#pragma once

#include <array>

#include "common/duration_histogram.h"

namespace oa {

inline constexpr std::array<double, 12> kRevocationLatencyBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                    0.25,  0.5,   1,    2.5,   5,    10};
using LatencyHistogram = DurationHistogram<kRevocationLatencyBounds>;
using LatencyHistogramSnapshot = LatencyHistogram::Snapshot;

}  // namespace oa
