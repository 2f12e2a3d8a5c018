#include "agent/authorizer/session_registry.h"

namespace oa {

void SessionRegistry::Admit(SessionRecord record) {
  std::lock_guard lock(mu_);
  const std::string id = record.id;
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
    auto it = by_id_.find(r.id);
    if (it != by_id_.end() && it->second.username == r.username) {
      SessionRecord kept = std::move(it->second);
      if (kept.vpn_ip.empty()) kept.vpn_ip = r.vpn_ip;
      by_id_.erase(it);
      ++result.kept;
      next.insert_or_assign(kept.id, std::move(kept));
    } else {
      r.reconstructed = true;
      ++result.added;
      next.insert_or_assign(r.id, std::move(r));
    }
    if (next.size() >= max_sessions_) break;
  }
  for (auto& [id, r] : by_id_) {
    if (r.admitted_at >= listed_at && next.size() < max_sessions_) {
      ++result.kept;
      next.insert_or_assign(id, std::move(r));
    } else {
      ++result.removed;
    }
  }
  by_id_ = std::move(next);
  admission_order_.clear();
  for (const auto& [id, r] : by_id_) admission_order_.push_back(id);
  return result;
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

}  // namespace oa
