#include "agent/management/slow_call_limiter.h"

#include "absl/strings/str_cat.h"
#include "agent/management/access_policy.h"

namespace oa {

SlowCallLimiter::Slot::~Slot() {
  if (owner_ != nullptr) owner_->Release(role_, identity_, follow_);
}

SlowCallLimiter::Result SlowCallLimiter::TryAcquire(ManagementRole role, std::string_view identity, bool follow) {
  std::lock_guard lock(mu_);
  std::size_t& used = in_use_[static_cast<std::size_t>(role)];
  if (follow) {
    auto it = follows_.find(identity);
    if (it != follows_.end() && it->second >= limits_.follows_per_identity) {
      counters_.follow_refused.fetch_add(1, std::memory_order_relaxed);
      return {std::nullopt, absl::ResourceExhaustedError(absl::StrCat(
                                "this identity already follows the logs ", limits_.follows_per_identity,
                                " times (the limit); close a stream first"))};
    }
  }
  if (used >= limits_.per_role) {
    counters_.slow_call_refused.fetch_add(1, std::memory_order_relaxed);
    return {std::nullopt, absl::ResourceExhaustedError(absl::StrCat(
                              limits_.per_role, " slow calls (log follows, commands, tier-3 health checks) by role ",
                              std::string(to_string(role)), " are already running; try again later"))};
  }
  ++used;
  if (follow) ++follows_[std::string(identity)];
  return {Slot(this, role, std::string(identity), follow), absl::OkStatus()};
}

void SlowCallLimiter::Release(ManagementRole role, const std::string& identity, bool follow) {
  std::lock_guard lock(mu_);
  --in_use_[static_cast<std::size_t>(role)];
  if (follow) {
    auto it = follows_.find(identity);
    if (it != follows_.end() && --it->second == 0) follows_.erase(it);
  }
}

}  // namespace oa
