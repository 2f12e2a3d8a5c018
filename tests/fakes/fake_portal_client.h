// FakePortalClient: a PortalClient whose calls wait until the test completes them (Complete*), or are answered at
// once by a fixed answer (set_auto_answer). Records every query. Thread-safe.
#pragma once

#include <deque>
#include <mutex>
#include <optional>

#include "agent/portal/portal_client.h"

namespace oa::testing {

class FakePortalClient final : public PortalClient {
 public:
  struct Call {
    PolicyQuery query;
    std::chrono::milliseconds timeout;
    Done done;
  };

  static PolicyAnswer Allow(std::optional<std::chrono::seconds> ttl = std::nullopt) {
    PolicyAnswer a;
    a.outcome = PortalOutcome::kAllow;
    a.cache_ttl = ttl;
    return a;
  }
  static PolicyAnswer Deny(std::string reason, std::optional<std::chrono::seconds> ttl = std::nullopt) {
    PolicyAnswer a;
    a.outcome = PortalOutcome::kDeny;
    a.deny_reason = std::move(reason);
    a.cache_ttl = ttl;
    return a;
  }
  static PolicyAnswer Error(absl::StatusCode code) {
    PolicyAnswer a;
    a.outcome = PortalOutcome::kError;
    a.error = absl::Status(code, "injected");
    return a;
  }

  void CheckPolicy(PolicyQuery query, std::chrono::milliseconds timeout, Done done) override {
    std::optional<PolicyAnswer> automatic;
    {
      std::lock_guard lock(mu_);
      ++calls_;
      queries_.push_back(query);
      automatic = auto_answer_;
      if (!automatic) pending_.push_back(Call{std::move(query), timeout, std::move(done)});
    }
    if (automatic) done(*automatic);
  }

  void Shutdown(std::chrono::milliseconds) override {}
  PortalClientStatsSnapshot stats() const override { return {}; }

  // Completes the oldest pending call with `answer`; false if none is pending.
  bool CompleteNext(PolicyAnswer answer) {
    Call call;
    {
      std::lock_guard lock(mu_);
      if (pending_.empty()) return false;
      call = std::move(pending_.front());
      pending_.pop_front();
    }
    call.done(std::move(answer));
    return true;
  }

  void set_auto_answer(std::optional<PolicyAnswer> a) {
    std::lock_guard lock(mu_);
    auto_answer_ = std::move(a);
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return pending_.size();
  }
  std::chrono::milliseconds last_timeout() const {
    std::lock_guard lock(mu_);
    return pending_.empty() ? std::chrono::milliseconds(-1) : pending_.back().timeout;
  }
  std::vector<PolicyQuery> queries() const {
    std::lock_guard lock(mu_);
    return queries_;
  }

 private:
  mutable std::mutex mu_;
  int calls_ = 0;
  std::vector<PolicyQuery> queries_;
  std::deque<Call> pending_;
  std::optional<PolicyAnswer> auto_answer_;
};

}  // namespace oa::testing
