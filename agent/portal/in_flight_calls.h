// InFlightCalls: the calls a gRPC client has started and not yet finished, so that it can refuse new calls after
// shutdown, bound how many run at once, and at shutdown wait for them (then cancel the rest) until every completion
// callback has returned. Shared by the portal client and the event reporter. Includes a gRPC header: .cc files only.
// Thread-safety: all methods may be called from any thread; Shutdown must not be called from a completion callback
// of a call it tracks (it would wait for itself).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <unordered_set>

#include "grpcpp/client_context.h"

namespace oa {

class InFlightCalls {
 public:
  enum class Admit { kAdmitted, kShutDown, kFull };

  // Starts tracking a call whose context is `context` unless shut down or `limit` calls are already in flight.
  Admit TryAdd(grpc::ClientContext* context, std::size_t limit = std::numeric_limits<std::size_t>::max()) {
    std::lock_guard lock(mu_);
    if (shut_down_) return Admit::kShutDown;
    if (pending_ >= limit) return Admit::kFull;
    contexts_.insert(context);
    ++pending_;
    return Admit::kAdmitted;
  }

  // The call finished: its context may be destroyed after this returns (Shutdown no longer touches it).
  void Forget(grpc::ClientContext* context) {
    std::lock_guard lock(mu_);
    contexts_.erase(context);
  }

  // The call's completion callback has returned: the owner may be destroyed once the last one says so.
  void Done() {
    std::lock_guard lock(mu_);
    if (--pending_ == 0) idle_.notify_all();
  }

  // Refuses new calls, waits up to `grace`, cancels what is left, waits for every Done(). Returns how many were
  // cancelled. Idempotent.
  std::size_t Shutdown(std::chrono::milliseconds grace) {
    std::unique_lock lock(mu_);
    shut_down_ = true;
    std::size_t cancelled = 0;
    if (!idle_.wait_for(lock, grace, [this] { return pending_ == 0; })) {
      // Forget() takes mu_ before a context can go, so every context in the set is alive here.
      for (grpc::ClientContext* context : contexts_) context->TryCancel();
      cancelled = contexts_.size();
      idle_.wait(lock, [this] { return pending_ == 0; });
    }
    return cancelled;
  }

  std::uint64_t pending() const {
    std::lock_guard lock(mu_);
    return pending_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable idle_;
  bool shut_down_ = false;                           // guarded by mu_
  std::unordered_set<grpc::ClientContext*> contexts_;  // guarded by mu_
  std::uint64_t pending_ = 0;                        // admitted and Done() not yet called; guarded by mu_
};

}  // namespace oa
