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
};

class SessionRegistry {
 public:
  explicit SessionRegistry(std::size_t max_sessions = 100'000) : max_sessions_(max_sessions) {}

  void Admit(SessionRecord record);
  std::optional<SessionRecord> Remove(const std::string& id);
  std::vector<SessionRecord> List() const;
  std::size_t size() const;

 private:
  const std::size_t max_sessions_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, SessionRecord> by_id_;
  std::deque<std::string> admission_order_;  // may hold IDs already removed; trimmed lazily
};

}  // namespace oa
