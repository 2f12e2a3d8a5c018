// ManagementServer: the agent's management gRPC endpoint — agent.v1.AgentService (wire-compatible with existing
// portals) and ocserv_agent.v1.AgentControl — on `management.listen`, over TLS with a required client certificate
// verified against `management.client_ca`, each RPC gated by the caller's role (access_policy.h) and audit-logged —
// server reflection too, when enabled (management_auth_processor.h).
// No gRPC types in this header: the daemon includes it cheaply.
//
// Lifecycle: construct, Start() (binds; port 0 picks a free port, see port()), Stop(grace) (Shutdown with a deadline:
// in-flight calls get `grace`, then are cancelled; then Wait). The destructor stops it if needed.
// Thread-safety: Start/Stop from one thread; counters() from any.
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "agent/config/management_options.h"
#include "agent/management/control_plane.h"
#include "agent/management/management_counters.h"
#include "common/log_ring.h"
#include "resilience/clock.h"

namespace oa {

class ManagementServer {
 public:
  ManagementServer(ManagementOptions management, OcservOptions ocserv, ControlPlane& control, const Clock& clock,
                   std::shared_ptr<LogRing> logs);
  ~ManagementServer();
  ManagementServer(const ManagementServer&) = delete;
  ManagementServer& operator=(const ManagementServer&) = delete;

  // Reads the certificate, key and client CA files and binds. An error names the file or the address.
  absl::Status Start();
  // The bound port (after Start).
  int port() const;
  void Stop(std::chrono::milliseconds grace);

  ManagementCounters::Snapshot counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace oa
