#include "resilience/fail_mode.h"

#include <string>

#include "absl/status/status.h"

namespace oa {
namespace {

Decision FailOpen(std::string_view why) { return Decision{Verdict::kAllow, DecisionSource::kFailOpen, std::string(why)}; }
Decision FailClose(std::string_view why) {
  return Decision{Verdict::kDeny, DecisionSource::kFailClose, std::string(why)};
}

}  // namespace

Decision DecideOnError(const FailModeOptions& options, const std::optional<CachedDecision>& stale) {
  switch (options.fail_mode) {
    case FailMode::kOpen:
      return FailOpen("portal unavailable; fail-open");
    case FailMode::kClose:
      return FailClose("portal unavailable; fail-close");
    case FailMode::kStale:
      if (stale) return Decision{stale->verdict, DecisionSource::kStale, stale->reason};
      return options.stale_fallback == StaleFallback::kOpen
                 ? FailOpen("portal unavailable, no stale verdict; stale_fallback open")
                 : FailClose("portal unavailable, no stale verdict; stale_fallback close");
  }
  return FailClose("portal unavailable; unknown fail mode");  // unreachable with a valid enum: deny, never allow
}

absl::StatusOr<FailMode> ParseFailModeOrError(std::string_view value, std::string_view key) {
  if (auto mode = ParseFailMode(value)) return *mode;
  return absl::InvalidArgumentError(std::string(key) + ": unknown fail mode \"" + std::string(value) +
                                    "\" (accepted: fail-open|open, fail-close|fail-closed|close, fail-stale|stale)");
}

absl::StatusOr<StaleFallback> ParseStaleFallbackOrError(std::string_view value, std::string_view key) {
  if (auto fallback = ParseStaleFallback(value)) return *fallback;
  return absl::InvalidArgumentError(std::string(key) + ": unknown stale fallback \"" + std::string(value) +
                                    "\" (accepted: close, open)");
}

}  // namespace oa
