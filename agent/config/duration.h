// Durations as the config file writes them: "250ms", "5s", "30m", "1h", or sums such as "1h30m"; "0" alone means
// zero. Millisecond resolution; no fractions and no bare numbers (a bare "5" is ambiguous, so it is an error).
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace oa {

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The inverse, in the largest units that are exact: 90000ms -> "1m30s", 250ms -> "250ms", 0 -> "0".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace oa
