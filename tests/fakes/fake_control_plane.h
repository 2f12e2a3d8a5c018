// FakeControlPlane: a ControlPlane for management API tests. It keeps a tiny "cache" of (user, group) entries so that
// invalidation counts are real, records every call, and has a Decide() that applies the current fail mode the way the
// authorizer will when the portal is down, so a test can check that SetFailMode reaches the next decision.
// Thread-safety: every method takes one mutex.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "agent/management/control_plane.h"
#include "resilience/decision.h"

namespace oa::testing {

class FakeControlPlane final : public ControlPlane {
 public:
  struct Entry {
    std::string user;
    std::string group;
  };

  void AddCacheEntry(std::string user, std::string group) {
    const std::lock_guard lock(mu_);
    entries_.push_back({std::move(user), std::move(group)});
  }
  std::vector<Entry> entries() const {
    const std::lock_guard lock(mu_);
    return entries_;
  }

  StatusSnapshot Status() override {
    const std::lock_guard lock(mu_);
    StatusSnapshot s = status_;
    s.fail_mode = fail_mode_;
    s.breaker_override = override_;
    s.breaker_state = breaker_state_;
    s.cache_stats["size"] = entries_.size();
    return s;
  }
  void set_status(StatusSnapshot s) {
    const std::lock_guard lock(mu_);
    status_ = std::move(s);
  }

  std::size_t InvalidateUser(std::string_view user) override {
    const std::lock_guard lock(mu_);
    invalidated_users_.emplace_back(user);
    return EraseIf([&](const Entry& e) { return e.user == user; });
  }
  std::size_t InvalidateGroup(std::string_view group) override {
    const std::lock_guard lock(mu_);
    invalidated_groups_.emplace_back(group);
    return EraseIf([&](const Entry& e) { return e.group == group; });
  }
  std::size_t InvalidateAll() override {
    const std::lock_guard lock(mu_);
    ++invalidate_all_calls_;
    return EraseIf([](const Entry&) { return true; });
  }

  FailMode SetFailMode(FailMode mode) override {
    const std::lock_guard lock(mu_);
    return std::exchange(fail_mode_, mode);
  }
  BreakerOverride SetBreakerOverride(BreakerOverride o) override {
    const std::lock_guard lock(mu_);
    breaker_state_ = o == BreakerOverride::kForceOpen ? "open" : (o == BreakerOverride::kForceClosed ? "closed" : breaker_state_);
    return std::exchange(override_, o);
  }
  bool IpcListening() override {
    const std::lock_guard lock(mu_);
    return ipc_listening_;
  }
  std::string BreakerState() override {
    const std::lock_guard lock(mu_);
    return breaker_state_;
  }

  // The decision the agent would give right now for a request whose portal call failed and that has no stale entry.
  Decision DecideWithPortalDown() {
    const std::lock_guard lock(mu_);
    ++decisions_;
    if (fail_mode_ == FailMode::kOpen) return {Verdict::kAllow, DecisionSource::kFailOpen, ""};
    return {Verdict::kDeny, DecisionSource::kFailClose, "portal unavailable"};
  }

  void set_ipc_listening(bool v) {
    const std::lock_guard lock(mu_);
    ipc_listening_ = v;
  }
  void set_breaker_state(std::string s) {
    const std::lock_guard lock(mu_);
    breaker_state_ = std::move(s);
  }
  std::vector<std::string> invalidated_users() const {
    const std::lock_guard lock(mu_);
    return invalidated_users_;
  }
  std::vector<std::string> invalidated_groups() const {
    const std::lock_guard lock(mu_);
    return invalidated_groups_;
  }
  int invalidate_all_calls() const {
    const std::lock_guard lock(mu_);
    return invalidate_all_calls_;
  }
  FailMode fail_mode() const {
    const std::lock_guard lock(mu_);
    return fail_mode_;
  }
  BreakerOverride breaker_override() const {
    const std::lock_guard lock(mu_);
    return override_;
  }

 private:
  template <class Pred>
  std::size_t EraseIf(Pred pred) {
    const auto before = entries_.size();
    std::erase_if(entries_, pred);
    return before - entries_.size();
  }

  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  StatusSnapshot status_;
  FailMode fail_mode_ = FailMode::kStale;
  BreakerOverride override_ = BreakerOverride::kAuto;
  std::string breaker_state_ = "closed";
  bool ipc_listening_ = true;
  std::vector<std::string> invalidated_users_;
  std::vector<std::string> invalidated_groups_;
  int invalidate_all_calls_ = 0;
  int decisions_ = 0;
};

}  // namespace oa::testing
