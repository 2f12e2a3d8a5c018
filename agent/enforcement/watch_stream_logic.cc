#include "agent/enforcement/watch_stream_logic.h"

#include <algorithm>

namespace oa {

WatchStreamLogic::WatchStreamLogic(WatchTimings timings, ReconnectBackoff::JitterSource jitter)
    : timings_(timings), backoff_(timings.backoff, std::move(jitter)) {}

void WatchStreamLogic::OnOpen(Clock::MonoTime now) {
  ++counters_.streams_opened;
  state_ = StreamState::kConnecting;
  got_event_on_this_stream_ = false;
  watchdog_fired_ = false;
  watchdog_deadline_ = now + timings_.first_heartbeat_wait;
}

EventDisposition WatchStreamLogic::OnEvent(Clock::MonoTime now, const PolicyEvent& event) {
  if (event.kind == PolicyEventKind::kHeartbeat) {
    const std::uint32_t s = std::clamp<std::uint32_t>(event.heartbeat_interval_s, 1,
                                                      std::max<std::uint32_t>(timings_.max_heartbeat_interval_s, 1));
    heartbeat_interval_ = Millis(std::int64_t{s} * 1000);
  }
  if (!got_event_on_this_stream_) {
    got_event_on_this_stream_ = true;
    state_ = StreamState::kStreaming;
    // The portal is serving us: the next failure starts from the short delay — unless the last stream ended on an
    // unparsable message and nothing has advanced since (OnUnparsable).
    if (!unparsable_since_progress_) backoff_.Reset();
  }
  // Any event is a sign of life; until the portal announced its interval, the first wait applies again.
  watchdog_deadline_ = now + (heartbeat_interval_.count() > 0 ? 3 * heartbeat_interval_ : timings_.first_heartbeat_wait);

  if (event.kind == PolicyEventKind::kHeartbeat) {
    ++counters_.heartbeats;
    return EventDisposition::kHeartbeat;
  }
  if (event.version <= last_applied_) {
    ++counters_.stale;
    return EventDisposition::kStale;
  }
  last_applied_ = event.version;
  unparsable_since_progress_ = false;
  if (event.kind == PolicyEventKind::kUnknown) {
    ++counters_.unknown;
    return EventDisposition::kUnknown;
  }
  if (!event.invalid.empty()) {
    ++counters_.invalid;
    return EventDisposition::kInvalid;
  }
  ++counters_.applied;
  return EventDisposition::kApply;
}

bool WatchStreamLogic::CheckWatchdog(Clock::MonoTime now) {
  if (state_ != StreamState::kConnecting && state_ != StreamState::kStreaming) return false;
  if (watchdog_fired_ || now < watchdog_deadline_) return false;
  watchdog_fired_ = true;
  ++counters_.watchdog_expired;
  return true;
}

WatchStreamLogic::Retry WatchStreamLogic::OnClosed(Clock::MonoTime now, const absl::Status& status) {
  Retry r;
  ++counters_.reconnects;
  if (status.code() == absl::StatusCode::kUnimplemented) {
    ++counters_.unimplemented;
    state_ = StreamState::kUnimplemented;
    r.first_unimplemented = !unimplemented_logged_;
    unimplemented_logged_ = true;
    r.delay = timings_.unimplemented_retry;
  } else {
    state_ = StreamState::kBackoff;
    r.delay = backoff_.Next();
  }
  r.at = now + r.delay;
  return r;
}

}  // namespace oa
