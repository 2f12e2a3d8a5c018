// Outbox: session events written locally before they are delivered (shared/DESIGN.md "Session records that are
// never lost"). Append() is what the IPC side calls: it assigns the event's seq and event_id and pushes it on an
// in-memory queue — no disk, no wait — and one writer thread commits what has queued up in groups (a transaction
// per group) to the SQLite store (outbox_store.h). The sender (event_sender.h) reads Pending(), then calls
// Remove() after the portal's success or Park() after a permanent rejection; both are also queue pushes applied
// in the writer's next group.
//
// Bounded: at most `max_events` pending; when full the oldest go first (dropped_full, logged at error).
// Degraded: when the store fails (disk full, read-only, I/O error) events are kept in a bounded memory queue
// (oldest dropped when it is full, dropped_memory) and the store is opened again every `reopen_interval`; a file
// that is not a database or is corrupt is moved aside (<path>.corrupt-<unix time>) and a new one started. Every
// such step is a counter and an error line. Nothing here throws or aborts; Append never blocks on the store.
//
// Thread-safety: every public method from any thread. Append, Remove, Park and stats take one short lock each;
// Pending takes the store's lock (it reads the file: call it from the sender's thread, never from the IPC loop).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "events/outbox_options.h"
#include "events/outbox_store.h"
#include "events/session_event.h"
#include "resilience/clock.h"

namespace oa {

struct OutboxStats {
  std::uint64_t written = 0;          // appended
  std::uint64_t committed = 0;        // written to the store
  std::uint64_t groups = 0;           // transactions that wrote to the store (appends, removals, parks)
  std::uint64_t removed = 0;          // delivered and deleted
  std::uint64_t parked = 0;           // rejected for good by the portal (or undecodable), moved aside in the file
  std::uint64_t dropped_full = 0;     // oldest dropped at max_events
  std::uint64_t dropped_memory = 0;   // dropped from the memory queue while the store was unusable
  std::uint64_t lost_moved_aside = 0; // pending in a corrupt store when it was moved aside
  std::uint64_t store_failures = 0;   // failed opens or writes
  std::uint64_t moved_aside = 0;      // corrupt files moved aside
  std::uint64_t depth = 0;            // pending: stored + in memory
  std::uint64_t memory_depth = 0;     // of which only in memory (queued, or the store is unusable)
  bool store_ok = false;
  Clock::WallTime oldest_written_at{};  // epoch when empty
};

class Outbox {
 public:
  // Opens (or creates) the store and starts the writer. Never fails: a store that cannot be opened is the degraded
  // mode above, reported by stats().store_ok == false.
  Outbox(OutboxOptions options, const Clock& clock);
  ~Outbox();  // Stop()
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Queues `event`; returns its event_id. After Stop, the event is dropped (counted in dropped_memory).
  std::string Append(SessionEvent event);

  // Up to `max` pending events with a seq above `after_seq`, lowest seq first: committed ones, then the memory queue
  // while the store is down. Excludes those already Removed or Parked. The sender reads on from the last seq it has
  // (event_sender.h), so an event is read and copied once, not once per completion.
  std::vector<StoredEvent> Pending(std::size_t max, std::uint64_t after_seq = 0);
  void Remove(std::uint64_t seq);
  void Park(std::uint64_t seq, std::string why);

  // Called on the writer thread after each group that made new events pending (the sender's wake-up). Set it
  // before events are appended; it must not call back into Flush.
  void SetOnPending(std::function<void()> on_pending);

  // Blocks until everything appended, removed or parked before the call has been applied (committed, or kept in
  // memory because the store is down). For tests, benchmarks and shutdown; never on the decision path.
  void Flush();
  // Makes the writer look at the clock now (tests advance a FakeClock past reopen_interval, then Poke).
  void Poke();
  // Applies what is queued, then stops the writer. Idempotent.
  void Stop();

  OutboxStats stats() const;

  // How busy the connect path is, for the sender's holding back (event_sender.h): when the latest Append happened
  // (on the injected clock; the clock's epoch before any) and the highest seq assigned so far (0 before any). Every
  // admitted connect and every disconnect appends. Lock-free.
  Clock::MonoTime last_append() const;
  std::uint64_t last_seq() const { return last_seq_.load(std::memory_order_relaxed); }
  // Counts the opens of a store that already held rows (an earlier run's, or this run's after the store failed and
  // came back): rows below what a reader has already read may be pending again, so a reader that reads on from a
  // seq (the sender) starts over when it changes. Lock-free.
  std::uint64_t reopens() const { return reopens_.load(std::memory_order_relaxed); }

  // Pending events served from memory at most (beyond, Pending reads the file): ~2 MB of typical events.
  static constexpr std::size_t kMirrorMax = 10'000;

 private:
  void Run();
  bool ApplyGroup(std::deque<StoredEvent> inserts, std::vector<std::uint64_t> removes,
                  std::vector<OutboxStore::Parking> parks);
  void OpenStoreLocked();
  void StoreFailedLocked(const absl::Status& s, std::string_view what);
  void EnforceBoundLocked();
  void RefreshGaugesLocked();
  void CheckMirrorLocked();
  void KeepInMemoryLocked(std::deque<StoredEvent> events);
  bool WarnNowLocked(Clock::MonoTime* last);

  const OutboxOptions options_;
  const Clock& clock_;
  const std::uint64_t id_prefix_;  // random per process: event ids stay unique across restarts and agents

  // The queue between the callers and the writer.
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable applied_;
  std::deque<StoredEvent> incoming_;            // guarded by mu_
  std::vector<std::uint64_t> removes_;          // guarded by mu_
  std::vector<OutboxStore::Parking> parks_;     // guarded by mu_
  std::set<std::uint64_t> gone_;                // removed/parked, not yet applied: Pending skips them; by mu_
  std::uint64_t next_seq_ = 1;                  // guarded by mu_
  std::uint64_t requested_ = 0;                 // operations queued so far; guarded by mu_
  std::uint64_t applied_ops_ = 0;               // operations the writer has applied; guarded by mu_
  bool writer_idle_ = false;                    // guarded by mu_: notify only when it waits
  bool poke_ = false;                           // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
  bool writer_done_ = false;                    // guarded by mu_
  bool lingering_ = false;                      // guarded by mu_: holding removals back (Remove does not wake it)
  bool gathering_ = false;                      // guarded by mu_: the group window (Append does not wake it)
  bool flush_now_ = false;                      // guarded by mu_: a Flush waits, no lingering
  std::function<void()> on_pending_;            // set before use

  // The store and what stands in for it while it is down: touched by the writer and Pending.
  mutable std::mutex store_mu_;
  std::unique_ptr<OutboxStore> store_;          // guarded by store_mu_
  std::map<std::uint64_t, StoredEvent> memory_; // guarded by store_mu_
  std::uint64_t stored_count_ = 0;              // rows pending in store_; guarded by store_mu_
  Clock::MonoTime reopen_at_{};                 // guarded by store_mu_
  // The pending rows of store_, in memory, so that Pending (the sender, once per pump) need not read and decode
  // them back: kept while it holds them all (`mirror_complete_`, true from an empty store on), dropped beyond
  // kMirrorMax (a long outage: Pending reads the file again until it is empty). Guarded by store_mu_.
  std::map<std::uint64_t, StoredEvent> mirror_;
  bool mirror_complete_ = false;
  bool opened_once_ = false;  // a store was opened in this process; guarded by store_mu_
  std::vector<std::uint64_t> deferred_removes_;       // for a store that is down; guarded by store_mu_
  std::vector<OutboxStore::Parking> deferred_parks_;  // guarded by store_mu_
  Clock::MonoTime last_full_warning_{};         // guarded by store_mu_
  Clock::MonoTime last_memory_warning_{};       // guarded by store_mu_

  // Counters and gauges (stats()); written with relaxed atomics so that stats() takes no lock of the writer's.
  struct Counters {
    std::atomic<std::uint64_t> written{0}, committed{0}, groups{0}, removed{0}, parked{0}, dropped_full{0},
        dropped_memory{0}, lost_moved_aside{0}, store_failures{0}, moved_aside{0}, stored{0}, in_memory{0};
    std::atomic<bool> store_ok{false};
    std::atomic<std::int64_t> oldest_ns{0};
  };
  Counters c_;
  std::atomic<bool> store_down_{false};  // the writer then also wakes once a second to try the store again
  std::atomic<Clock::MonoTime::rep> last_append_ns_{0};  // last_append(); relaxed
  std::atomic<std::uint64_t> last_seq_{0};               // last_seq(); relaxed
  std::atomic<std::uint64_t> reopens_{0};                // reopens(); relaxed

  std::mutex join_mu_;  // Stop may be called from two threads (owner and destructor)
  std::thread writer_;
};

}  // namespace oa
