#include "agent/config/duration.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace oa {
namespace {

// Longest accepted: 10 years. Keeps every sum far from overflowing int64 milliseconds.
constexpr std::int64_t kMaxMillis = std::int64_t{10} * 365 * 24 * 3600 * 1000;

// Milliseconds per unit; 0 for anything that is not a unit.
std::int64_t UnitMillis(const std::string& unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  return 0;
}

}  // namespace

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text_view) {
  const std::string text(text_view);  // Debian's absl::StrCat takes no std::string_view
  const std::string hint = " (use a number with a unit: ms, s, m or h, e.g. 250ms, 5s, 30m, 1h)";
  if (text.empty()) return absl::InvalidArgumentError("empty duration" + hint);
  if (text == "0") return std::chrono::milliseconds{0};
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a duration", hint));
    }
    std::int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      if (value > kMaxMillis) return absl::InvalidArgumentError(absl::StrCat("'", text, "' is too long a duration"));
      ++i;
    }
    std::size_t unit_start = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    std::string unit = text.substr(unit_start, i - unit_start);
    const std::int64_t scale = UnitMillis(unit);
    if (scale == 0) {
      if (unit.empty()) return absl::InvalidArgumentError(absl::StrCat("'", text, "' lacks a unit", hint));
      if (unit.find_first_of(" \t") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a duration: no spaces", hint));
      }
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' has an unknown unit '", unit, "'", hint));
    }
    if (value > kMaxMillis / scale || total + value * scale > kMaxMillis) {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' is too long a duration"));
    }
    total += value * scale;
  }
  return std::chrono::milliseconds{total};
}

std::string FormatDuration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  if (ms % 1000 != 0) return absl::StrCat(out, ms, "ms");
  std::int64_t s = ms / 1000;
  std::int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  if (h) absl::StrAppend(&out, h, "h");
  if (m) absl::StrAppend(&out, m, "m");
  if (sec) absl::StrAppend(&out, sec, "s");
  return out;
}

}  // namespace oa
