// ocserv_agent.v1.AgentControl: status, cache invalidation, fail mode, breaker override (through ControlPlane) and
// ocserv session listing / disconnect (through occtl). Internal to agent/management (includes gRPC).
//
// Thread-safety: handlers run concurrently; ControlPlane is thread-safe by contract.
#pragma once

#include "agent/config/management_options.h"
#include "agent/management/call_gate.h"
#include "agent/management/control_plane.h"
#include "ocserv_agent/v1/control.grpc.pb.h"
#include "resilience/clock.h"

namespace oa {

class AgentControlImpl final : public ocserv_agent::v1::AgentControl::Service {
 public:
  AgentControlImpl(const CallGate& gate, const OcservOptions& ocserv, ControlPlane& control, const Clock& clock);

  grpc::Status GetStatus(grpc::ServerContext* context, const ocserv_agent::v1::GetStatusRequest* request,
                         ocserv_agent::v1::GetStatusResponse* response) override;
  grpc::Status InvalidateCache(grpc::ServerContext* context, const ocserv_agent::v1::InvalidateCacheRequest* request,
                               ocserv_agent::v1::InvalidateCacheResponse* response) override;
  grpc::Status SetFailMode(grpc::ServerContext* context, const ocserv_agent::v1::SetFailModeRequest* request,
                           ocserv_agent::v1::SetFailModeResponse* response) override;
  grpc::Status SetBreaker(grpc::ServerContext* context, const ocserv_agent::v1::SetBreakerRequest* request,
                          ocserv_agent::v1::SetBreakerResponse* response) override;
  grpc::Status ListSessions(grpc::ServerContext* context, const ocserv_agent::v1::ListSessionsRequest* request,
                            ocserv_agent::v1::ListSessionsResponse* response) override;
  grpc::Status DisconnectSession(grpc::ServerContext* context,
                                 const ocserv_agent::v1::DisconnectSessionRequest* request,
                                 ocserv_agent::v1::DisconnectSessionResponse* response) override;
  grpc::Status Revoke(grpc::ServerContext* context, const ocserv_agent::v1::RevokeRequest* request,
                      ocserv_agent::v1::RevokeResponse* response) override;
  grpc::Status Restore(grpc::ServerContext* context, const ocserv_agent::v1::RestoreRequest* request,
                       ocserv_agent::v1::RestoreResponse* response) override;

 private:
  const CallGate& gate_;
  const OcservOptions& ocserv_;
  ControlPlane& control_;
  const Clock& clock_;
};

}  // namespace oa
