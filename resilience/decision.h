// The vocabulary shared by the cache, the fail modes, the authorizer and the IPC server: a verdict, where it came
// from, and the three outcomes of a portal call (docs/architecture.md#outcomes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace oa {

enum class Verdict : std::uint8_t { kAllow, kDeny };

// Where an answer came from. Every answer the agent gives carries one. The one list of sources (enumerator, name in
// logs, metrics labels and GetStatus): the counters, the metrics and the status walk it instead of spelling it again.
#define OA_DECISION_SOURCES(X) \
  X(kPortal, portal)           \
  X(kCache, cache)             \
  X(kStale, stale)             \
  X(kFailOpen, fail_open)      \
  X(kFailClose, fail_close)    \
  X(kCoalesced, coalesced)

#define OA_X(enumerator, name) enumerator,
enum class DecisionSource : std::uint8_t { OA_DECISION_SOURCES(OA_X) };
#undef OA_X
#define OA_X(enumerator, name) DecisionSource::enumerator,
inline constexpr std::array kAllDecisionSources = {OA_DECISION_SOURCES(OA_X)};
#undef OA_X
inline constexpr std::size_t kDecisionSources = kAllDecisionSources.size();

// How one portal call ended. kDeny is a successful call: it never trips the breaker or triggers a fail mode.
enum class PortalOutcome : std::uint8_t { kAllow, kDeny, kError };
inline constexpr std::array kAllPortalOutcomes = {PortalOutcome::kAllow, PortalOutcome::kDeny, PortalOutcome::kError};

struct Decision {
  Verdict verdict = Verdict::kDeny;
  DecisionSource source = DecisionSource::kFailClose;
  std::string reason;  // deny reason (from the portal, or why a fail mode denied)
};

constexpr std::string_view to_string(Verdict v) { return v == Verdict::kAllow ? "allow" : "deny"; }

constexpr std::string_view to_string(DecisionSource s) {
  switch (s) {
#define OA_X(enumerator, name) \
  case DecisionSource::enumerator: return #name;
    OA_DECISION_SOURCES(OA_X)
#undef OA_X
  }
  return "unknown";
}

constexpr std::string_view to_string(PortalOutcome o) {
  switch (o) {
    case PortalOutcome::kAllow: return "allow";
    case PortalOutcome::kDeny: return "deny";
    case PortalOutcome::kError: return "error";
  }
  return "unknown";
}

}  // namespace oa
