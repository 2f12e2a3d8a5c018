// Load generators of the IPC bench. Every request is its own Unix-socket connection, as the connect-script helper
// does it: socket, connect, send one frame, read the whole reply, close. Latency of a request: CLOCK_MONOTONIC from
// just before socket()/connect() to the reply's last byte read (before close).
//   kEpoll            one epoll thread (or `threads` of them) keeping `connections` requests in flight: nonblocking
//                     socket + connect (EAGAIN, a full listen backlog, is retried after the next epoll round), send
//                     the frame, wait for EPOLLIN, one read into a buffer that holds the largest reply, close, next.
//   kBlockingThreads  the bench's original client: `connections` blocking threads, each connect, send, recv of the
//                     4-byte header and recv of the body (MSG_WAITALL), close.
// RunLoad runs in the calling process; LoadChild runs it in a forked process (own fd table and mm, so the client's
// socket()/close() do not contend with the server's accept()/close() on one fd table), latencies coming back
// through a MAP_SHARED array mapped before the fork, and the small command and result structs through pipes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace oa::bench {

enum class ClientKind : int { kEpoll, kBlockingThreads };

struct LoadSpec {
  ClientKind kind = ClientKind::kEpoll;
  int connections = 1;      // requests in flight (kBlockingThreads: one thread each)
  int threads = 1;          // kEpoll: client threads, each with its share of the connections (capped at connections)
  long long requests = 0;   // in total, split over the connections
};

struct LoadStats {
  long long ok = 0;               // requests with a complete reply; their latencies are the first `ok` entries
  long long failures = 0;         // connect/send/read errors, short or malformed replies, stall timeouts
  long long connect_eagain = 0;   // connect() calls that returned EAGAIN (listen backlog full) and were retried
  int first_errno = 0;            // of the first failure
  double seconds = 0;             // wall time of the whole load
  std::int64_t client_cpu_ns = 0; // CPU time (user+sys) of the client threads during the load
};

// Runs `spec` against the Unix socket at `path` from this process. `lat` must hold spec.requests entries; the
// latencies (ns) of the successful requests land in lat[0, ok).
LoadStats RunLoad(const std::string& path, const std::string& frame, const LoadSpec& spec, std::int64_t* lat);

// A forked load process: the constructor forks at once (so call it while the process has a single thread) and the
// child waits for Run() commands. The child dies with the parent (PR_SET_PDEATHSIG) and exits when destroyed.
class LoadChild {
 public:
  // `paths`: the sockets Run() picks from by index. `capacity`: the most requests of one Run(). `cpu` >= 0: the
  // child pins itself (and so every client thread) to that CPU.
  LoadChild(const std::vector<std::string>& paths, const std::string& frame, long long capacity, int cpu);
  ~LoadChild();
  LoadChild(const LoadChild&) = delete;
  LoadChild& operator=(const LoadChild&) = delete;

  // Runs one load in the child and waits for it. Exits the process if the child is gone.
  LoadStats Run(int target, const LoadSpec& spec, std::vector<std::int64_t>* lat);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int cmd_fd_ = -1, res_fd_ = -1;
  long long capacity_ = 0;
  std::int64_t* shm_ = nullptr;
};

}  // namespace oa::bench
