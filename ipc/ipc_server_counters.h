// Counters of the IPC server: one per outcome and per kind of bad input, so that every degraded path is visible in
// metrics. Incremented by the event-loop thread; read from any thread through snapshot().
#pragma once

#include <atomic>
#include <cstdint>

namespace oa {

// X-macro so that the metrics exporter can walk every counter by name (see ForEachCounter). The second column is the
// kind: `error` (a refused or failed exchange: exported as one ipc_errors_total counter with the name as its reason
// label), `reply` (replies by kind) or `event` (everything else, a counter of its own).
#define OA_IPC_SERVER_COUNTERS(X)                                                                              \
  X(accepted, event)               /* connections accepted past the uid and connection-limit checks */                \
  X(refused_uid, error)            /* peer uid not in ipc.allowed_uids (or SO_PEERCRED failed): error reply, closed */ \
  X(too_many_connections, error)   /* ipc.max_connections already open: error reply, closed at once */                \
  X(refusal_reply_failed, error)   /* a refused peer (the two above) was gone before its error reply could be sent */  \
  X(accept_errors, error)          /* accept() failed (fd exhaustion...): accepting paused briefly */                 \
  X(bad_frame_zero_len, error)     /* frame header says 0 bytes */                                                    \
  X(oversize, error)               /* frame header above ipc.max_frame_bytes */                                       \
  X(truncated, error)              /* peer closed (or reset) in the middle of a frame */                              \
  X(closed_without_request, error) /* peer closed before sending a single byte */                                     \
  X(garbage, error)                /* complete frame whose body is not a valid HelperRequest */                       \
  X(bad_version, error)            /* valid HelperRequest with a version we do not speak */                           \
  X(bad_request, error)            /* valid frame, unknown REASON */                                                  \
  X(read_timeout, error)           /* no complete request within ipc.read_timeout (includes peers that send nothing) */ \
  X(write_timeout, error)          /* reply not taken by the peer within ipc.read_timeout (peer never reads) */       \
  X(peer_gone, error)              /* peer closed or reset before its reply was written */                            \
  X(backstop_timeouts, error)      /* the authorizer never answered: the server denied (fail_close) */                \
  X(late_completions, event)       /* the authorizer answered after the backstop or after the peer left */            \
  X(session_events, event)         /* host-update / disconnect acknowledged and handed to the sink */                 \
  X(replies_allow, reply)                                                                                             \
  X(replies_deny, reply)                                                                                              \
  X(replies_ack, reply)                                                                                               \
  X(replies_error, reply)          /* error replies (bad frame, bad version, ...) */                                  \
  X(abandoned_at_stop, error)      /* connections still open when Stop's grace period ended */

struct IpcServerCounters {
#define OA_X(name, kind) std::atomic<std::uint64_t> name{0};
  OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X

  struct Snapshot {
#define OA_X(name, kind) std::uint64_t name = 0;
    OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X
  };

  Snapshot snapshot() const {
    Snapshot s;
#define OA_X(name, kind) s.name = name.load(std::memory_order_relaxed);
    OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X
    return s;
  }
};

// Calls f("name", value) for every counter of a snapshot.
template <class F>
void ForEachCounter(const IpcServerCounters::Snapshot& s, F&& f) {
#define OA_X(name, kind) f(#name, s.name);
  OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X
}

enum class IpcCounterKind { kError, kReply, kEvent };

// Calls f("name", kind, value) for every counter of a snapshot.
template <class F>
void ForEachCounterWithKind(const IpcServerCounters::Snapshot& s, F&& f) {
  [[maybe_unused]] constexpr auto error = IpcCounterKind::kError;
  [[maybe_unused]] constexpr auto reply = IpcCounterKind::kReply;
  [[maybe_unused]] constexpr auto event = IpcCounterKind::kEvent;
#define OA_X(name, kind) f(#name, kind, s.name);
  OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X
}

}  // namespace oa
