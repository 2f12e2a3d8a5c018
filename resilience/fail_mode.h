// The fail mode: the one place that decides the answer when the portal call ended in Error (unavailable, deadline,
// malformed reply, breaker open...) — never for a Deny, which is a successful call
// (docs/architecture.md#agent-fail-mode).
//
//   fail-open   -> Allow, source fail_open
//   fail-close  -> Deny,  source fail_close
//   fail-stale  -> the previous verdict from the cache (GetStale), source stale; with none, `stale_fallback`
//                  (close -> Deny/fail_close, open -> Allow/fail_open)
//
// The caller counts and logs each branch by the returned source (fail_open at warning). Pure functions;
// thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "resilience/decision.h"
#include "resilience/decision_cache.h"
#include "resilience/options.h"

namespace oa {

// `stale` is what DecisionCache::GetStale returned (expired-within-stale-window or fresh: both are a previous
// verdict). It is consulted only in fail-stale mode.
Decision DecideOnError(const FailModeOptions& options, const std::optional<CachedDecision>& stale);

// ParseFailMode / ParseStaleFallback (options.h) with an error that names the key, the bad value and the accepted
// spellings, for the config loader and the management API.
absl::StatusOr<FailMode> ParseFailModeOrError(std::string_view value,
                                              std::string_view key = "resilience.fail_mode");
absl::StatusOr<StaleFallback> ParseStaleFallbackOrError(std::string_view value,
                                                        std::string_view key = "resilience.stale_fallback");

}  // namespace oa
