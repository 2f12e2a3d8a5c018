#include "events/event_sender.h"

#include <random>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

namespace oa {

std::string_view to_string(SenderState state) {
  switch (state) {
    case SenderState::kIdle: return "idle";
    case SenderState::kSending: return "sending";
    case SenderState::kBackingOff: return "backing_off";
    case SenderState::kStopped: return "stopped";
  }
  return "unknown";
}

EventSender::EventSender(Outbox& outbox, EventDelivery& delivery, Scheduler& scheduler, const Clock& clock,
                         EventSenderOptions options)
    : outbox_(outbox),
      delivery_(delivery),
      scheduler_(scheduler),
      clock_(clock),
      options_(options),
      backoff_(options.backoff, options.seed != 0 ? options.seed : std::random_device{}()) {}

void EventSender::Start() {
  outbox_.SetOnPending([this] { Kick(); });
  Kick();
}

void EventSender::Kick() {
  std::lock_guard lock(mu_);
  if (stopped_ || pump_scheduled_) return;
  ScheduleLocked(clock_.now());
}

void EventSender::ScheduleLocked(Clock::MonoTime when) {
  pump_scheduled_ = true;
  scheduler_.RunAt(when, [this] { Pump(); });
}

void EventSender::Stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
}

void EventSender::Pump() {
  std::size_t slots = 0;
  std::size_t busy = 0;
  {
    std::lock_guard lock(mu_);
    pump_scheduled_ = false;
    if (stopped_) return;
    const auto now = clock_.now();
    if (now < retry_at_) {
      ScheduleLocked(retry_at_);  // a Kick during the backoff: come back when it ends
      return;
    }
    busy = in_flight_.size();
    if (busy >= options_.max_in_flight) {
      left_behind_ = true;  // a completion pumps again
      return;
    }
    slots = options_.max_in_flight - busy;
  }
  // Outside the lock: this reads the store. In flight events are still pending, hence `busy` more; some may be
  // held behind an earlier event of their session, hence the margin.
  const std::size_t asked = busy + 2 * slots + 16;
  std::vector<StoredEvent> pending = outbox_.Pending(asked);
  std::vector<StoredEvent> to_send;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    std::set<std::string> sessions_busy;
    for (const auto& [seq, session] : in_flight_) sessions_busy.insert(session);
    bool left = pending.size() >= asked;  // maybe more than it read
    for (auto& e : pending) {
      if (in_flight_.count(e.seq) > 0) continue;
      // An earlier event of this session is in flight (or was just passed over): this one waits its turn.
      if (to_send.size() >= slots || !sessions_busy.insert(e.event.session_id).second) {
        left = true;
        continue;
      }
      in_flight_.emplace(e.seq, e.event.session_id);
      to_send.push_back(std::move(e));
    }
    left_behind_ = left;
    counters_.attempts += to_send.size();
  }
  for (const auto& e : to_send) {
    delivery_.Deliver(e, [this, seq = e.seq, id = e.event_id](absl::Status s) { OnDone(seq, id, s); });
  }
}

void EventSender::OnDone(std::uint64_t seq, const std::string& event_id, const absl::Status& status) {
  const DeliveryVerdict verdict = ClassifyDelivery(status.code());
  std::lock_guard lock(mu_);
  in_flight_.erase(seq);
  const auto now = clock_.now();
  switch (verdict) {
    case DeliveryVerdict::kDelivered:
      outbox_.Remove(seq);
      ++counters_.sent;
      if (backoff_.failures() > 0) {
        spdlog::info("events: the portal takes session events again (after {} failed attempt(s))",
                     backoff_.failures());
      }
      backoff_.Reset();
      current_backoff_ = std::chrono::milliseconds(0);
      break;
    case DeliveryVerdict::kPark:
      outbox_.Park(seq, status.ToString());
      ++counters_.parked;
      spdlog::error("events: the portal refused session event {} for good ({}); parked it in the outbox file",
                    event_id, status.ToString());
      break;
    case DeliveryVerdict::kRetry:
      ++counters_.retried;
      // One outage fails every delivery in flight: back off once for all of them, not once each.
      if (now >= retry_at_) {
        current_backoff_ = backoff_.Next();
        retry_at_ = now + current_backoff_;
        ++counters_.backoffs;
        // The first failure of an outage is a warning; then one line each time the wait reaches a new length.
        if (backoff_.failures() == 1 || current_backoff_ < options_.backoff.max) {
          spdlog::warn("events: delivering session event {} failed ({}); retrying in {} ms", event_id,
                       status.ToString(), current_backoff_.count());
        }
      }
      break;
  }
  if (stopped_) return;
  if (now < retry_at_) {
    if (!pump_scheduled_) ScheduleLocked(retry_at_);
  } else if (!pump_scheduled_ && (left_behind_ || verdict == DeliveryVerdict::kRetry)) {
    ScheduleLocked(now);  // else nothing is pending beyond what is in flight: a pump would read for nothing
  }
}

EventSenderStats EventSender::stats() const {
  std::lock_guard lock(mu_);
  EventSenderStats s = counters_;
  s.in_flight = in_flight_.size();
  s.current_backoff = current_backoff_;
  s.malformed_replies = delivery_.malformed_replies();
  if (stopped_) {
    s.state = SenderState::kStopped;
  } else if (clock_.now() < retry_at_) {
    s.state = SenderState::kBackingOff;
  } else if (!in_flight_.empty()) {
    s.state = SenderState::kSending;
  } else {
    s.state = SenderState::kIdle;
  }
  return s;
}

}  // namespace oa
