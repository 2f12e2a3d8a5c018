// PolicyEnforcer: applies policy events — from the portal's stream or from the local control API — to the agent's
// state (shared/DESIGN.md "Live enforcement", protocol-reference.md "PolicyWatch"):
//
//   Revoke{user|group}  -> in force in the RevocationTable first, then the cache forgets the subject, then its live
//                          sessions are disconnected (SessionActions, asynchronous). Order matters: ocserv 1.1.6's
//                          `disconnect` leaves the cookie valid and openconnect reconnects at once.
//   Restore{user|group} -> the revocation is lifted; sessions are not touched.
//   Invalidate{subject} -> cached decisions (fresh and stale) dropped; no disconnect.
//   Recheck{subject}    -> live sessions re-validated (SessionActions).
//   Resync              -> Invalidate{all} + Recheck{all}.
// Revoke/Restore of `all` are refused (the protocol forbids them).
//
// One log line per applied revocation; every event is counted by kind and result. Invalidate and Recheck lines are
// rate-limited (20 a second per kind, on the revocation table's clock; the next line says how many were not logged):
// a portal may send 100 000 of them a second, and a line per event cost more than applying it.
// Thread-safety: every method from any thread; the table and cache are thread-safe, counters are atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/enforcement/policy_event.h"
#include "agent/enforcement/revocation_table.h"
#include "agent/enforcement/session_actions.h"
#include "common/warn_limiter.h"
#include "resilience/decision_cache.h"

namespace oa {

// How an event ended, for the events-by-kind-and-result counters.
enum class EventResult : std::uint8_t { kApplied, kStale, kUnknown, kInvalid };
inline constexpr std::size_t kEventKinds = 7;
inline constexpr std::size_t kEventResults = 4;

constexpr std::string_view to_string(EventResult r) {
  switch (r) {
    case EventResult::kApplied: return "applied";
    case EventResult::kStale: return "ignored_stale";
    case EventResult::kUnknown: return "skipped_unknown";
    case EventResult::kInvalid: return "invalid";
  }
  return "unknown";
}

struct EventCountsSnapshot {
  std::array<std::array<std::uint64_t, kEventResults>, kEventKinds> by_kind_result{};
  std::uint64_t get(PolicyEventKind k, EventResult r) const {
    return by_kind_result[static_cast<std::size_t>(k)][static_cast<std::size_t>(r)];
  }
};

class PolicyEnforcer {
 public:
  struct Deps {
    RevocationTable& revocations;
    DecisionCache& cache;
    SessionActions* sessions = nullptr;  // optional: without it nothing live is disconnected or re-checked
  };
  explicit PolicyEnforcer(Deps deps) : deps_(deps) {}

  // Applies one event the stream logic said to apply (kApply); returns the result (kInvalid for a Revoke/Restore
  // of `all`).
  EventResult Apply(const PolicyEvent& event);

  // Local control (AgentControl.Revoke / Restore): the same logic without the portal. InvalidArgument for `all` or
  // an empty name.
  absl::StatusOr<Revocation> Revoke(const Subject& subject, std::string reason, int disconnect_reason,
                                    std::string origin, std::optional<Clock::WallTime> published_at = std::nullopt);
  absl::StatusOr<bool> Restore(const Subject& subject, std::string_view origin);

  void Count(PolicyEventKind kind, EventResult result) {
    counts_[static_cast<std::size_t>(kind)][static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  }
  EventCountsSnapshot counts() const;

 private:
  void Invalidate(const Subject& subject);
  // Whether an Invalidate / Recheck line may be logged now; " (N similar lines not logged)" or "" into *note.
  bool AllowLine(PolicyEventKind kind, std::string* note);

  Deps deps_;
  std::mutex log_mu_;
  WarnLimiter<kEventKinds> log_limiter_;  // guarded by log_mu_
  std::array<std::array<std::atomic<std::uint64_t>, kEventResults>, kEventKinds> counts_{};
};

}  // namespace oa
