// FakeAuthorizer / FakeSessionEventSink: stand-ins for the agent's real authorizer behind ipc/authorizer.h, so that
// the IPC server and the helper can be tested before (and independently of) the real one.
//   kInstant: answers the configured decision inline (a cache hit);
//   kHold:    keeps the request and its `done` until the test calls CompleteAll() (from the test's thread: a portal
//             completion arriving on another thread), or never (the server's backstop must answer).
// Thread-safe: the server's loop thread calls in while the test thread inspects and completes.
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "ipc/authorizer.h"

namespace oa::testing {

class FakeAuthorizer final : public Authorizer {
 public:
  enum class Mode { kInstant, kHold };

  explicit FakeAuthorizer(Mode mode = Mode::kInstant,
                          Decision decision = {Verdict::kAllow, DecisionSource::kPortal, ""})
      : mode_(mode), decision_(std::move(decision)) {}

  void set_mode(Mode m) {
    std::lock_guard<std::mutex> lock(mu_);
    mode_ = m;
  }
  void set_decision(Decision d) {
    std::lock_guard<std::mutex> lock(mu_);
    decision_ = std::move(d);
  }

  void Authorize(std::shared_ptr<const IpcRequest> request, Clock::MonoTime deadline, Done done) override {
    Decision d;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request);
      deadlines_.push_back(deadline);
      if (mode_ == Mode::kHold) {
        held_.push_back(std::move(done));
        return;
      }
      d = decision_;
    }
    done(IpcReply::FromDecision(std::move(d)));
  }

  // Answers every held request with `d`, on the calling thread. Returns how many were answered.
  std::size_t CompleteAll(const Decision& d) {
    std::vector<Done> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& done : held) done(IpcReply::FromDecision(d));
    return held.size();
  }

  std::size_t held() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  std::vector<std::shared_ptr<const IpcRequest>> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::vector<Clock::MonoTime> deadlines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deadlines_;
  }

 private:
  mutable std::mutex mu_;
  Mode mode_;
  Decision decision_;
  std::vector<std::shared_ptr<const IpcRequest>> requests_;
  std::vector<Clock::MonoTime> deadlines_;
  std::vector<Done> held_;
};

class FakeSessionEventSink final : public SessionEventSink {
 public:
  void OnSessionEvent(std::shared_ptr<const IpcRequest> request) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(request));
  }
  void OnAdmitDelivered(std::shared_ptr<const IpcRequest> request, DecisionSource source) override {
    std::lock_guard<std::mutex> lock(mu_);
    admits_.emplace_back(std::move(request), source);
  }
  std::vector<std::shared_ptr<const IpcRequest>> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // Connects whose allow reached a waiting helper, with the decision's source.
  std::vector<std::pair<std::shared_ptr<const IpcRequest>, DecisionSource>> admits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return admits_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const IpcRequest>> events_;
  std::vector<std::pair<std::shared_ptr<const IpcRequest>, DecisionSource>> admits_;
};

}  // namespace oa::testing
