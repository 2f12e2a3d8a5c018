// Options of the resilience components, as the config file gives them (config.yaml.example). Plain
// data with the documented defaults; agent/config.* parses and validates them, the components only read them.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace oa {

using Millis = std::chrono::milliseconds;

struct CircuitBreakerOptions {
  int failure_threshold = 5;         // consecutive failures that trip it
  int failure_rate_threshold = 50;   // percent, over `window`, once `minimum_calls` were seen
  Millis window{30'000};
  int minimum_calls = 20;
  Millis open_timeout{30'000};       // first open period; grows on repeated trips
  Millis max_open_timeout{300'000};
  int half_open_max_calls = 1;

  bool operator==(const CircuitBreakerOptions&) const = default;
};

struct DecisionCacheOptions {
  std::size_t max_entries = 100'000;
  Millis allow_ttl{300'000};
  Millis deny_ttl{30'000};
  Millis stale_ttl{1'800'000};
  // Which request fields form the key. Known names: username, groupname, vhost, ip_real, ... (see cache_key.h).
  std::vector<std::string> key_fields{"username", "groupname", "vhost", "ip_real"};

  bool operator==(const DecisionCacheOptions&) const = default;
};

enum class FailMode { kOpen, kClose, kStale };
enum class StaleFallback { kClose, kOpen };

struct FailModeOptions {
  FailMode fail_mode = FailMode::kStale;
  StaleFallback stale_fallback = StaleFallback::kClose;

  bool operator==(const FailModeOptions&) const = default;
};

}  // namespace oa

#include <optional>
#include <string_view>

namespace oa {

// The accepted spellings (docs/architecture.md#agent-fail-mode); anything else is nullopt, which config reports as
// an error.
inline std::optional<FailMode> ParseFailMode(std::string_view s) {
  if (s == "fail-open" || s == "open") return FailMode::kOpen;
  if (s == "fail-close" || s == "fail-closed" || s == "close") return FailMode::kClose;
  if (s == "fail-stale" || s == "stale") return FailMode::kStale;
  return std::nullopt;
}

inline std::optional<StaleFallback> ParseStaleFallback(std::string_view s) {
  if (s == "close") return StaleFallback::kClose;
  if (s == "open") return StaleFallback::kOpen;
  return std::nullopt;
}

constexpr std::string_view to_string(FailMode m) {
  switch (m) {
    case FailMode::kOpen: return "fail-open";
    case FailMode::kClose: return "fail-close";
    case FailMode::kStale: return "fail-stale";
  }
  return "unknown";
}

constexpr std::string_view to_string(StaleFallback f) { return f == StaleFallback::kOpen ? "open" : "close"; }

}  // namespace oa
