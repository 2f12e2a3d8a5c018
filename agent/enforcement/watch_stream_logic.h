// WatchStreamLogic: the policy stream's decisions with time as input, and no gRPC (shared/DESIGN.md "Live
// enforcement") — so that unit tests with a FakeClock, and later a deterministic simulation, drive it directly.
// The gRPC client (watch_client.h) owns one, feeds it what happens and does what it says.
//
//   - Ordering: events are applied strictly in version order. A version <= the last applied one is a duplicate or
//     went backwards: ignored and counted. Heartbeats carry version 0 and advance nothing. A reconnect resumes with
//     after_version = last applied version.
//   - Watchdog: after every event the next must come within 3 x the heartbeat interval (the last Heartbeat's, or
//     `first_heartbeat_wait` / 3 until one arrives); past that the stream is dead and the client cancels it.
//   - Garbage: a message that does not parse as a PolicyEvent is counted as invalid and ends the stream (the client
//     cancels it); the reconnect resumes after the last applied version, so the portal sends what followed again.
//   - Reconnect: an ended stream is retried after ReconnectBackoff's delay (reset once a stream delivered a
//     heartbeat). UNIMPLEMENTED (a portal without PolicyWatch) is retried only every `unimplemented_retry`, and
//     reported once (first_unimplemented) so that the client logs it once.
//
// Thread-safety: none; the client serialises calls under its own lock.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "agent/enforcement/policy_event.h"
#include "agent/enforcement/reconnect_backoff.h"
#include "resilience/clock.h"

namespace oa {

// One gauge per state in the metrics.
enum class StreamState : std::uint8_t { kDisabled, kConnecting, kStreaming, kBackoff, kUnimplemented };
inline constexpr std::array<StreamState, 5> kAllStreamStates = {StreamState::kDisabled, StreamState::kConnecting,
                                                               StreamState::kStreaming, StreamState::kBackoff,
                                                               StreamState::kUnimplemented};

constexpr std::string_view to_string(StreamState s) {
  switch (s) {
    case StreamState::kDisabled: return "disabled";
    case StreamState::kConnecting: return "connecting";
    case StreamState::kStreaming: return "streaming";
    case StreamState::kBackoff: return "backoff";
    case StreamState::kUnimplemented: return "unimplemented";
  }
  return "unknown";
}

struct WatchTimings {
  BackoffOptions backoff;
  Millis first_heartbeat_wait{30'000};   // a new stream must deliver its first event within this
  Millis unimplemented_retry{600'000};   // how often to try again a portal that answered UNIMPLEMENTED
  std::uint32_t max_heartbeat_interval_s = 3600;  // a larger announced interval is capped (the watchdog stays live)
};

// What to do with one received event.
enum class EventDisposition : std::uint8_t {
  kApply,      // new version: apply it now (last_applied already advanced)
  kHeartbeat,  // liveness only
  kStale,      // version <= last applied: duplicate or going backwards, ignored
  kUnknown,    // an event kind this agent does not know: skipped (its version still counts as delivered)
  kInvalid,    // malformed (e.g. no subject): not applied, logged (its version still counts as delivered)
};

struct WatchStreamCounters {
  std::uint64_t streams_opened = 0;
  std::uint64_t reconnects = 0;        // streams that ended and were scheduled again
  std::uint64_t watchdog_expired = 0;
  std::uint64_t unimplemented = 0;
  std::uint64_t applied = 0, heartbeats = 0, stale = 0, unknown = 0;
  std::uint64_t invalid = 0;  // malformed: an event with bad content (skipped) or a message that is no PolicyEvent
};

class WatchStreamLogic {
 public:
  WatchStreamLogic(WatchTimings timings, ReconnectBackoff::JitterSource jitter);

  // Resume point for the next WatchRequest.
  std::uint64_t after_version() const { return last_applied_; }
  StreamState state() const { return state_; }

  // A new stream was started at `now`.
  void OnOpen(Clock::MonoTime now);
  // One event received at `now`.
  EventDisposition OnEvent(Clock::MonoTime now, const PolicyEvent& event);
  // A received message that is not a PolicyEvent at all: counted as invalid. It has no version to skip it by (it may
  // have been a Revoke), so the client ends the stream and resumes after the last applied version (OnClosed follows).
  // Until an event advances the version, the next streams do not reset the backoff: a portal that re-sends the same
  // unparsable message after every Heartbeat gets a growing delay, not a reconnect every 100 ms.
  void OnUnparsable() {
    ++counters_.invalid;
    unparsable_since_progress_ = true;
  }
  // The last stream this client ended was ended for an unparsable message, and no version has advanced since.
  bool unparsable_since_progress() const { return unparsable_since_progress_; }
  // The watchdog's limit: no event by then means a dead stream.
  Clock::MonoTime watchdog_deadline() const { return watchdog_deadline_; }
  // True (once per stream) when the stream is open and `now` is past the watchdog deadline: cancel it.
  bool CheckWatchdog(Clock::MonoTime now);

  struct Retry {
    Clock::MonoTime at;
    Millis delay{0};
    bool first_unimplemented = false;  // log "portal does not serve PolicyWatch" once
  };
  // The stream ended with `status` at `now`: when to open the next.
  Retry OnClosed(Clock::MonoTime now, const absl::Status& status);

  void Disable() { state_ = StreamState::kDisabled; }
  const WatchStreamCounters& counters() const { return counters_; }
  Millis heartbeat_interval() const { return heartbeat_interval_; }

 private:
  WatchTimings timings_;
  ReconnectBackoff backoff_;
  StreamState state_ = StreamState::kConnecting;
  std::uint64_t last_applied_ = 0;
  bool unparsable_since_progress_ = false;
  Millis heartbeat_interval_{0};  // 0 until the portal announces one
  Clock::MonoTime watchdog_deadline_{};
  bool got_event_on_this_stream_ = false;
  bool watchdog_fired_ = false;
  bool unimplemented_logged_ = false;
  WatchStreamCounters counters_;
};

}  // namespace oa
