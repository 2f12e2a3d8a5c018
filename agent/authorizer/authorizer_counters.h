// AuthorizerCounters: every source and outcome of the authorizer, in one struct that the metrics endpoint and the
// management API read (snapshot()), plus the latency histograms of answers (by source) and of portal calls (by
// outcome). Lock-free: relaxed atomics, bumped from any thread.
//
// Each counter is declared once, in OA_AUTHORIZER_COUNTERS: the atomic, its snapshot field and the copy between them
// are generated from that list. Adding a counter is one line there (and one row in agent/metrics/agent_metrics.cc
// to export it).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "agent/metrics/seconds_histogram.h"
#include "resilience/decision.h"

namespace oa {

#define OA_AUTHORIZER_COUNTERS(X)                                                                                  \
  X(requests)                    /* connect requests decided */                                                    \
  X(allowed)                     /* answers by verdict */                                                          \
  X(denied)                                                                                                        \
  X(portal_calls)                /* portal calls made (one call may answer many coalesced requests) */            \
  X(portal_allow)                                                                                                  \
  X(portal_deny)                                                                                                   \
  X(portal_error)                                                                                                  \
  X(breaker_rejected)            /* calls not made because the breaker was open */                                 \
  X(deadline_answers)            /* requests answered by the fail mode at their own deadline */                    \
  X(no_time_for_portal)          /* requests whose deadline left no time to ask the portal */                      \
  X(host_updates)                /* session events acknowledged by the IPC server and recorded here */             \
  X(disconnects)                                                                                                   \
  X(disconnects_unknown_session) /* disconnect without a connect seen (ocserv does that) */                        \
  X(revoked_cache_skips)         /* a fresh cached Allow not used because the subject is revoked */                \
  X(revoked_denied)              /* an admit (stale, fail-open, in-flight portal Allow) turned into a deny */      \
  X(in_flight_not_cached)        /* portal answers not cached: an invalidation/revocation during the call */

struct AuthorizerCountersSnapshot {
#define OA_X(name) std::uint64_t name = 0;
  OA_AUTHORIZER_COUNTERS(OA_X)
#undef OA_X
  // Answers by source (resilience/decision.h): one of these per request.
#define OA_X(enumerator, name) std::uint64_t source_##name = 0;
  OA_DECISION_SOURCES(OA_X)
#undef OA_X
  // From the request reaching the authorizer to its answer, by source; portal calls by how they ended.
  std::array<SecondsHistogramSnapshot, kDecisionSources> decision_latency{};
  std::array<SecondsHistogramSnapshot, kAllPortalOutcomes.size()> portal_latency{};

  std::uint64_t by_source(DecisionSource s) const {
    switch (s) {
#define OA_X(enumerator, name) \
  case DecisionSource::enumerator: return source_##name;
      OA_DECISION_SOURCES(OA_X)
#undef OA_X
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
#define OA_X(enumerator, name)   \
  case DecisionSource::enumerator: \
    Bump(source_##name);           \
    break;
      OA_DECISION_SOURCES(OA_X)
#undef OA_X
    }
  }
  void ObserveDecision(DecisionSource source, std::chrono::nanoseconds took) {
    decision_latency[static_cast<std::size_t>(source)].Observe(took);
  }
  void ObservePortalCall(PortalOutcome outcome, std::chrono::nanoseconds took) {
    portal_latency[static_cast<std::size_t>(outcome)].Observe(took);
  }

  AuthorizerCountersSnapshot snapshot() const {
    AuthorizerCountersSnapshot s;
#define OA_X(name) s.name = name.load(std::memory_order_relaxed);
    OA_AUTHORIZER_COUNTERS(OA_X)
#undef OA_X
#define OA_X(enumerator, name) s.source_##name = source_##name.load(std::memory_order_relaxed);
    OA_DECISION_SOURCES(OA_X)
#undef OA_X
    for (std::size_t i = 0; i < decision_latency.size(); ++i) s.decision_latency[i] = decision_latency[i].snapshot();
    for (std::size_t i = 0; i < portal_latency.size(); ++i) s.portal_latency[i] = portal_latency[i].snapshot();
    return s;
  }

#define OA_X(name) Counter name{0};
  OA_AUTHORIZER_COUNTERS(OA_X)
#undef OA_X
#define OA_X(enumerator, name) Counter source_##name{0};
  OA_DECISION_SOURCES(OA_X)
#undef OA_X
  std::array<SecondsHistogram, kDecisionSources> decision_latency;
  std::array<SecondsHistogram, kAllPortalOutcomes.size()> portal_latency;
};

}  // namespace oa
