#include "events/event_sender.h"

#include <algorithm>
#include <limits>
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
      backoff_(options.backoff, options.seed) {}

void EventSender::Start() {
  outbox_.SetOnPending([this] { Kick(); });
  Kick();
}

void EventSender::Kick() {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  // Holding back, a pump waits for the quiet or the deadline: only a backlog of max_held brings it forward (a
  // second pump; the first then finds the burst under way).
  if (pump_scheduled_ && !(holding_ && HeldLocked() >= options_.max_held)) return;
  holding_ = false;
  ScheduleLocked(clock_.now());
}

// Events appended since the last burst began (or ever): all of them wait. Lock-free reads only.
std::uint64_t EventSender::HeldLocked() const { return outbox_.last_seq() - burst_through_; }

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
  std::size_t want = 0;        // to read from the outbox, after read_through_
  std::uint64_t after = 0;
  std::uint64_t through = std::numeric_limits<std::uint64_t>::max();  // holding back: this burst's last seq
  {
    std::lock_guard lock(mu_);
    pump_scheduled_ = false;
    holding_ = false;
    if (stopped_) return;
    const auto now = clock_.now();
    if (now < retry_at_) {
      ScheduleLocked(retry_at_);  // a Kick during the backoff: come back when it ends
      return;
    }
    const std::size_t busy = in_flight_.size();
    if (busy >= options_.max_in_flight) {
      left_behind_ = true;  // a completion pumps again
      return;
    }
    slots = options_.max_in_flight - busy;
    if (options_.max_delay.count() > 0) {
      if (!bursting_ && HoldLocked(now)) return;
      through = burst_through_;
    }
    // The store came back with rows that may lie below what was read (events kept in memory meanwhile were read on
    // past them): read again from the start; what is in flight is skipped below.
    if (const std::uint64_t reopens = outbox_.reopens(); reopens != reopens_seen_) {
      reopens_seen_ = reopens;
      ready_.clear();
      read_through_ = 0;
    }
    // Read on only when what is already read cannot fill the free slots: each event is read (and copied) once, not
    // once per completion. Some may wait behind an earlier event of their session, hence the margin.
    if (ready_.size() < options_.max_in_flight) {
      want = 2 * options_.max_in_flight + 16 - ready_.size();
      after = read_through_;
    }
  }
  // Outside the lock: this reads the store.
  std::vector<StoredEvent> read;
  if (want > 0) read = outbox_.Pending(want, after);
  std::vector<std::shared_ptr<const StoredEvent>> to_send;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    // Only this thread reads on, so read_through_ is still `after`; events are never added behind it (new ones get
    // higher seqs; a retried one goes back into ready_ from OnDone).
    if (want > 0) {
      counters_.read += read.size();
      for (auto& e : read) {
        read_through_ = std::max(read_through_, e.seq);
        if (in_flight_.count(e.seq) == 0) ready_.push_back(std::move(e));  // in flight: only after a start-over
      }
    }
    std::set<std::string> sessions_busy;
    for (const auto& [seq, session] : in_flight_) sessions_busy.insert(session);
    // Events of this burst (or any, not holding back) that may not be read yet: a completion pumps again to read
    // them. A read that came back short saw every committed event (those committed later Kick); without a read, any
    // seq assigned beyond what was read may be one.
    bool left = want > 0 ? read.size() >= want && read_through_ < through
                         : read_through_ < std::min(through, outbox_.last_seq());
    for (auto it = ready_.begin(); it != ready_.end();) {
      if (it->seq > through) break;  // appended after this burst began: the next burst's
      // An earlier event of this session is in flight (or was just passed over): this one waits its turn.
      if (to_send.size() >= slots || !sessions_busy.insert(it->event.session_id).second) {
        left = true;
        ++it;
        continue;
      }
      in_flight_.emplace(it->seq, it->event.session_id);
      to_send.push_back(std::make_shared<const StoredEvent>(std::move(*it)));
      it = ready_.erase(it);
    }
    left_behind_ = left;
    counters_.attempts += to_send.size();
    if (bursting_ && to_send.empty() && in_flight_.empty() && !left) EndBurstLocked(clock_.now());
  }
  for (auto& e : to_send) {
    const StoredEvent& event = *e;
    delivery_.Deliver(event, [this, e = std::move(e)](absl::Status s) { OnDone(e, s); });
  }
}

void EventSender::OnDone(const std::shared_ptr<const StoredEvent>& event, const absl::Status& status) {
  const std::uint64_t seq = event->seq;
  const std::string& event_id = event->event_id;
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
      // Still pending: back among those read, in seq order, so that it goes again first (and before its session's
      // later events, which waited behind it).
      ready_.insert(std::lower_bound(ready_.begin(), ready_.end(), seq,
                                     [](const StoredEvent& e, std::uint64_t s) { return e.seq < s; }),
                    *event);
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
  if (verdict == DeliveryVerdict::kRetry) left_behind_ = true;  // it is still pending
  if (stopped_) return;
  if (bursting_ && in_flight_.empty() && !left_behind_) EndBurstLocked(now);
  if (now < retry_at_) {
    if (!pump_scheduled_) ScheduleLocked(retry_at_);
  } else if (!pump_scheduled_ && (left_behind_ || verdict == DeliveryVerdict::kRetry)) {
    ScheduleLocked(now);  // else nothing is pending beyond what is in flight: a pump would read for nothing
  }
}

// Whether new events wait (then a pump is scheduled for when they may go); false: a burst begins now.
bool EventSender::HoldLocked(Clock::MonoTime now) {
  if (outbox_.stats().depth == 0) {  // nothing waits; the next commit kicks
    held_since_.reset();
    return true;
  }
  if (!held_since_) held_since_ = now;
  const auto due = *held_since_ + options_.max_delay;
  const auto quiet_at = outbox_.last_append() + options_.quiet;
  if (now >= quiet_at) {
    ++counters_.released_quiet;
  } else if (now >= due) {
    ++counters_.released_max_delay;
  } else if (HeldLocked() >= options_.max_held) {
    ++counters_.released_max_held;
  } else {
    ScheduleLocked(std::min(due, quiet_at));  // Kicks meanwhile coalesce into this pump
    holding_ = true;
    return true;
  }
  bursting_ = true;
  burst_through_ = outbox_.last_seq();
  burst_started_ = now;
  held_since_.reset();
  return false;
}

// Everything up to burst_through_ is delivered (or parked): what came during the burst is held from its start on.
void EventSender::EndBurstLocked(Clock::MonoTime now) {
  bursting_ = false;
  if (outbox_.last_seq() > burst_through_) {
    held_since_ = burst_started_;
    if (!pump_scheduled_) ScheduleLocked(now);
  } else {
    held_since_.reset();
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
