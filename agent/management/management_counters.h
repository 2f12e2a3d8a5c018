// Counters of the management API: every call, and every refusal by kind. Plain atomics, read through a snapshot.
//
// Thread-safety: increments and snapshot() from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace oa {

// Each counter declared once: the atomic, its snapshot field and the copy are generated from this list.
#define OA_MANAGEMENT_COUNTERS(X)                                                                               \
  X(calls)                                                                                                     \
  X(ok)                                                                                                        \
  X(unauthenticated)    /* verified certificate, identity not listed */                                         \
  X(permission_denied)  /* listed, role too low */                                                              \
  X(invalid_argument)   /* refused input (command injection attempts, bad names, ...) */                        \
  X(failed)             /* any other non-OK status */                                                           \
  X(commands_run)       /* occtl processes started */                                                           \
  X(commands_timed_out) /* occtl killed at its deadline */                                                      \
  X(config_writes)      /* files actually replaced by UpdateConfig */                                           \
  X(slow_call_refused)  /* RESOURCE_EXHAUSTED: the caller's role had its slow-call budget in use */             \
  X(follow_refused)     /* RESOURCE_EXHAUSTED: the identity already had its log follows open */

struct ManagementCounters {
  struct Snapshot {
#define OA_X(name) std::uint64_t name = 0;
    OA_MANAGEMENT_COUNTERS(OA_X)
#undef OA_X
    // Connections (CappedAcceptor), filled in by ManagementServer::counters().
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_refused_at_cap = 0;
    std::uint64_t accept_errors = 0;
    std::uint64_t connections_open = 0;
  };

#define OA_X(name) std::atomic<std::uint64_t> name{0};
  OA_MANAGEMENT_COUNTERS(OA_X)
#undef OA_X

  Snapshot snapshot() const {
    Snapshot s;
#define OA_X(name) s.name = name.load();
    OA_MANAGEMENT_COUNTERS(OA_X)
#undef OA_X
    return s;
  }
};

}  // namespace oa
