// Background threads that must yield to the decision path: a positive nice value for the calling thread only (on
// Linux the nice value is per thread, setpriority(2) with its tid). Used by the outbox writer and the event sender
// (events/): their work can wait milliseconds, a decision cannot, and on a 2-core machine the scheduler then runs a
// waking decision thread first. Nice, not SCHED_IDLE: under full load they still get a share, so commits and
// deliveries keep going. Header-only.
// Thread-safety: affects only the calling thread.
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace oa {

// Returns false when the kernel refused (the thread then keeps its priority; nothing else changes).
inline bool NiceThisThread(int nice) {
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  return ::setpriority(PRIO_PROCESS, tid, nice) == 0;
}

}  // namespace oa
