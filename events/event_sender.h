// EventSender: delivers the outbox (outbox.h) to the portal in the background — in order, at most
// `max_in_flight` at a time and never two of one session at once (so a session's connect reaches the portal before
// its disconnect), each with its stable event_id. An event is removed from the outbox only after the portal's
// success; one the portal refuses for good is parked (counter + error line) so that it does not block the rest;
// anything else means "not now": the sender stops sending and tries again after a jittered exponential backoff.
// The portal's failures here never reach the decision path's circuit breaker: the sender has its own calls and
// state.
//
// Decisions first (issue 12): delivery can wait seconds, a decision cannot, and on a small machine each delivery (an
// RPC, the portal answering it) takes CPU from the next decision. With `max_delay` > 0 the sender holds new events
// back while connects keep coming (an event appended less than `quiet` ago) and releases them in one burst — as soon
// as the connect path has been quiet for `quiet`, when the first held event has waited `max_delay`, or when
// `max_held` events are pending — sending, in the usual order and pipelined, those appended before the burst began;
// those appended during it wait for the next burst (counted from the burst's start, so still at most `max_delay`).
// Holding back changes only when a send starts: the events are in the outbox either way, and a backoff, an earlier
// run's events or a long backlog are sent as before.
//
// Time and I/O come through seams (resilience/clock.h Clock, common/scheduler.h Scheduler,
// event_delivery.h EventDelivery), and nothing in it sleeps: tests drive it with a FakeClock, a manual scheduler
// and a fake delivery.
//
// Thread-safety: every public method from any thread. Work runs on the scheduler's thread (it reads the outbox:
// give it a scheduler of its own in production, not the decision path's deadline timer); completions may come on
// any thread. Lifetime: shut the EventDelivery down (its completions all run) before destroying the sender.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/scheduler.h"
#include "events/delivery_policy.h"
#include "events/event_delivery.h"
#include "events/outbox.h"
#include "resilience/clock.h"

namespace oa {

struct EventSenderOptions {
  std::size_t max_in_flight = 32;
  RetryBackoffOptions backoff;
  std::uint64_t seed = 0;  // backoff jitter; 0 = random
  // Holding back (above): 0 = send at once. The daemon sets it from events.max_delivery_delay.
  std::chrono::milliseconds max_delay{0};
  std::chrono::milliseconds quiet{5};
  // A burst is served from the outbox's in-memory copy of its pending rows (Outbox::kMirrorMax) rather than re-read
  // from the file: release before that copy could overflow.
  std::uint64_t max_held = Outbox::kMirrorMax / 2;
};

enum class SenderState : std::uint8_t {
  kIdle,        // nothing to send
  kSending,     // deliveries in flight
  kBackingOff,  // the portal is not taking events: waiting before trying again
  kStopped,
};
std::string_view to_string(SenderState state);

struct EventSenderStats {
  std::uint64_t attempts = 0;   // deliveries started (a retried event counts each time)
  std::uint64_t read = 0;       // events read from the outbox: each once (a retried one is kept, not read again)
  std::uint64_t sent = 0;       // delivered and removed
  std::uint64_t retried = 0;    // deliveries that ended "not now" (the event stays)
  std::uint64_t parked = 0;     // refused for good by the portal
  std::uint64_t in_flight = 0;
  std::uint64_t backoffs = 0;   // times the sender started waiting
  std::uint64_t malformed_replies = 0;  // of `retried`: OK replies that could not be believed (EventDelivery)
  // Bursts of held-back events, by what released them: the connect path fell quiet, the first held event had waited
  // max_delay (connects kept coming), max_held were pending.
  std::uint64_t released_quiet = 0;
  std::uint64_t released_max_delay = 0;
  std::uint64_t released_max_held = 0;
  SenderState state = SenderState::kIdle;
  std::chrono::milliseconds current_backoff{0};
};

class EventSender {
 public:
  // Every reference must outlive the sender.
  EventSender(Outbox& outbox, EventDelivery& delivery, Scheduler& scheduler, const Clock& clock,
              EventSenderOptions options = {});

  // Subscribes to the outbox's commits and looks for pending events (those left from an earlier run too).
  void Start();
  // Looks for pending events soon (on the scheduler's thread). Cheap; repeated calls coalesce.
  void Kick();
  // Starts nothing more. Deliveries in flight still complete (and remove what they delivered).
  void Stop();

  EventSenderStats stats() const;

 private:
  void Pump();
  void OnDone(const std::shared_ptr<const StoredEvent>& event, const absl::Status& status);
  void ScheduleLocked(Clock::MonoTime when);
  bool HoldLocked(Clock::MonoTime now);
  std::uint64_t HeldLocked() const;
  void EndBurstLocked(Clock::MonoTime now);

  Outbox& outbox_;
  EventDelivery& delivery_;
  Scheduler& scheduler_;
  const Clock& clock_;
  const EventSenderOptions options_;

  mutable std::mutex mu_;
  RetryBackoff backoff_;                          // guarded by mu_
  std::map<std::uint64_t, std::string> in_flight_;  // seq -> session_id; guarded by mu_
  // Read from the outbox but not started (a retried event comes back here), in seq order; the next read starts after
  // read_through_, the highest seq read so far. Guarded by mu_.
  std::deque<StoredEvent> ready_;
  std::uint64_t read_through_ = 0;
  std::uint64_t reopens_seen_ = 0;  // Outbox::reopens() when read_through_ was last reset; guarded by mu_
  bool pump_scheduled_ = false;                   // guarded by mu_
  bool stopped_ = false;                          // guarded by mu_
  // The last pump left pending events unsent (slots full, or held behind their session's event in flight): a
  // completion pumps again. Otherwise nothing waits but what is in flight, and new events Kick. Guarded by mu_.
  bool left_behind_ = false;
  // Holding back (max_delay > 0), guarded by mu_: while `bursting_`, events up to seq `burst_through_` are sent;
  // otherwise new events wait, the first of them since `held_since_` (unset: none waits).
  bool bursting_ = false;
  bool holding_ = false;  // the scheduled pump is the end of a hold
  std::uint64_t burst_through_ = 0;
  Clock::MonoTime burst_started_{};
  std::optional<Clock::MonoTime> held_since_;
  Clock::MonoTime retry_at_{};                    // no sends before; guarded by mu_
  std::chrono::milliseconds current_backoff_{0};  // guarded by mu_
  EventSenderStats counters_;                     // guarded by mu_ (state and in_flight are derived)
};

}  // namespace oa
