#include "agent/authorizer/session_registry.h"

namespace oa {

void SessionRegistry::Admit(SessionRecord record) {
  std::lock_guard lock(mu_);
  const std::string id = record.id;
  closed_.erase(id);  // a new session under a reused ID: its disconnect-script must be reported
  by_id_.insert_or_assign(id, std::move(record));
  admission_order_.push_back(id);
  while (by_id_.size() > max_sessions_ && !admission_order_.empty()) {
    by_id_.erase(admission_order_.front());
    admission_order_.pop_front();
  }
  // Entries removed by Remove() linger in admission_order_; keep the deque from growing without bound.
  if (admission_order_.size() > 2 * max_sessions_ + 16) {
    std::deque<std::string> live;
    for (auto& i : admission_order_) {
      if (by_id_.count(i)) live.push_back(std::move(i));
    }
    admission_order_ = std::move(live);
  }
}

std::optional<SessionRecord> SessionRegistry::Remove(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  SessionRecord r = std::move(it->second);
  by_id_.erase(it);
  return r;
}

std::optional<SessionRecord> SessionRegistry::Find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::vector<SessionRecord> SessionRegistry::List() const {
  std::lock_guard lock(mu_);
  std::vector<SessionRecord> out;
  out.reserve(by_id_.size());
  for (const auto& [id, r] : by_id_) out.push_back(r);
  return out;
}

std::vector<SessionRecord> SessionRegistry::ListWhere(const std::function<bool(const SessionRecord&)>& pred) const {
  std::lock_guard lock(mu_);
  std::vector<SessionRecord> out;
  for (const auto& [id, r] : by_id_) {
    if (pred(r)) out.push_back(r);
  }
  return out;
}

ReconcileResult SessionRegistry::Reconcile(std::vector<SessionRecord> live, Clock::WallTime listed_at) {
  std::lock_guard lock(mu_);
  ReconcileResult result;
  std::unordered_map<std::string, SessionRecord> next;
  next.reserve(live.size());
  for (auto& r : live) {
    if (next.size() >= max_sessions_) break;
    auto it = by_id_.find(r.id);
    if (it != by_id_.end() && it->second.username == r.username) {
      SessionRecord kept = std::move(it->second);
      by_id_.erase(it);
      if (kept.vpn_ip.empty()) kept.vpn_ip = r.vpn_ip;
      kept.bytes_received = r.bytes_received;
      kept.bytes_sent = r.bytes_sent;
      if (r.connected_at != Clock::WallTime{}) kept.connected_at = r.connected_at;
      kept.missed_listings = 0;
      // Still unknown to any admit after a second listing: no connect-script is going to report it.
      if (kept.reconstructed && !kept.reconstructed_connect_reported) {
        kept.reconstructed_connect_reported = true;
        result.connects_due.push_back(kept);
      }
      ++result.kept;
      next.insert_or_assign(kept.id, std::move(kept));
    } else {
      // Unknown here (or its ID now belongs to another user: the old session ended, see below).
      r.reconstructed = true;
      r.reconstructed_connect_reported = false;
      r.missed_listings = 0;
      ++result.added;
      next.insert_or_assign(r.id, std::move(r));
    }
  }
  for (auto& [id, r] : by_id_) {
    const bool id_reused = next.count(id) > 0;
    if (!id_reused && r.admitted_at >= listed_at && next.size() < max_sessions_) {
      ++result.kept;  // admitted while occtl was listing: ocserv may not list it yet
      next.insert_or_assign(id, std::move(r));
    } else if (!id_reused && ++r.missed_listings < 2 && next.size() < max_sessions_) {
      ++result.missing;  // its disconnect-script may be on its way: give it one more round
      next.insert_or_assign(id, std::move(r));
    } else {
      ++result.removed;
      if (!id_reused) RememberClosedLocked(id);
      result.closed.push_back(std::move(r));
    }
  }
  by_id_ = std::move(next);
  admission_order_.clear();
  for (const auto& [id, r] : by_id_) admission_order_.push_back(id);
  return result;
}

void SessionRegistry::RememberClosedLocked(const std::string& id) {
  const std::uint64_t gen = ++closed_generation_;
  closed_[id] = gen;
  closed_order_.emplace_back(id, gen);
  while (closed_order_.size() > kMaxClosed) {
    const auto& [old_id, old_gen] = closed_order_.front();
    if (auto it = closed_.find(old_id); it != closed_.end() && it->second == old_gen) closed_.erase(it);
    closed_order_.pop_front();
  }
}

bool SessionRegistry::TakeClosedByReconcile(const std::string& id) {
  std::lock_guard lock(mu_);
  if (closed_.erase(id) == 0) return false;
  ++late_disconnects_;
  return true;
}

std::uint64_t SessionRegistry::late_disconnects() const {
  std::lock_guard lock(mu_);
  return late_disconnects_;
}

bool SessionRegistry::MarkForced(const std::string& id, const std::string& username,
                                 SessionRecord::ForcedDisconnect forced) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end() || it->second.username != username || it->second.forced) return false;
  it->second.forced = std::move(forced);
  return true;
}

void SessionRegistry::ClearForced(const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end()) it->second.forced.reset();
}

std::optional<SessionRecord> SessionRegistry::UpdateStats(const SessionRecord& listed) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(listed.id);
  if (it == by_id_.end() || it->second.username != listed.username) return std::nullopt;
  it->second.bytes_received = listed.bytes_received;
  it->second.bytes_sent = listed.bytes_sent;
  if (listed.connected_at != Clock::WallTime{}) it->second.connected_at = listed.connected_at;
  return it->second;
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

}  // namespace oa
