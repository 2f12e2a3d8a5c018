#include "events/outbox_store.h"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "events/event_codec.h"

namespace oa {
namespace {

absl::Status StatusOf(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return absl::DataLossError(msg);
    case SQLITE_FULL: return absl::ResourceExhaustedError(msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH: return absl::PermissionDeniedError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR: return absl::UnavailableError(msg);
    default: return absl::InternalError(msg);
  }
}

// A prepared statement, finalised on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  int prepare_rc() const { return rc_; }
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

absl::Status Exec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? absl::OkStatus() : StatusOf(db, rc, sql);
}

absl::StatusOr<std::int64_t> QueryInt(sqlite3* db, const char* sql) {
  Stmt s(db, sql);
  if (s.prepare_rc() != SQLITE_OK) return StatusOf(db, s.prepare_rc(), sql);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(s.get(), 0);
  if (rc == SQLITE_DONE) return 0;
  return StatusOf(db, rc, sql);
}

std::int64_t NanosOf(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
Clock::WallTime WallOf(std::int64_t ns) {
  return Clock::WallTime(std::chrono::duration_cast<Clock::WallTime::duration>(std::chrono::nanoseconds(ns)));
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, written_ns INTEGER NOT "
    "NULL, body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS parked (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, written_ns INTEGER NOT "
    "NULL, body BLOB NOT NULL, why TEXT NOT NULL);";

}  // namespace

std::optional<OutboxDurability> ParseOutboxDurability(std::string_view text) {
  if (text == "process") return OutboxDurability::kProcess;
  if (text == "power") return OutboxDurability::kPower;
  return std::nullopt;
}

std::string_view to_string(OutboxDurability durability) {
  return durability == OutboxDurability::kPower ? "power" : "process";
}

absl::StatusOr<std::unique_ptr<OutboxStore>> OutboxStore::Open(const std::string& path, OutboxDurability durability,
                                                               std::uint32_t max_pages) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  std::unique_ptr<OutboxStore> store(new OutboxStore(db));  // closes db on every error path below
  if (rc != SQLITE_OK) return StatusOf(db, rc, "open " + path);
  sqlite3_extended_result_codes(db, 0);
  // A read-only file opens "successfully" read-only: refuse it here, not at the first write.
  if (sqlite3_db_readonly(db, "main") == 1) return absl::PermissionDeniedError("open " + path + ": read-only");
  sqlite3_busy_timeout(db, 0);  // the outbox is ours alone: a lock held by someone else is an error, not a wait
  // quick_check before anything else: a garbage or truncated file fails here (SQLITE_NOTADB / "malformed").
  {
    Stmt check(db, "PRAGMA quick_check");
    if (check.prepare_rc() != SQLITE_OK) return StatusOf(db, check.prepare_rc(), "check " + path);
    const int step = sqlite3_step(check.get());
    if (step != SQLITE_ROW) return StatusOf(db, step, "check " + path);
    const auto* verdict = reinterpret_cast<const char*>(sqlite3_column_text(check.get(), 0));
    if (verdict == nullptr || std::string_view(verdict) != "ok") {
      return absl::DataLossError("check " + path + ": " + (verdict != nullptr ? verdict : "no answer"));
    }
  }
  if (auto s = Exec(db, "PRAGMA journal_mode=WAL"); !s.ok()) return s;
  if (auto s = Exec(db, durability == OutboxDurability::kPower ? "PRAGMA synchronous=FULL"
                                                               : "PRAGMA synchronous=NORMAL");
      !s.ok()) {
    return s;
  }
  if (auto s = Exec(db, kSchema); !s.ok()) return s;
  if (max_pages > 0) {
    const std::string cap = "PRAGMA max_page_count=" + std::to_string(max_pages);
    if (auto s = Exec(db, cap.c_str()); !s.ok()) return s;
  }
  return store;
}

OutboxStore::~OutboxStore() {
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  sqlite3_close_v2(db_);
}

// The statements of every group and every read, prepared once per open store (parsing SQL each time showed in the
// profile). `which` indexes kSql.
absl::StatusOr<sqlite3_stmt*> OutboxStore::Prepared(int which) {
  static constexpr const char* kSql[kStatements] = {
      "BEGIN IMMEDIATE",
      "COMMIT",
      "INSERT INTO events (seq, event_id, written_ns, body) VALUES (?1, ?2, ?3, ?4)",
      "DELETE FROM events WHERE seq = ?1",
      "SELECT seq, event_id, written_ns, body FROM events WHERE seq > ?2 ORDER BY seq LIMIT ?1",
      "SELECT written_ns FROM events ORDER BY seq LIMIT 1",
  };
  if (stmts_[which] == nullptr) {
    const int rc = sqlite3_prepare_v3(db_, kSql[which], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[which], nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmts_[which]);
      stmts_[which] = nullptr;
      return StatusOf(db_, rc, std::string("prepare ") + kSql[which]);
    }
  }
  return stmts_[which];
}

absl::Status OutboxStore::Run(int which, std::string_view what) {
  auto s = Prepared(which);
  if (!s.ok()) return s.status();
  const int rc = sqlite3_step(*s);
  sqlite3_reset(*s);
  return rc == SQLITE_DONE ? absl::OkStatus() : StatusOf(db_, rc, what);
}

absl::StatusOr<std::uint64_t> OutboxStore::Apply(const std::vector<StoredEvent>& inserts,
                                                 const std::vector<std::uint64_t>& deletes,
                                                 const std::vector<Parking>& parks, std::uint64_t max_parked) {
  if (auto s = Run(kBegin, "BEGIN IMMEDIATE"); !s.ok()) return s;
  auto fail = [this](absl::Status s) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  };
  std::uint64_t removed = 0;
  if (!parks.empty()) {
    Stmt park(db_, "INSERT OR REPLACE INTO parked (seq, event_id, written_ns, body, why) "
                   "SELECT seq, event_id, written_ns, body, ?2 FROM events WHERE seq = ?1");
    if (park.prepare_rc() != SQLITE_OK) return fail(StatusOf(db_, park.prepare_rc(), "prepare park"));
    for (const auto& p : parks) {
      sqlite3_bind_int64(park.get(), 1, static_cast<sqlite3_int64>(p.seq));
      sqlite3_bind_text(park.get(), 2, p.why.data(), static_cast<int>(p.why.size()), SQLITE_STATIC);
      const int rc = sqlite3_step(park.get());
      sqlite3_reset(park.get());
      if (rc != SQLITE_DONE) return fail(StatusOf(db_, rc, "park event"));
    }
  }
  if (!deletes.empty() || !parks.empty()) {
    auto del = Prepared(kDelete);
    if (!del.ok()) return fail(del.status());
    auto remove = [&](std::uint64_t seq) -> absl::Status {
      sqlite3_bind_int64(*del, 1, static_cast<sqlite3_int64>(seq));
      const int rc = sqlite3_step(*del);
      sqlite3_reset(*del);
      if (rc != SQLITE_DONE) return StatusOf(db_, rc, "delete event");
      removed += static_cast<std::uint64_t>(sqlite3_changes(db_));
      return absl::OkStatus();
    };
    for (std::uint64_t seq : deletes) {
      if (auto s = remove(seq); !s.ok()) return fail(s);
    }
    for (const auto& p : parks) {
      if (auto s = remove(p.seq); !s.ok()) return fail(s);
    }
  }
  // After the deletions: on a full disk, the rows of delivered events make room for the new ones.
  if (!inserts.empty()) {
    auto ins = Prepared(kInsert);
    if (!ins.ok()) return fail(ins.status());
    for (const auto& e : inserts) {
      const std::string body = EncodeSessionEvent(e.event);
      sqlite3_bind_int64(*ins, 1, static_cast<sqlite3_int64>(e.seq));
      sqlite3_bind_text(*ins, 2, e.event_id.data(), static_cast<int>(e.event_id.size()), SQLITE_STATIC);
      sqlite3_bind_int64(*ins, 3, NanosOf(e.written_at));
      sqlite3_bind_blob(*ins, 4, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      const int rc = sqlite3_step(*ins);
      sqlite3_reset(*ins);
      if (rc != SQLITE_DONE) return fail(StatusOf(db_, rc, "insert event"));
    }
  }
  if (!parks.empty()) {
    const std::string prune = "DELETE FROM parked WHERE seq NOT IN (SELECT seq FROM parked ORDER BY seq DESC LIMIT " +
                              std::to_string(max_parked) + ")";
    if (auto s = Exec(db_, prune.c_str()); !s.ok()) return fail(s);
  }
  if (auto s = Run(kCommit, "COMMIT"); !s.ok()) return fail(s);
  return removed;
}

absl::StatusOr<OutboxStore::Page> OutboxStore::Read(std::size_t max, std::uint64_t after_seq) {
  auto prepared = Prepared(kRead);
  if (!prepared.ok()) return prepared.status();
  sqlite3_stmt* s = *prepared;
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(max));
  sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(after_seq));
  Page page;
  for (;;) {
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      sqlite3_reset(s);
      return StatusOf(db_, rc, "read events");
    }
    const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
    const auto* body = static_cast<const char*>(sqlite3_column_blob(s, 3));
    auto decoded = DecodeSessionEvent(std::string_view(body != nullptr ? body : "",
                                                       static_cast<std::size_t>(sqlite3_column_bytes(s, 3))));
    if (!decoded.ok()) {
      page.undecodable.push_back({seq, std::string(decoded.status().message())});
      continue;
    }
    page.events.push_back(StoredEvent{seq, id != nullptr ? id : "", WallOf(sqlite3_column_int64(s, 2)),
                                      *std::move(decoded)});
  }
  sqlite3_reset(s);  // ends the read transaction now, not at the next use
  return page;
}

absl::StatusOr<std::uint64_t> OutboxStore::DeleteOldest(std::uint64_t n) {
  const std::string sql =
      "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT " + std::to_string(n) + ")";
  if (auto s = Exec(db_, sql.c_str()); !s.ok()) return s;
  return static_cast<std::uint64_t>(sqlite3_changes(db_));
}

absl::StatusOr<std::uint64_t> OutboxStore::Count() {
  auto v = QueryInt(db_, "SELECT COUNT(*) FROM events");
  if (!v.ok()) return v.status();
  return static_cast<std::uint64_t>(*v);
}

absl::StatusOr<std::uint64_t> OutboxStore::MaxSeq() {
  auto v = QueryInt(db_, "SELECT MAX(IFNULL((SELECT MAX(seq) FROM events), 0), IFNULL((SELECT MAX(seq) FROM parked), 0))");
  if (!v.ok()) return v.status();
  return static_cast<std::uint64_t>(*v);
}

absl::StatusOr<Clock::WallTime> OutboxStore::OldestWrittenAt() {
  auto prepared = Prepared(kOldest);
  if (!prepared.ok()) return prepared.status();
  const int rc = sqlite3_step(*prepared);
  const std::int64_t ns = rc == SQLITE_ROW ? sqlite3_column_int64(*prepared, 0) : 0;
  sqlite3_reset(*prepared);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return StatusOf(db_, rc, "read oldest");
  return WallOf(ns);
}

absl::StatusOr<std::uint64_t> OutboxStore::ParkedCount() {
  auto v = QueryInt(db_, "SELECT COUNT(*) FROM parked");
  if (!v.ok()) return v.status();
  return static_cast<std::uint64_t>(*v);
}

absl::StatusOr<std::string> MoveStoreAside(const std::string& path, std::string_view reason, Clock::WallTime now) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::string aside = path + "." + std::string(reason) + "-" + std::to_string(secs);
  std::error_code ec;
  std::filesystem::rename(path, aside, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::PermissionDeniedError("cannot move " + path + " aside to " + aside + ": " + ec.message());
  }
  std::filesystem::rename(path + "-wal", aside + "-wal", ec);  // the WAL belongs with its database
  std::filesystem::remove(path + "-shm", ec);
  return aside;
}

}  // namespace oa
