// Jitter for timers that must not fire in step (breaker open periods, cache TTLs, reconnect backoff): a tiny PRNG
// and the one formula that spreads a duration by ±spread. Header-only and dependency-free.
// Thread-safety: pure functions; a PRNG state belongs to one caller (or is guarded by that caller's lock).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace oa {

// splitmix64: quality needs here are modest, it is tiny, and it is deterministic per seed (tests seed it).
inline std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A uniform draw in [0, 1) from the next SplitMix64 number (its top 53 bits).
inline double NextUnit(std::uint64_t& state) { return static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53; }

// A seed from std::random_device, for callers that were not given one.
inline std::uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

// `base` scaled by a factor in [1 - spread, 1 + spread] chosen by `u` in [0, 1] (clamped): 0.5 leaves it unchanged.
template <class Rep, class Period>
std::chrono::duration<Rep, Period> Jittered(std::chrono::duration<Rep, Period> base, double spread, double u) {
  u = std::clamp(u, 0.0, 1.0);
  const double factor = 1.0 + spread * (2.0 * u - 1.0);
  return std::chrono::duration<Rep, Period>(static_cast<Rep>(static_cast<double>(base.count()) * factor));
}

}  // namespace oa
