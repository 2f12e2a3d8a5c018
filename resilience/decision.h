// The vocabulary shared by the cache, the fail modes, the authorizer and the IPC server: a verdict, where it came
// from, and the three outcomes of a portal call (docs/architecture.md#outcomes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace oa {

enum class Verdict : std::uint8_t { kAllow, kDeny };

// Where an answer came from. Every answer the agent gives carries one.
enum class DecisionSource : std::uint8_t { kPortal, kCache, kStale, kFailOpen, kFailClose, kCoalesced };

// How one portal call ended. kDeny is a successful call: it never trips the breaker or triggers a fail mode.
enum class PortalOutcome : std::uint8_t { kAllow, kDeny, kError };

struct Decision {
  Verdict verdict = Verdict::kDeny;
  DecisionSource source = DecisionSource::kFailClose;
  std::string reason;  // deny reason (from the portal, or why a fail mode denied)
};

constexpr std::string_view to_string(Verdict v) { return v == Verdict::kAllow ? "allow" : "deny"; }

constexpr std::string_view to_string(DecisionSource s) {
  switch (s) {
    case DecisionSource::kPortal: return "portal";
    case DecisionSource::kCache: return "cache";
    case DecisionSource::kStale: return "stale";
    case DecisionSource::kFailOpen: return "fail_open";
    case DecisionSource::kFailClose: return "fail_close";
    case DecisionSource::kCoalesced: return "coalesced";
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
