// OcctlPort: what live enforcement needs from ocserv — the live sessions (`occtl --json show users`) and ending one
// (`occtl disconnect id N` or `terminate id N`). Blocking calls with a deadline; SessionEnforcer runs them on its own
// workers, never on the IPC loop or a gRPC thread. Tests substitute a fake; MakeOcctlPort builds the real one over
// agent/management's process runner and JSON parser.
//
// Thread-safety: implementations allow concurrent calls.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/authorizer/session_registry.h"
#include "agent/config/management_options.h"
#include "resilience/clock.h"

namespace oa {

class OcctlPort {
 public:
  virtual ~OcctlPort() = default;
  // Unavailable: occtl could not run or failed; DataLoss: its output was not the JSON expected.
  virtual absl::StatusOr<std::vector<SessionRecord>> ListSessions() = 0;
  // DeadlineExceeded when occtl did not return in time (it is killed); Unavailable when it failed.
  virtual absl::Status Disconnect(const std::string& session_id) = 0;
};

// The real port: ocserv.occtl_path / occtl_socket, disconnect_command, and `timeout` per call.
std::unique_ptr<OcctlPort> MakeOcctlPort(const OcservOptions& options, std::chrono::milliseconds timeout,
                                         const Clock& clock);

}  // namespace oa
