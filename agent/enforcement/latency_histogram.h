// LatencyHistogram: a Prometheus-style cumulative histogram with fixed millisecond buckets, lock-free (relaxed
// atomics). For the revocation latency (event published_at -> occtl returned). Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace oa {

struct LatencyHistogramSnapshot {
  static constexpr std::array<double, 12> kBoundsMs = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
  std::array<std::uint64_t, kBoundsMs.size() + 1> counts{};  // per bucket (not cumulative); last = above all bounds
  std::uint64_t count = 0;
  double sum_ms = 0;
};

class LatencyHistogram {
 public:
  void Observe(double ms) {
    std::size_t i = 0;
    while (i < LatencyHistogramSnapshot::kBoundsMs.size() && ms > LatencyHistogramSnapshot::kBoundsMs[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<std::uint64_t>(ms < 0 ? 0 : ms * 1000), std::memory_order_relaxed);
  }
  LatencyHistogramSnapshot snapshot() const {
    LatencyHistogramSnapshot s;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
      s.count += s.counts[i];
    }
    s.sum_ms = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1000.0;
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, LatencyHistogramSnapshot::kBoundsMs.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_us_{0};
};

}  // namespace oa
