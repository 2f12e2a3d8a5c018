// OutboxStore: the SQLite file under the outbox (WAL mode) — one table of pending events in delivery order, one of
// events parked because the portal rejected them for good. Thin on purpose: the Outbox (outbox.h) decides what to
// do when the file fails; this only says how it failed:
//   DataLoss           the file is not a database, or is corrupt (quick_check at open, or SQLITE_CORRUPT later):
//                      move it aside (MoveStoreAside) and start a new one;
//   ResourceExhausted  the disk is full;
//   PermissionDenied   read-only file or directory;
//   Unavailable/Internal anything else (I/O error, locked).
//
// Thread-safety: none; the Outbox serialises every call.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "events/outbox_options.h"
#include "events/session_event.h"

struct sqlite3;
struct sqlite3_stmt;

namespace oa {

class OutboxStore {
 public:
  // `max_pages` > 0 caps the file (SQLITE_FULL beyond it): tests only.
  static absl::StatusOr<std::unique_ptr<OutboxStore>> Open(const std::string& path, OutboxDurability durability,
                                                           std::uint32_t max_pages = 0);
  ~OutboxStore();
  OutboxStore(const OutboxStore&) = delete;
  OutboxStore& operator=(const OutboxStore&) = delete;

  struct Parking {
    std::uint64_t seq;
    std::string why;
  };
  // One transaction: insert `inserts`, delete `deletes`, move `parks` to the parked table (kept for an operator,
  // at most `max_parked` of them, oldest pruned). Returns how many pending rows it deleted or moved.
  absl::StatusOr<std::uint64_t> Apply(const std::vector<StoredEvent>& inserts, const std::vector<std::uint64_t>& deletes,
                                      const std::vector<Parking>& parks, std::uint64_t max_parked);
  // Pending events after seq `after_seq`, lowest seq first. Rows that do not decode are returned in `undecodable`
  // (seq and why).
  struct Page {
    std::vector<StoredEvent> events;
    std::vector<Parking> undecodable;
  };
  absl::StatusOr<Page> Read(std::size_t max, std::uint64_t after_seq = 0);
  // Deletes the `n` oldest pending events (the bound); returns how many went.
  absl::StatusOr<std::uint64_t> DeleteOldest(std::uint64_t n);

  absl::StatusOr<std::uint64_t> Count();
  absl::StatusOr<std::uint64_t> MaxSeq();                  // 0 when empty (parked rows count too)
  absl::StatusOr<Clock::WallTime> OldestWrittenAt();       // epoch when empty
  absl::StatusOr<std::uint64_t> ParkedCount();

 private:
  enum : int { kBegin, kCommit, kInsert, kDelete, kRead, kOldest, kStatements };
  explicit OutboxStore(sqlite3* db) : db_(db) {}
  absl::StatusOr<sqlite3_stmt*> Prepared(int which);
  absl::Status Run(int which, std::string_view what);  // steps a statement without results
  sqlite3* db_;
  std::array<sqlite3_stmt*, kStatements> stmts_{};
};

// Renames `path` (and its -wal) to `path`.<reason>-<unix seconds>, removes its -shm. Returns the new name.
absl::StatusOr<std::string> MoveStoreAside(const std::string& path, std::string_view reason, Clock::WallTime now);

}  // namespace oa
