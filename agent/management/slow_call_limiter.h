// SlowCallLimiter: keeps slow management calls from taking every handler thread. The management server's handlers
// are synchronous on a bounded pool (kMaxHandlerThreads); a call that can last — a log follow (hours), an occtl
// command (up to command_timeout_max), a tier-3 health check — holds a thread throughout. Without a bound, one
// viewer with 31 follow streams left operators and admins with RESOURCE_EXHAUSTED for every call (issue 14 item 3).
//
// Each role has its own budget of slow calls, so a viewer can only exhaust the viewers' budget; the budgets together
// stay below the pool, so fast calls (HealthCheck tiers 1-2, GetStatus, SetFailMode, SetBreaker, InvalidateCache)
// always find a thread; and one identity may hold only a few log follows. A refused call gets RESOURCE_EXHAUSTED and
// is counted (ManagementCounters::slow_call_refused / follow_refused). Pure logic, no gRPC.
//
// Thread-safety: TryAcquire from any thread; a Slot releases its reservation when destroyed, on any thread.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "agent/config/management_options.h"
#include "agent/management/management_counters.h"

namespace oa {

struct SlowCallLimits {
  std::size_t per_role = 8;            // slow calls at once, for each of viewer / operator / admin
  std::size_t follows_per_identity = 4;  // StreamLogs(follow) streams at once per client identity
};

class SlowCallLimiter {
 public:
  class Slot {
   public:
    Slot(Slot&& other) noexcept : owner_(other.owner_), role_(other.role_), identity_(std::move(other.identity_)),
                                  follow_(other.follow_) {
      other.owner_ = nullptr;
    }
    Slot& operator=(Slot&&) = delete;
    ~Slot();

   private:
    friend class SlowCallLimiter;
    Slot(SlowCallLimiter* owner, ManagementRole role, std::string identity, bool follow)
        : owner_(owner), role_(role), identity_(std::move(identity)), follow_(follow) {}
    SlowCallLimiter* owner_;
    ManagementRole role_;
    std::string identity_;
    bool follow_;
  };

  SlowCallLimiter(SlowCallLimits limits, ManagementCounters& counters) : limits_(limits), counters_(counters) {}

  // A reservation, or RESOURCE_EXHAUSTED naming the budget that is full.
  struct Result {
    std::optional<Slot> slot;
    absl::Status status;
  };
  Result TryAcquire(ManagementRole role, std::string_view identity, bool follow);

  // Every role's budget together: what the handler pool must exceed for fast calls to always get through.
  std::size_t total_budget() const { return limits_.per_role * 3; }

 private:
  void Release(ManagementRole role, const std::string& identity, bool follow);

  const SlowCallLimits limits_;
  ManagementCounters& counters_;
  std::mutex mu_;
  std::array<std::size_t, 3> in_use_{};         // by role
  std::map<std::string, std::size_t, std::less<>> follows_;  // by identity
};

}  // namespace oa
