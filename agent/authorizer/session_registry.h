// SessionRegistry: the sessions the agent admitted, by ocserv ID, with the source of the admitting decision — so
// that a session admitted by fail-open or from a stale verdict stays tagged as such until its disconnect (and the
// disconnect's audit line says how it had been admitted). Bounded: past max_sessions the oldest entry is dropped.
//
// ocserv may run connect twice for one ID and report a disconnect without a connect
// (docs/ocserv.md#timeouts-and-sigterm): a repeated admit replaces the entry, and Remove of an unknown ID returns
// nullopt.
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
};

// What one reconciliation with ocserv's list changed.
struct ReconcileResult {
  std::size_t kept = 0;     // known here and live in ocserv
  std::size_t added = 0;    // live in ocserv, unknown here: added as reconstructed
  std::size_t removed = 0;  // known here, gone from ocserv (a missed disconnect-script)
};

class SessionRegistry {
 public:
  explicit SessionRegistry(std::size_t max_sessions = 100'000) : max_sessions_(max_sessions) {}

  void Admit(SessionRecord record);
  std::optional<SessionRecord> Remove(const std::string& id);
  std::optional<SessionRecord> Find(const std::string& id) const;
  std::vector<SessionRecord> List() const;
  // The sessions `pred` selects (e.g. those of a revoked user).
  std::vector<SessionRecord> ListWhere(const std::function<bool(const SessionRecord&)>& pred) const;
  // Makes the registry ocserv's truth: `live` (from occtl) replaces the content; known IDs keep how they were
  // admitted (if the username matches), unknown ones are added as reconstructed. Sessions admitted at or after
  // `listed_at` (when occtl was asked) are kept even if absent: ocserv may not list them yet.
  ReconcileResult Reconcile(std::vector<SessionRecord> live, Clock::WallTime listed_at);
  std::size_t size() const;

 private:
  const std::size_t max_sessions_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, SessionRecord> by_id_;
  std::deque<std::string> admission_order_;  // may hold IDs already removed; trimmed lazily
};

}  // namespace oa
