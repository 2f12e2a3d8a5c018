// DurationHistogram: a Prometheus-style histogram of durations over fixed bucket bounds in seconds (the base unit),
// lock-free so that any thread (the decision path, the enforcer's occtl thread) can observe into it without a lock.
// The bounds are a template argument, so each use names its own spread once: the answers' latency (tens of
// microseconds to seconds, agent/metrics/seconds_histogram.h) and the revocation latency (milliseconds to seconds,
// agent/enforcement/latency_histogram.h). The metrics registry exports a snapshot as `<name>_bucket{le=...}`,
// `<name>_sum`, `<name>_count` (agent/metrics/agent_metrics.cc).
//
// Thread-safety: Observe and snapshot from any thread (relaxed atomics; a snapshot may be mid-update by one sample).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace oa {

template <const auto& Bounds>
struct DurationHistogramSnapshot {
  static constexpr const auto& kBounds = Bounds;           // upper bounds in seconds, ascending
  std::array<std::uint64_t, Bounds.size() + 1> counts{};  // per bucket (not cumulative); last = above every bound
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

template <const auto& Bounds>
class DurationHistogram {
 public:
  using Snapshot = DurationHistogramSnapshot<Bounds>;

  void Observe(std::chrono::nanoseconds d) {
    if (d.count() < 0) d = std::chrono::nanoseconds(0);
    const double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < Bounds.size() && seconds > Bounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
  }

  Snapshot snapshot() const {
    Snapshot s;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
      s.count += s.counts[i];
    }
    s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, Bounds.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace oa
