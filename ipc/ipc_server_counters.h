// Counters of the IPC server: one per outcome and per kind of bad input, so that every degraded path is visible in
// metrics. Incremented by the event-loop thread; read from any thread through snapshot().
#pragma once

#include <atomic>
#include <cstdint>

namespace oa {

// X-macro so that the metrics exporter can walk every counter by name (see ForEachCounter).
#define OA_IPC_SERVER_COUNTERS(X)                                                                              \
  X(accepted)               /* connections accepted past the uid and connection-limit checks */                \
  X(refused_uid)            /* peer uid not in ipc.allowed_uids (or SO_PEERCRED failed): error reply, closed */ \
  X(too_many_connections)   /* ipc.max_connections already open: error reply, closed at once */                \
  X(refusal_reply_failed)   /* a refused peer (the two above) was gone before its error reply could be sent */  \
  X(accept_errors)          /* accept() failed (fd exhaustion...): accepting paused briefly */                 \
  X(bad_frame_zero_len)     /* frame header says 0 bytes */                                                    \
  X(oversize)               /* frame header above ipc.max_frame_bytes */                                       \
  X(truncated)              /* peer closed (or reset) in the middle of a frame */                              \
  X(closed_without_request) /* peer closed before sending a single byte */                                     \
  X(garbage)                /* complete frame whose body is not a valid HelperRequest */                       \
  X(bad_version)            /* valid HelperRequest with a version we do not speak */                           \
  X(bad_request)            /* valid frame, unknown REASON */                                                  \
  X(read_timeout)           /* no complete request within ipc.read_timeout (includes peers that send nothing) */ \
  X(write_timeout)          /* reply not taken by the peer within ipc.read_timeout (peer never reads) */       \
  X(peer_gone)              /* peer closed or reset before its reply was written */                            \
  X(backstop_timeouts)      /* the authorizer never answered: the server denied (fail_close) */                \
  X(late_completions)       /* the authorizer answered after the backstop or after the peer left */            \
  X(session_events)         /* host-update / disconnect acknowledged and handed to the sink */                 \
  X(replies_allow)                                                                                             \
  X(replies_deny)                                                                                              \
  X(replies_ack)                                                                                               \
  X(replies_error)          /* error replies (bad frame, bad version, ...) */                                  \
  X(abandoned_at_stop)      /* connections still open when Stop's grace period ended */

struct IpcServerCounters {
#define OA_X(name) std::atomic<std::uint64_t> name{0};
  OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X

  struct Snapshot {
#define OA_X(name) std::uint64_t name = 0;
    OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X
  };

  Snapshot snapshot() const {
    Snapshot s;
#define OA_X(name) s.name = name.load(std::memory_order_relaxed);
    OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X
    return s;
  }
};

// Calls f("name", value) for every counter of a snapshot.
template <class F>
void ForEachCounter(const IpcServerCounters::Snapshot& s, F&& f) {
#define OA_X(name) f(#name, s.name);
  OA_IPC_SERVER_COUNTERS(OA_X)
#undef OA_X
}

}  // namespace oa
