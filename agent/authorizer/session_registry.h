// SessionRegistry: the sessions the agent admitted, by ocserv ID, with the source of the admitting decision — so
// that a session admitted by fail-open or from a stale verdict stays tagged as such until its disconnect (and the
// disconnect's audit line says how it had been admitted). Bounded: past max_sessions the oldest entry is dropped.
//
// ocserv may run connect twice for one ID and report a disconnect without a connect
// (docs/ocserv.md#timeouts-and-sigterm): a repeated admit replaces the entry, and Remove of an unknown ID returns
// nullopt.
//
// Reconciliation with ocserv's list (occtl) decides, without racing the scripts, which sessions the portal must be
// told about by the agent itself (docs/architecture.md "Reconstructed session events"):
//   - a session ocserv lists that the registry does not know is added at once (so a revocation reaches it) but its
//     reconstructed connect is due only when a second listing still finds it unknown: a connect-script whose admit
//     was in flight during the first listing has replaced the entry by then (Admit), and its real connect is sent;
//   - a registered session ocserv no longer lists is closed (reconstructed disconnect) only when a second listing
//     still misses it: the disconnect-script that ocserv runs right after ending it has removed the entry by then.
//     The ID is remembered for a while (TakeClosedByReconcile), so that a disconnect-script arriving even later is
//     not reported a second time.
// A session the agent is ending itself carries a ForcedDisconnect mark (MarkForced) until ocserv's disconnect-script
// (or a reconciliation) closes it: that one disconnect carries the reason.
//
// Thread-safety: all methods from any thread (one mutex).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "events/session_event.h"
#include "resilience/clock.h"
#include "resilience/decision.h"

namespace oa {

struct SessionRecord {
  std::string id;
  std::string username;
  std::string groupname;
  std::string ip_real;
  DecisionSource admitted_by = DecisionSource::kPortal;
  Clock::WallTime admitted_at{};
  // Found in `occtl show users` without an admit seen by this agent (e.g. after a restart): admitted_by unknown.
  bool reconstructed = false;
  std::string vpn_ip;  // from occtl (reconstructed sessions) when known
  // Last seen in `occtl show users` (reconciliation, session updates): RX (what the server received) and TX.
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  // When ocserv says the session started (occtl raw_connected_at); epoch when unknown.
  Clock::WallTime connected_at{};
  // The agent is ending this session (occtl disconnect ran or runs): the disconnect reported for it carries this.
  struct ForcedDisconnect {
    DisconnectReason reason = DisconnectReason::kPolicyViolation;
    std::string cause;        // "revocation", "recheck", "session_update"
    std::string reason_text;  // the revocation's / portal's words
  };
  std::optional<ForcedDisconnect> forced{};
  // Registry bookkeeping for reconciliation (see the header comment).
  bool reconstructed_connect_reported = false;
  int missed_listings = 0;  // consecutive listings that did not show it
};

// What one reconciliation with ocserv's list changed.
struct ReconcileResult {
  std::size_t kept = 0;     // known here and live in ocserv
  std::size_t added = 0;    // live in ocserv, unknown here: added as reconstructed
  std::size_t removed = 0;  // known here, missed by two listings in a row: closed (a missed disconnect-script)
  std::size_t missing = 0;  // known here, missed by this listing only: kept one more round
  // Unknown sessions seen in two listings in a row: report a reconstructed connect for each (once).
  std::vector<SessionRecord> connects_due;
  // Removed sessions: report a reconstructed disconnect for each.
  std::vector<SessionRecord> closed;
};

class SessionRegistry {
 public:
  explicit SessionRegistry(std::size_t max_sessions = 100'000) : max_sessions_(max_sessions) {}

  void Admit(SessionRecord record);
  std::optional<SessionRecord> Remove(const std::string& id);
  // Marks a live session as being ended by the agent. False when it is not registered (or is another user's now) or
  // is already being ended: two jobs may target one session (after an outage the stream's reconnect and the portal's
  // Resync both re-check it), and a second occtl call would fail or end a new session reusing the ID.
  bool MarkForced(const std::string& id, const std::string& username, SessionRecord::ForcedDisconnect forced);
  // The forced disconnect failed: the session goes on unmarked.
  void ClearForced(const std::string& id);
  // Bytes from occtl for a registered session of `username`; returns the updated record (nullopt: not registered).
  std::optional<SessionRecord> UpdateStats(const SessionRecord& listed);
  // A disconnect-script for `id` that came after a reconciliation had already closed the session (and reported its
  // disconnect): true once per such ID (then forgotten). Counted in late_disconnects().
  bool TakeClosedByReconcile(const std::string& id);
  std::uint64_t late_disconnects() const;
  std::optional<SessionRecord> Find(const std::string& id) const;
  std::vector<SessionRecord> List() const;
  // The sessions `pred` selects (e.g. those of a revoked user).
  std::vector<SessionRecord> ListWhere(const std::function<bool(const SessionRecord&)>& pred) const;
  // Makes the registry ocserv's truth: `live` (from occtl) replaces the content; known IDs keep how they were
  // admitted (if the username matches), unknown ones are added as reconstructed. Sessions admitted at or after
  // `listed_at` (when occtl was asked) are kept even if absent: ocserv may not list them yet. A known session is
  // closed only when two listings in a row miss it; see the header comment for the reconstructed events.
  ReconcileResult Reconcile(std::vector<SessionRecord> live, Clock::WallTime listed_at);
  std::size_t size() const;

 private:
  const std::size_t max_sessions_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, SessionRecord> by_id_;
  std::deque<std::string> admission_order_;  // may hold IDs already removed; trimmed lazily
  // IDs closed by reconciliation, oldest first, bounded (kMaxClosed): a late disconnect-script is not reported twice.
  static constexpr std::size_t kMaxClosed = 10'000;
  std::unordered_map<std::string, std::uint64_t> closed_;  // id -> generation in closed_order_
  std::deque<std::pair<std::string, std::uint64_t>> closed_order_;
  std::uint64_t closed_generation_ = 0;
  std::uint64_t late_disconnects_ = 0;
  void RememberClosedLocked(const std::string& id);
};

}  // namespace oa
