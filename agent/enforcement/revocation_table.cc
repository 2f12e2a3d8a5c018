#include "agent/enforcement/revocation_table.h"

#include <algorithm>
#include <mutex>

namespace oa {

RevocationTable::RevocationTable(const Clock& clock, Millis ttl) : clock_(clock), ttl_(ttl) {}

Revocation RevocationTable::Revoke(Subject subject, std::string reason, int disconnect_reason, std::string origin) {
  std::unique_lock lock(mu_);
  Revocation r;
  r.subject = std::move(subject);
  r.reason = std::move(reason);
  r.disconnect_reason = disconnect_reason;
  r.origin = std::move(origin);
  // Bumped before the entry is visible: a call that read the old value counts as started before the revocation.
  r.sequence = sequence_.fetch_add(1, std::memory_order_acq_rel) + 1;
  r.expires_at = clock_.now() + ttl_;
  r.revoked_at = clock_.wall_now();
  MapFor(r.subject.kind)[r.subject.name] = r;
  UpdateCountLocked();
  revoked_.fetch_add(1, std::memory_order_relaxed);
  return r;
}

bool RevocationTable::Restore(const Subject& subject) {
  std::unique_lock lock(mu_);
  const bool erased = MapFor(subject.kind).erase(subject.name) > 0;
  UpdateCountLocked();
  if (erased) restored_.fetch_add(1, std::memory_order_relaxed);
  return erased;
}

const Revocation* RevocationTable::FindLiveLocked(const Map& map, std::string_view name, Clock::MonoTime now) const {
  auto it = map.find(name);
  if (it == map.end() || now >= it->second.expires_at) return nullptr;
  return &it->second;
}

std::optional<Revocation> RevocationTable::Covering(std::string_view username, std::string_view groupname) const {
  if (!AnyInForce()) return std::nullopt;
  const auto now = clock_.now();
  std::shared_lock lock(mu_);
  if (const Revocation* r = FindLiveLocked(users_, username, now)) return *r;
  if (!groupname.empty()) {
    if (const Revocation* r = FindLiveLocked(groups_, groupname, now)) return *r;
  }
  return std::nullopt;
}

std::optional<Revocation> RevocationTable::AllowAfterCall(std::string_view username, std::string_view groupname,
                                                          std::uint64_t call_sequence) {
  if (!AnyInForce()) return std::nullopt;
  const auto now = clock_.now();
  std::unique_lock lock(mu_);
  if (const Revocation* r = FindLiveLocked(users_, username, now)) {
    if (r->sequence > call_sequence) return *r;  // revoked while the call was in flight: the answer is too old
  }
  if (!groupname.empty()) {
    // A group revocation older than the call does not refuse this member's fresh Allow, but is not lifted by it.
    const Revocation* r = FindLiveLocked(groups_, groupname, now);
    if (r != nullptr && r->sequence > call_sequence) return *r;
  }
  // The portal allowed this user on a call that started after the user's revocation: that lifts it.
  if (users_.erase(std::string(username)) > 0) {
    UpdateCountLocked();
    lifted_by_allow_.fetch_add(1, std::memory_order_relaxed);
  }
  return std::nullopt;
}

std::vector<Revocation> RevocationTable::ExpireDue() {
  std::vector<Revocation> gone;
  if (!AnyInForce()) return gone;
  const auto now = clock_.now();
  std::unique_lock lock(mu_);
  for (Map* map : {&users_, &groups_}) {
    for (auto it = map->begin(); it != map->end();) {
      if (now >= it->second.expires_at) {
        gone.push_back(std::move(it->second));
        it = map->erase(it);
      } else {
        ++it;
      }
    }
  }
  UpdateCountLocked();
  expired_.fetch_add(gone.size(), std::memory_order_relaxed);
  return gone;
}

std::vector<Revocation> RevocationTable::List() const {
  const auto now = clock_.now();
  std::vector<Revocation> out;
  std::shared_lock lock(mu_);
  for (const Map* map : {&users_, &groups_}) {
    for (const auto& [name, r] : *map) {
      if (now < r.expires_at) out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(), [](const Revocation& a, const Revocation& b) { return a.sequence < b.sequence; });
  return out;
}

std::size_t RevocationTable::size() const { return count_.load(std::memory_order_acquire); }

void RevocationTable::SetTtl(Millis ttl) {
  std::unique_lock lock(mu_);
  ttl_ = ttl;
}

RevocationCountersSnapshot RevocationTable::counters() const {
  auto r = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  return {r(revoked_), r(restored_), r(lifted_by_allow_), r(expired_), r(blocked_admits_)};
}

}  // namespace oa
