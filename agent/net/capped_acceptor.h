// CappedAcceptor: the accept loop of a TCP server that cannot bound its own connections — gRPC 1.51 has no
// connection limit, and keeps a peer that never starts TLS until its handshake timeout — so that a flood of plain
// TCP connections cannot take the process's descriptor table (shared with the IPC socket VPN logins go through).
// It accepts on its own thread, hands each connection to the server (`hand_off`, which takes ownership of the fd),
// and keeps at most `max_connections` of them open: past that, a new connection is closed at once.
//
// The server closes the connections, not this class, so it tells which are still open by the socket cookie
// (SO_COOKIE: unique per socket for the kernel's lifetime, so a descriptor number reused by another socket is not
// mistaken for the old connection). It re-checks them when the cap is reached and once a second.
//
// accept() failing for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) leaves the listen socket
// readable: the loop stops watching it for `accept_pause` instead of spinning. Each refusal and each accept error
// is counted and logged at warning, rate-limited.
//
// Lifecycle: construct with a listening non-blocking socket (owned), Start(), Stop() (idempotent; the destructor
// calls it). Thread-safety: Start/Stop from one thread; counters() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "resilience/clock.h"

namespace oa {

struct CappedAcceptorOptions {
  std::string name = "server";  // for log lines ("management: ...")
  std::size_t max_connections = 128;
  std::chrono::milliseconds accept_pause{100};
};

struct CappedAcceptorCounters {
  std::uint64_t accepted = 0;        // handed to the server
  std::uint64_t refused_at_cap = 0;  // closed at once: max_connections were open
  std::uint64_t accept_errors = 0;   // accept() failed (descriptor exhaustion...): accepts paused
  std::uint64_t open = 0;            // connections handed over and still open, as of the last check
};

class CappedAcceptor {
 public:
  // Called on the acceptor's thread for each admitted connection; takes ownership of `fd`.
  using HandOff = std::function<void(int listener_fd, int fd)>;

  CappedAcceptor(int listener_fd, CappedAcceptorOptions options, HandOff hand_off, const Clock& clock);
  ~CappedAcceptor();
  CappedAcceptor(const CappedAcceptor&) = delete;
  CappedAcceptor& operator=(const CappedAcceptor&) = delete;

  absl::Status Start();
  // Stops accepting and closes the listen socket; connections already handed over stay with the server.
  void Stop();

  CappedAcceptorCounters counters() const;

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace oa
