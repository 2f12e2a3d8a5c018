// RevocationTable: the users and groups whose access the portal (or an operator) has taken away, and the one
// sequence number that orders portal calls against revocations (shared/DESIGN.md "Live enforcement").
//
//   - A revocation is in force from Revoke() until Restore(), a fresh portal Allow for that user (see
//     AllowAfterCall), or its TTL (enforcement.revocation_ttl; expired entries are ignored at once and removed by
//     ExpireDue).
//   - sequence(): read it when a portal call starts. Revoke() bumps it first, so a call that read a lower value
//     started before the revocation: its Allow never admits the revoked subject (AllowAfterCall).
//   - A group revocation is lifted only by Restore or its TTL: one member's fresh Allow admits that member's request
//     but does not lift the group (the portal said yes to one user, not to the group), so that member's later
//     connects ask the portal again rather than the cache.
//
// Hot path: AnyInForce() is one atomic load, no lock and no allocation, so a cache hit pays nothing while no
// revocation is in force. Covering lookups take a shared lock.
//
// Thread-safety: every method may be called from any thread. Pure logic: takes a Clock, no gRPC, no logging.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "agent/enforcement/subject.h"
#include "resilience/clock.h"
#include "resilience/options.h"

namespace oa {

struct Revocation {
  Subject subject;
  std::string reason;
  int disconnect_reason = 0;  // vpn.v1.DisconnectReason for the forced disconnects (0 = POLICY_VIOLATION)
  std::string origin;         // "portal" or "local" (AgentControl.Revoke)
  std::uint64_t sequence = 0;  // sequence() value the revocation was applied at
  Clock::MonoTime expires_at{};
  Clock::WallTime revoked_at{};
};

struct RevocationCountersSnapshot {
  std::uint64_t revoked = 0;        // Revoke() calls (new or renewed)
  std::uint64_t restored = 0;       // Restore() lifted one
  std::uint64_t lifted_by_allow = 0;  // a fresh portal Allow lifted a user revocation
  std::uint64_t expired = 0;        // removed by TTL
  std::uint64_t blocked_admits = 0;  // an admit refused because of a revocation (cache, stale, fail-open, in-flight)
};

class RevocationTable {
 public:
  RevocationTable(const Clock& clock, Millis ttl);
  const Clock& clock() const { return clock_; }
  RevocationTable(const RevocationTable&) = delete;
  RevocationTable& operator=(const RevocationTable&) = delete;

  // Puts a revocation in force (replacing one for the same subject, with a new sequence and TTL) and returns it.
  // Subject kAll is refused by the protocol; the caller checks that.
  Revocation Revoke(Subject subject, std::string reason, int disconnect_reason, std::string origin);
  // Lifts the revocation of exactly this subject. Returns whether one was in force.
  bool Restore(const Subject& subject);

  // Cheap: whether any revocation may be in force (including expired ones not yet removed).
  bool AnyInForce() const { return count_.load(std::memory_order_acquire) != 0; }
  std::uint64_t sequence() const { return sequence_.load(std::memory_order_acquire); }

  // The revocation in force that covers this user or group (the user's first), if any.
  std::optional<Revocation> Covering(std::string_view username, std::string_view groupname) const;

  // A portal Allow for (username, groupname) from a call that started at `call_sequence`: returns the revocation
  // that refuses it (a user or group revocation applied after the call started), or nullopt when the Allow may
  // admit. A user revocation applied before the call started is lifted here (counted in lifted_by_allow); a group
  // revocation is not (see above).
  std::optional<Revocation> AllowAfterCall(std::string_view username, std::string_view groupname,
                                           std::uint64_t call_sequence);

  // Counts an admit refused because of a revocation.
  void CountBlocked() { blocked_admits_.fetch_add(1, std::memory_order_relaxed); }

  // Removes expired revocations; returns them (for a log line each).
  std::vector<Revocation> ExpireDue();
  std::vector<Revocation> List() const;  // in force now, oldest first
  std::size_t size() const;
  void SetTtl(Millis ttl);
  RevocationCountersSnapshot counters() const;

 private:
  using Map = std::map<std::string, Revocation, std::less<>>;
  Map& MapFor(SubjectKind kind) { return kind == SubjectKind::kGroup ? groups_ : users_; }
  const Revocation* FindLiveLocked(const Map& map, std::string_view name, Clock::MonoTime now) const;
  void UpdateCountLocked() { count_.store(users_.size() + groups_.size(), std::memory_order_release); }

  const Clock& clock_;
  mutable std::shared_mutex mu_;
  Map users_, groups_;                                  // guarded by mu_
  Millis ttl_;                                          // guarded by mu_
  std::atomic<std::size_t> count_{0};                   // users_ + groups_ sizes, readable without the lock
  std::atomic<std::uint64_t> sequence_{0};
  std::atomic<std::uint64_t> revoked_{0}, restored_{0}, lifted_by_allow_{0}, expired_{0}, blocked_admits_{0};
};

}  // namespace oa
