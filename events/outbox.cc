#include "events/outbox.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "common/jitter.h"
#include "common/thread_priority.h"

namespace oa {
namespace {

std::string EventIdOf(std::uint64_t prefix, std::uint64_t seq) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64 "-%" PRIx64, prefix, seq);
  return buf;
}

std::int64_t NanosOf(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

constexpr auto kWarnEvery = std::chrono::seconds(10);

}  // namespace

Outbox::Outbox(OutboxOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), id_prefix_(RandomSeed()) {
  {
    std::lock_guard store_lock(store_mu_);
    OpenStoreLocked();
    RefreshGaugesLocked();
  }
  writer_ = std::thread([this] { Run(); });
}

Outbox::~Outbox() { Stop(); }

std::string Outbox::Append(SessionEvent event) {
  StoredEvent e;
  e.written_at = clock_.wall_now();
  e.event = std::move(event);
  last_append_ns_.store(clock_.now().time_since_epoch().count(), std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  if (stopping_) {
    c_.dropped_memory.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  e.seq = next_seq_++;
  last_seq_.store(e.seq, std::memory_order_relaxed);
  e.event_id = EventIdOf(id_prefix_, e.seq);
  std::string id = e.event_id;
  if (incoming_.size() >= options_.max_memory_events) {
    // The writer is stuck (a store that takes seconds per commit): the oldest queued event goes, as at the bound.
    incoming_.pop_front();
    c_.dropped_memory.fetch_add(1, std::memory_order_relaxed);
  }
  incoming_.push_back(std::move(e));
  ++requested_;
  c_.written.fetch_add(1, std::memory_order_relaxed);
  if (writer_idle_ && !gathering_) {
    writer_idle_ = false;
    wake_.notify_one();
  }
  return id;
}

void Outbox::Remove(std::uint64_t seq) {
  std::lock_guard lock(mu_);
  if (stopping_ || !gone_.insert(seq).second) return;
  removes_.push_back(seq);
  ++requested_;
  if (writer_idle_ && !lingering_ && !gathering_) {
    writer_idle_ = false;
    wake_.notify_one();
  }
}

void Outbox::Park(std::uint64_t seq, std::string why) {
  std::lock_guard lock(mu_);
  if (stopping_ || !gone_.insert(seq).second) return;
  parks_.push_back({seq, std::move(why)});
  ++requested_;
  if (writer_idle_) {
    writer_idle_ = false;
    wake_.notify_one();
  }
}

void Outbox::SetOnPending(std::function<void()> on_pending) {
  std::lock_guard lock(mu_);
  on_pending_ = std::move(on_pending);
}

void Outbox::Poke() {
  std::lock_guard lock(mu_);
  poke_ = true;
  ++requested_;
  writer_idle_ = false;
  wake_.notify_one();
}

void Outbox::Flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = requested_;
  flush_now_ = true;
  writer_idle_ = false;
  wake_.notify_one();
  applied_.wait(lock, [&] { return applied_ops_ >= target || writer_done_; });
}

void Outbox::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_one();
  }
  std::lock_guard join_lock(join_mu_);
  if (writer_.joinable()) writer_.join();
}

std::vector<StoredEvent> Outbox::Pending(std::size_t max, std::uint64_t after_seq) {
  std::vector<StoredEvent> out;
  out.reserve(std::min<std::size_t>(max, 1024));
  std::lock_guard store_lock(store_mu_);
  std::size_t skip_hint = 0;
  {
    std::lock_guard lock(mu_);
    skip_hint = gone_.size();
  }
  std::vector<OutboxStore::Parking> undecodable;
  if (store_ && mirror_complete_) {
    std::lock_guard lock(mu_);
    for (auto it = mirror_.upper_bound(after_seq); it != mirror_.end() && out.size() < max; ++it) {
      if (gone_.count(it->first) == 0) out.push_back(it->second);
    }
  } else if (store_) {
    auto page = store_->Read(max + skip_hint, after_seq);
    if (page.ok()) {
      out = std::move(page->events);
      undecodable = std::move(page->undecodable);
    } else {
      c_.store_failures.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("outbox: cannot read pending events from {}: {}", options_.path, page.status().ToString());
    }
  }
  for (auto it = memory_.upper_bound(after_seq); it != memory_.end() && out.size() < max + skip_hint; ++it) {
    out.push_back(it->second);
  }
  std::lock_guard lock(mu_);
  std::erase_if(out, [&](const StoredEvent& e) { return gone_.count(e.seq) > 0; });
  if (out.size() > max) out.resize(max);
  for (auto& u : undecodable) {
    if (!gone_.insert(u.seq).second) continue;
    spdlog::error("outbox: event seq {} in {} cannot be read ({}); parking it", u.seq, options_.path, u.why);
    parks_.push_back({u.seq, "undecodable: " + u.why});
    ++requested_;
    if (writer_idle_) {
      writer_idle_ = false;
      wake_.notify_one();
    }
  }
  return out;
}

Clock::MonoTime Outbox::last_append() const {
  return Clock::MonoTime(Clock::MonoTime::duration(last_append_ns_.load(std::memory_order_relaxed)));
}

OutboxStats Outbox::stats() const {
  OutboxStats s;
  s.written = c_.written.load(std::memory_order_relaxed);
  s.committed = c_.committed.load(std::memory_order_relaxed);
  s.removed = c_.removed.load(std::memory_order_relaxed);
  s.parked = c_.parked.load(std::memory_order_relaxed);
  s.dropped_full = c_.dropped_full.load(std::memory_order_relaxed);
  s.dropped_memory = c_.dropped_memory.load(std::memory_order_relaxed);
  s.lost_moved_aside = c_.lost_moved_aside.load(std::memory_order_relaxed);
  s.store_failures = c_.store_failures.load(std::memory_order_relaxed);
  s.moved_aside = c_.moved_aside.load(std::memory_order_relaxed);
  s.store_ok = c_.store_ok.load(std::memory_order_relaxed);
  s.groups = c_.groups.load(std::memory_order_relaxed);
  s.oldest_written_at = Clock::WallTime(std::chrono::duration_cast<Clock::WallTime::duration>(
      std::chrono::nanoseconds(c_.oldest_ns.load(std::memory_order_relaxed))));
  std::size_t queued = 0;
  {
    std::lock_guard lock(mu_);
    queued = incoming_.size();
    if (s.oldest_written_at == Clock::WallTime{} && !incoming_.empty()) s.oldest_written_at = incoming_.front().written_at;
  }
  s.memory_depth = c_.in_memory.load(std::memory_order_relaxed) + queued;
  s.depth = c_.stored.load(std::memory_order_relaxed) + s.memory_depth;
  return s;
}

// ---- the writer ----

void Outbox::Run() {
  if (options_.writer_nice != 0 && !NiceThisThread(options_.writer_nice)) {
    spdlog::warn("outbox: could not lower the writer thread's priority (nice {}); it keeps the default",
                 options_.writer_nice);
  }
  std::unique_lock lock(mu_);
  std::chrono::steady_clock::time_point group_started{};  // real time, as the group window
  for (;;) {
    bool woke = false;  // from idle: nothing had queued up during a commit, so gather for a moment
    if (incoming_.empty() && removes_.empty() && parks_.empty() && !poke_ && !stopping_) {
      woke = true;
      writer_idle_ = true;
      if (store_down_.load()) {
        // Real time on purpose: this only paces retries; whether one is due is decided by the injected clock.
        wake_.wait_for(lock, std::chrono::seconds(1));
      } else {
        wake_.wait(lock);
      }
      writer_idle_ = false;
    }
    // Only removals queued: hold them back a little so that one transaction serves them and what comes next.
    if (incoming_.empty() && parks_.empty() && !removes_.empty() && !poke_ && !stopping_ && !flush_now_ &&
        options_.removal_linger.count() > 0) {
      writer_idle_ = true;
      lingering_ = true;
      // Real time on purpose, as above: it only groups work, nothing waits on it (Flush and Stop cut it short).
      wake_.wait_for(lock, options_.removal_linger,
                     [&] { return !incoming_.empty() || !parks_.empty() || poke_ || stopping_ || flush_now_; });
      lingering_ = false;
      writer_idle_ = false;
      woke = true;
    }
    // Events queued: gather for group_window, so that one commit and one wake-up of the sender serve them all —
    // after an idle spell from the first event, under a steady stream from the previous group's start. So a group
    // starts at most once per window (on a busy connect path the writer commits ~1 000 times a second, not after
    // every event or two), and an event waits at most the window plus one commit, as documented.
    if (!incoming_.empty() && !poke_ && !stopping_ && !flush_now_ && options_.group_window.count() > 0) {
      const auto until = (woke ? std::chrono::steady_clock::now() : group_started) + options_.group_window;
      if (std::chrono::steady_clock::now() < until) {
        writer_idle_ = true;
        gathering_ = true;
        wake_.wait_until(lock, until, [&] { return poke_ || stopping_ || flush_now_; });
        gathering_ = false;
        writer_idle_ = false;
      }
    }
    group_started = std::chrono::steady_clock::now();
    flush_now_ = false;
    std::deque<StoredEvent> inserts;
    inserts.swap(incoming_);
    std::vector<std::uint64_t> removes;
    removes.swap(removes_);
    std::vector<OutboxStore::Parking> parks;
    parks.swap(parks_);
    poke_ = false;
    const std::uint64_t ops = requested_;
    const bool stop = stopping_;
    auto on_pending = on_pending_;
    lock.unlock();
    const bool new_pending = ApplyGroup(std::move(inserts), std::move(removes), std::move(parks));
    if (new_pending && on_pending) on_pending();
    lock.lock();
    applied_ops_ = ops;
    applied_.notify_all();
    if (stop && incoming_.empty() && removes_.empty() && parks_.empty()) {
      writer_done_ = true;
      applied_.notify_all();
      return;
    }
  }
}

bool Outbox::ApplyGroup(std::deque<StoredEvent> inserts, std::vector<std::uint64_t> removes,
                        std::vector<OutboxStore::Parking> parks) {
  std::lock_guard store_lock(store_mu_);
  const bool had_store = store_ != nullptr;
  if (!store_ && clock_.now() >= reopen_at_) OpenStoreLocked();
  bool new_pending = !inserts.empty() || (!had_store && store_ != nullptr);

  // What targets the memory queue is settled there; the rest goes to the store.
  std::vector<std::uint64_t> applied;  // seqs whose removal or parking is done (or moot)
  for (std::uint64_t seq : removes) {
    if (memory_.erase(seq) > 0) {
      c_.removed.fetch_add(1, std::memory_order_relaxed);
      applied.push_back(seq);
    } else {
      deferred_removes_.push_back(seq);
    }
  }
  for (auto& p : parks) {
    if (auto it = memory_.find(p.seq); it != memory_.end()) {
      spdlog::error("outbox: event {} ({} for user '{}') parked while the store is down, so not kept: {}",
                    it->second.event_id, to_string(it->second.event.kind), it->second.event.username, p.why);
      memory_.erase(it);
      c_.parked.fetch_add(1, std::memory_order_relaxed);
      applied.push_back(p.seq);
    } else {
      deferred_parks_.push_back(std::move(p));
    }
  }

  for (int attempt = 0; attempt < 2 && store_ != nullptr; ++attempt) {
    std::vector<StoredEvent> rows;
    rows.reserve(memory_.size() + inserts.size());
    for (auto& [seq, e] : memory_) rows.push_back(e);
    for (auto& e : inserts) rows.push_back(e);
    auto done = store_->Apply(rows, deferred_removes_, deferred_parks_, options_.max_parked);
    if (done.ok()) {
      c_.groups.fetch_add(1, std::memory_order_relaxed);
      c_.committed.fetch_add(rows.size(), std::memory_order_relaxed);
      c_.removed.fetch_add(deferred_removes_.size(), std::memory_order_relaxed);
      c_.parked.fetch_add(deferred_parks_.size(), std::memory_order_relaxed);
      stored_count_ = stored_count_ + rows.size() - std::min<std::uint64_t>(*done, stored_count_ + rows.size());
      if (mirror_complete_) {
        for (std::uint64_t seq : deferred_removes_) mirror_.erase(seq);
        for (const auto& p : deferred_parks_) mirror_.erase(p.seq);
        for (auto& e : rows) mirror_.emplace(e.seq, std::move(e));
      }
      for (std::uint64_t seq : deferred_removes_) applied.push_back(seq);
      for (const auto& p : deferred_parks_) applied.push_back(p.seq);
      deferred_removes_.clear();
      deferred_parks_.clear();
      memory_.clear();
      inserts.clear();
      EnforceBoundLocked();
      CheckMirrorLocked();
      break;
    }
    StoreFailedLocked(done.status(), "write");
    // A corrupt store was moved aside: what it held is gone, so the removals it was owed are moot.
    if (done.status().code() == absl::StatusCode::kDataLoss) {
      for (std::uint64_t seq : deferred_removes_) applied.push_back(seq);
      for (const auto& p : deferred_parks_) applied.push_back(p.seq);
      deferred_removes_.clear();
      deferred_parks_.clear();
      OpenStoreLocked();  // and the events of this group go to the new one, on the second attempt
    }
  }
  if (!inserts.empty()) KeepInMemoryLocked(std::move(inserts));
  RefreshGaugesLocked();
  std::lock_guard lock(mu_);
  for (std::uint64_t seq : applied) gone_.erase(seq);
  return new_pending;
}

void Outbox::OpenStoreLocked() {
  auto store = OutboxStore::Open(options_.path, options_.durability, options_.test_max_pages);
  if (!store.ok() && store.status().code() == absl::StatusCode::kDataLoss) {
    c_.store_failures.fetch_add(1, std::memory_order_relaxed);
    auto aside = MoveStoreAside(options_.path, "corrupt", clock_.wall_now());
    if (aside.ok()) {
      c_.moved_aside.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("outbox: {} is not a usable database ({}); moved it aside to {} and starting a new one",
                    options_.path, std::string(store.status().message()), *aside);
      store = OutboxStore::Open(options_.path, options_.durability, options_.test_max_pages);
    } else {
      spdlog::error("outbox: {} is not a usable database ({}), and {}", options_.path, std::string(store.status().message()),
                    std::string(aside.status().message()));
    }
  }
  std::uint64_t count = 0, max_seq = 0;
  if (store.ok()) {
    auto n = (*store)->Count();
    auto m = (*store)->MaxSeq();
    if (!n.ok() || !m.ok()) {
      store = !n.ok() ? n.status() : m.status();
    } else {
      count = *n;
      max_seq = *m;
    }
  }
  if (!store.ok()) {
    c_.store_failures.fetch_add(1, std::memory_order_relaxed);
    if (!opened_once_) {
      // The file may hold an earlier run's rows, numbered from 1, that cannot be read now: number the events kept
      // in memory meanwhile from the wall clock's microseconds instead, above those rows (and above an earlier
      // run's numbered so), so that they can join them in the file, after them, once it opens.
      const auto micros =
          std::chrono::duration_cast<std::chrono::microseconds>(clock_.wall_now().time_since_epoch()).count();
      std::lock_guard lock(mu_);
      next_seq_ = std::max<std::uint64_t>(next_seq_, static_cast<std::uint64_t>(std::max<std::int64_t>(micros, 1)));
    }
    reopen_at_ = clock_.now() + options_.reopen_interval;
    store_down_.store(true);
    c_.store_ok.store(false, std::memory_order_relaxed);
    spdlog::error("outbox: cannot open {}: {}; keeping session events in memory (at most {}) and trying again in {} s",
                  options_.path, store.status().ToString(), options_.max_memory_events,
                  std::chrono::duration_cast<std::chrono::seconds>(options_.reopen_interval).count());
    return;
  }
  store_ = *std::move(store);
  opened_once_ = true;
  stored_count_ = count;
  mirror_.clear();
  mirror_complete_ = count == 0;  // rows from before (another run, a reopen) are read from the file
  if (count > 0) reopens_.fetch_add(1, std::memory_order_relaxed);  // ... from the start: reopens()
  store_down_.store(false);
  c_.store_ok.store(true, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    next_seq_ = std::max(next_seq_, max_seq + 1);
    last_seq_.store(next_seq_ - 1, std::memory_order_relaxed);  // rows of an earlier run count as appended
  }
  spdlog::info("outbox: {} open ({} durability), {} event(s) pending", options_.path,
               options_.durability == OutboxDurability::kPower ? "power" : "process", count);
}

void Outbox::StoreFailedLocked(const absl::Status& s, std::string_view what) {
  c_.store_failures.fetch_add(1, std::memory_order_relaxed);
  store_.reset();
  mirror_.clear();
  mirror_complete_ = false;
  store_down_.store(true);
  c_.store_ok.store(false, std::memory_order_relaxed);
  if (s.code() == absl::StatusCode::kDataLoss) {
    auto aside = MoveStoreAside(options_.path, "corrupt", clock_.wall_now());
    c_.lost_moved_aside.fetch_add(stored_count_, std::memory_order_relaxed);
    if (aside.ok()) c_.moved_aside.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("outbox: {} became corrupt on {} ({}); {} pending event(s) in it are not delivered; {}",
                  options_.path, what, std::string(s.message()), stored_count_,
                  aside.ok() ? "moved it aside to " + *aside : std::string(std::string(aside.status().message())));
    stored_count_ = 0;
    reopen_at_ = clock_.now();
    return;
  }
  // Disk full, read-only, I/O error: the file may well be fine; try it again later, keep new events in memory.
  reopen_at_ = clock_.now() + options_.reopen_interval;
  stored_count_ = 0;  // not readable until it is open again (the rows are still in the file)
  spdlog::error("outbox: {} of {} failed: {}; keeping session events in memory (at most {}) and trying again in {} s",
                what, options_.path, s.ToString(), options_.max_memory_events,
                std::chrono::duration_cast<std::chrono::seconds>(options_.reopen_interval).count());
}

void Outbox::EnforceBoundLocked() {
  if (stored_count_ <= options_.max_events) return;
  auto dropped = store_->DeleteOldest(stored_count_ - options_.max_events);
  if (!dropped.ok()) {
    spdlog::error("outbox: cannot drop the oldest events of {} at its bound: {}", options_.path,
                  dropped.status().ToString());
    return;
  }
  stored_count_ -= std::min(*dropped, stored_count_);
  if (mirror_complete_) {  // the oldest rows of the file are the first of the mirror
    for (std::uint64_t i = 0; i < *dropped && !mirror_.empty(); ++i) mirror_.erase(mirror_.begin());
  }
  const auto total = c_.dropped_full.fetch_add(*dropped, std::memory_order_relaxed) + *dropped;
  if (WarnNowLocked(&last_full_warning_)) {
    spdlog::error("outbox: full (events.max_outbox_events: {}); dropped the {} oldest undelivered session event(s), "
                  "{} so far",
                  options_.max_events, *dropped, total);
  }
}

void Outbox::KeepInMemoryLocked(std::deque<StoredEvent> events) {
  std::uint64_t dropped = 0;
  for (auto& e : events) {
    const std::uint64_t seq = e.seq;
    memory_.emplace(seq, std::move(e));
  }
  while (memory_.size() > options_.max_memory_events) {
    memory_.erase(memory_.begin());
    ++dropped;
  }
  if (dropped == 0) return;
  const auto total = c_.dropped_memory.fetch_add(dropped, std::memory_order_relaxed) + dropped;
  if (WarnNowLocked(&last_memory_warning_)) {
    spdlog::error("outbox: store down and the memory queue is full ({} events); dropped the {} oldest, {} so far",
                  options_.max_memory_events, dropped, total);
  }
}

void Outbox::RefreshGaugesLocked() {
  c_.stored.store(stored_count_, std::memory_order_relaxed);
  c_.in_memory.store(memory_.size(), std::memory_order_relaxed);
  Clock::WallTime oldest{};
  if (store_ && mirror_complete_) {
    if (!mirror_.empty()) oldest = mirror_.begin()->second.written_at;
  } else if (store_ && stored_count_ > 0) {
    if (auto t = store_->OldestWrittenAt(); t.ok()) oldest = *t;
  }
  if (oldest == Clock::WallTime{} && !memory_.empty()) oldest = memory_.begin()->second.written_at;
  c_.oldest_ns.store(NanosOf(oldest), std::memory_order_relaxed);
}

void Outbox::CheckMirrorLocked() {
  if (mirror_complete_ && mirror_.size() != stored_count_) {
    // Cannot happen unless the bookkeeping above is wrong: fall back to reading the file, which is the truth.
    spdlog::error("outbox: in-memory copy of {} holds {} event(s), the file {}; reading the file from now on",
                  options_.path, mirror_.size(), stored_count_);
    mirror_complete_ = false;
  }
  if (!mirror_complete_ && mirror_.size() > 0) mirror_.clear();
  if (mirror_complete_ && mirror_.size() > kMirrorMax) {  // a long outage: stop copying, read the file instead
    mirror_.clear();
    mirror_complete_ = false;
  }
  if (!mirror_complete_ && stored_count_ == 0) mirror_complete_ = true;  // empty again: the copy is whole
}

bool Outbox::WarnNowLocked(Clock::MonoTime* last) {
  const auto now = clock_.now();
  if (*last != Clock::MonoTime{} && now - *last < kWarnEvery) return false;
  *last = now;
  return true;
}

}  // namespace oa
