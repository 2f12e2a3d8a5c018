// AuthorizerCounters: every source and outcome of the authorizer, in one struct that the metrics endpoint and the
// management API read (snapshot()). Lock-free: relaxed atomics, bumped from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "resilience/decision.h"

namespace oa {

struct AuthorizerCountersSnapshot {
  std::uint64_t requests = 0;  // connect requests decided
  // Answers by source: one of these per request.
  std::uint64_t source_portal = 0;
  std::uint64_t source_cache = 0;
  std::uint64_t source_stale = 0;
  std::uint64_t source_fail_open = 0;
  std::uint64_t source_fail_close = 0;
  std::uint64_t source_coalesced = 0;
  // Answers by verdict.
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  // Portal calls and how they ended (one call may answer many coalesced requests).
  std::uint64_t portal_calls = 0;
  std::uint64_t portal_allow = 0;
  std::uint64_t portal_deny = 0;
  std::uint64_t portal_error = 0;
  // Degraded paths.
  std::uint64_t breaker_rejected = 0;   // calls not made because the breaker was open
  std::uint64_t deadline_answers = 0;   // requests answered by the fail mode at their own deadline
  std::uint64_t no_time_for_portal = 0; // requests whose deadline left no time to ask the portal
  // Session events (host-update / disconnect), acknowledged by the IPC server and recorded here.
  std::uint64_t host_updates = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t disconnects_unknown_session = 0;  // disconnect without a connect seen (ocserv does that)
  // Live enforcement.
  std::uint64_t revoked_cache_skips = 0;   // a fresh cached Allow not used because the subject is revoked
  std::uint64_t revoked_denied = 0;        // an admit (stale, fail-open, in-flight portal Allow) turned into a deny
  std::uint64_t in_flight_not_cached = 0;  // portal answers not cached: an invalidation/revocation during the call

  std::uint64_t by_source(DecisionSource s) const {
    switch (s) {
      case DecisionSource::kPortal: return source_portal;
      case DecisionSource::kCache: return source_cache;
      case DecisionSource::kStale: return source_stale;
      case DecisionSource::kFailOpen: return source_fail_open;
      case DecisionSource::kFailClose: return source_fail_close;
      case DecisionSource::kCoalesced: return source_coalesced;
    }
    return 0;
  }
};

class AuthorizerCounters {
 public:
  using Counter = std::atomic<std::uint64_t>;
  static void Bump(Counter& c) { c.fetch_add(1, std::memory_order_relaxed); }

  void CountAnswer(DecisionSource source, Verdict verdict) {
    Bump(requests);
    Bump(verdict == Verdict::kAllow ? allowed : denied);
    switch (source) {
      case DecisionSource::kPortal: Bump(source_portal); break;
      case DecisionSource::kCache: Bump(source_cache); break;
      case DecisionSource::kStale: Bump(source_stale); break;
      case DecisionSource::kFailOpen: Bump(source_fail_open); break;
      case DecisionSource::kFailClose: Bump(source_fail_close); break;
      case DecisionSource::kCoalesced: Bump(source_coalesced); break;
    }
  }

  AuthorizerCountersSnapshot snapshot() const {
    auto r = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
    return {r(requests),      r(source_portal),    r(source_cache),       r(source_stale),
            r(source_fail_open), r(source_fail_close), r(source_coalesced), r(allowed),
            r(denied),        r(portal_calls),     r(portal_allow),       r(portal_deny),
            r(portal_error),  r(breaker_rejected), r(deadline_answers),   r(no_time_for_portal),
            r(host_updates),  r(disconnects),      r(disconnects_unknown_session), r(revoked_cache_skips),
            r(revoked_denied), r(in_flight_not_cached)};
  }

  Counter requests{0}, source_portal{0}, source_cache{0}, source_stale{0}, source_fail_open{0}, source_fail_close{0},
      source_coalesced{0}, allowed{0}, denied{0}, portal_calls{0}, portal_allow{0}, portal_deny{0}, portal_error{0},
      breaker_rejected{0}, deadline_answers{0}, no_time_for_portal{0}, host_updates{0}, disconnects{0},
      disconnects_unknown_session{0}, revoked_cache_skips{0}, revoked_denied{0}, in_flight_not_cached{0};
};

}  // namespace oa
