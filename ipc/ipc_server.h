// IpcServer: the agent's side of the helper socket (docs/architecture.md#flow). One event-loop thread (epoll,
// ipc_server.cc) serves every connection, each an IpcConnection (ipc_connection.h): accept (past
// ipc.max_connections, or a SO_PEERCRED uid not in ipc.allowed_uids: an error reply, then close — so a helper never
// takes a refusal for an outage), read one framed HelperRequest within ipc.read_timeout, ask the Authorizer
// (connect) or acknowledge at once and hand to the SessionEventSink (host-update / disconnect), write the reply
// without blocking anyone else, close. Bad input of every kind is cut off with a counter (ipc_server_counters.h) and
// a rate-limited warning. The server writes the one audit line per connect decision (info level: request id, user,
// group, ip, verdict, source, latency from accept to reply), so the authorizer does not need to.
//
// Thread-safety: Start/Stop/destructor from one controlling thread; counters() and open_connections() from any
// thread. The authorizer's `done` may be called from any thread (see ipc/authorizer.h).
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "ipc/authorizer.h"
#include "ipc/ipc_server_counters.h"
#include "ipc/server_options.h"
#include "resilience/clock.h"

namespace oa {
namespace testing {
class IpcServerPeer;
}  // namespace testing

// Knobs that are not configuration: tests and benchmarks only.
struct IpcServerTuning {
  int send_buffer_bytes = 0;  // SO_SNDBUF of accepted sockets; 0 = the kernel's default
};

class IpcServer {
 public:
  // `authorizer`, `events` (may be null: events are then only counted) and `clock` must outlive the server.
  IpcServer(IpcServerOptions options, Authorizer& authorizer, SessionEventSink* events, const Clock& clock,
            IpcServerTuning tuning = {});
  ~IpcServer();  // Stop(0) if still running
  IpcServer(const IpcServer&) = delete;
  IpcServer& operator=(const IpcServer&) = delete;

  // Creates the socket directory (0755) if missing, refuses to start if a live agent answers on socket_path
  // (FailedPrecondition), replaces a stale socket file, binds with socket_mode, starts the loop thread.
  absl::Status Start();

  // Stops accepting (and removes the socket file if it is still ours), lets connections in flight finish for up to
  // `grace` (real time, not the injected clock: this is process shutdown), then closes the rest. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  IpcServerCounters::Snapshot counters() const;
  // Connections currently open.
  std::size_t open_connections() const;

 private:
  // Tests only (tests/ipc/ipc_server_peer.h): the loop sleeps in epoll_wait on the real clock, so a test that
  // advances a FakeClock past a read, backstop or write deadline must wake it to see the new time. Production never
  // needs it: real time wakes the loop.
  friend class testing::IpcServerPeer;
  void WakeLoop();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace oa
