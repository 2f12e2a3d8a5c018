// The agent's promises (issue 16), each named here once. Some are checked where the thing they are about happens
// (an answer reaches a helper, a portal call starts, an event reaches the portal: the On* hooks), the rest after
// every step (CheckAfterStep) and once the schedule has quiesced (CheckAtEnd). A violation records the invariant's
// name and a sentence; the runner prints the seed and a shrunk trace.
#pragma once

#include <string_view>

#include "world.h"

namespace oa::sim::inv {

inline constexpr std::string_view kRevokedNeverAdmitted = "1-revoked-never-admitted";
inline constexpr std::string_view kDegradedOnlyWhenFailing = "2-degraded-only-when-failing";
inline constexpr std::string_view kAnsweredByDeadline = "3-answered-by-deadline";
inline constexpr std::string_view kBreakerFollowsRules = "4-breaker-follows-rules";
inline constexpr std::string_view kOneCallPerKey = "5-one-call-per-key";
inline constexpr std::string_view kEventsExactlyOnceInOrder = "6-events-exactly-once-in-order";
inline constexpr std::string_view kDegradedRecheckedAfterOutage = "7-degraded-rechecked-after-outage";

// An answer reached helper `h` (before the world records it).
void OnAnswer(World& w, const Helper& h, const Decision& d, bool surely_cached_deny_at_arrival);
// A portal call is about to start.
void OnPortalCallStart(World& w, const PortalCall& call);
// The portal received an event it had not seen before (or refused one for good).
void OnEventReceived(World& w, const StoredEvent& e);

void CheckAfterStep(World& w);
void CheckAtEnd(World& w);

}  // namespace oa::sim::inv
