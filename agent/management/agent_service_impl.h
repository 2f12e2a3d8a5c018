// agent.v1.AgentService as the portal already calls it (wire-compatible): HealthCheck, ExecuteCommand (allow-listed
// occtl only), UpdateConfig (per-user / per-group files; MAIN only when enabled), StreamLogs (the agent's own log
// ring). Internal to agent/management (includes gRPC); ManagementServer owns it.
//
// StreamLogs is a callback method (log_stream_reactor.h): a follow holds no handler thread while it waits for lines.
//
// Thread-safety: handlers run concurrently on gRPC's threads; all state is immutable or thread-safe.
#pragma once

#include <atomic>
#include <memory>

#include "agent/config/management_options.h"
#include "agent/management/call_gate.h"
#include "agent/management/health_checks.h"
#include "agent/management/log_stream_reactor.h"
#include "agent/v1/agent.grpc.pb.h"
#include "common/log_ring.h"
#include "resilience/clock.h"

namespace oa {

class AgentServiceImpl final
    : public agent::v1::AgentService::WithCallbackMethod_StreamLogs<agent::v1::AgentService::Service> {
 public:
  AgentServiceImpl(const CallGate& gate, const ManagementOptions& management, const OcservOptions& ocserv,
                   const HealthChecker& health, std::shared_ptr<LogRing> logs, const Clock& clock,
                   const std::atomic<bool>& stopping);

  grpc::Status ExecuteCommand(grpc::ServerContext* context, const agent::v1::CommandRequest* request,
                              agent::v1::CommandResponse* response) override;
  grpc::Status UpdateConfig(grpc::ServerContext* context, const agent::v1::ConfigUpdateRequest* request,
                            agent::v1::ConfigUpdateResponse* response) override;
  grpc::Status HealthCheck(grpc::ServerContext* context, const agent::v1::HealthCheckRequest* request,
                           agent::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<agent::v1::LogEntry>* StreamLogs(grpc::CallbackServerContext* context,
                                                           const agent::v1::LogStreamRequest* request) override;

  // Ends every StreamLogs stream (OK) now; call after setting `stopping`, before the server's Shutdown.
  void StopLogStreams() { log_streams_.StopAll(); }
  std::size_t live_log_streams() const { return log_streams_.live(); }

 private:
  const CallGate& gate_;
  const ManagementOptions& management_;
  const OcservOptions& ocserv_;
  const HealthChecker& health_;
  std::shared_ptr<LogRing> logs_;
  const Clock& clock_;
  LogStreams log_streams_;
};

}  // namespace oa
