// OcctlPort: what live enforcement needs from ocserv — the live sessions (`occtl --json show users`) and ending one
// (`occtl disconnect id N` or `terminate id N`), each call with a deadline. MakeOcctlPort builds the real one over
// agent/management's process runner and JSON parser; tests and the simulation substitute fakes.
//
// Two forms of each call:
//   - blocking (ListSessions, Disconnect): what a fake implements;
//   - supervised (StartListSessions, StartDisconnect, then Poll): SessionEnforcer's one occtl thread keeps up to
//     `disconnect_concurrency` calls in flight at once. Start* begins the call and returns; its `done` runs later
//     inside Poll, on the thread that polls. The defaults run the blocking form inside Start* (a fake needs nothing
//     else, and its calls complete one at a time); the real port starts a child and Poll waits on all of them at
//     once (pidfds and pipes), killing and reaping each at its own deadline.
//
// Thread-safety: the blocking forms from any thread, concurrently. Start* and Poll from one thread at a time (the
// supervisor); Wake from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/authorizer/session_registry.h"
#include "agent/config/management_options.h"
#include "resilience/clock.h"

namespace oa {

class OcctlPort {
 public:
  using ListDone = std::function<void(absl::StatusOr<std::vector<SessionRecord>>)>;
  using DisconnectDone = std::function<void(absl::Status)>;

  virtual ~OcctlPort() = default;
  // Unavailable: occtl could not run or failed; DeadlineExceeded: it did not return in time (it is killed);
  // DataLoss: its output was not the JSON expected.
  virtual absl::StatusOr<std::vector<SessionRecord>> ListSessions() = 0;
  // DeadlineExceeded when occtl did not return in time (it is killed); Unavailable when it failed.
  virtual absl::Status Disconnect(const std::string& session_id) = 0;

  // The supervised form: the same outcomes, delivered to `done` (exactly once).
  virtual void StartListSessions(ListDone done) { done(ListSessions()); }
  virtual void StartDisconnect(const std::string& session_id, DisconnectDone done) { done(Disconnect(session_id)); }
  // Runs the `done` of the calls that ended (or reached their deadline: killed, reaped, DeadlineExceeded). Waits at
  // most `max_wait` for one to end, or until Wake(); returns at once when nothing is in flight.
  virtual void Poll(std::chrono::milliseconds max_wait) { (void)max_wait; }
  // Makes a Poll in progress (or the next one) return soon: new work for the supervisor, or it is stopping.
  virtual void Wake() {}
};

// The real port: ocserv.occtl_path / occtl_socket, disconnect_command, and `timeout` per call.
std::unique_ptr<OcctlPort> MakeOcctlPort(const OcservOptions& options, std::chrono::milliseconds timeout,
                                         const Clock& clock);

}  // namespace oa
