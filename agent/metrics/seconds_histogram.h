// SecondsHistogram: a Prometheus histogram of durations with fixed buckets in seconds (the base unit), lock-free so
// that the decision path can observe into it from any thread without a lock. The metrics registry
// (agent/metrics/agent_metrics.cc) exports a snapshot as `<name>_bucket{le=...}`, `<name>_sum`, `<name>_count`.
//
// The buckets span what an answer can take: a cache hit (tens of microseconds) up to the longest decision deadline
// (ipc.decision_timeout, seconds).
//
// Thread-safety: Observe and snapshot from any thread (relaxed atomics; a snapshot may be mid-update by one sample).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace oa {

struct SecondsHistogramSnapshot {
  static constexpr std::array<double, 15> kBounds = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,    0.25,   0.5,   1,      2.5,   5,     10};
  std::array<std::uint64_t, kBounds.size() + 1> counts{};  // per bucket (not cumulative); last = above every bound
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

class SecondsHistogram {
 public:
  void Observe(std::chrono::nanoseconds d) {
    if (d.count() < 0) d = std::chrono::nanoseconds(0);
    const double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < SecondsHistogramSnapshot::kBounds.size() && seconds > SecondsHistogramSnapshot::kBounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
  }

  SecondsHistogramSnapshot snapshot() const {
    SecondsHistogramSnapshot s;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
      s.count += s.counts[i];
    }
    s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, SecondsHistogramSnapshot::kBounds.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace oa
