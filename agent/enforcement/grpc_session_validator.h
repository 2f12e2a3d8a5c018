// MakeGrpcSessionValidator: re-checks a live session with the portal — vpn.v1.AuthService/ValidateSession, and
// CheckPolicy with the session's recorded fields (username, groupname, client_ip, vpn_ip, session_id) once the
// portal has answered UNIMPLEMENTED (remembered: later re-checks go straight to CheckPolicy). Every call has
// `timeout` as its deadline. valid=false or force_disconnect (ValidateSession), allowed=false or should_disconnect
// (CheckPolicy) mean invalid; any gRPC error is an Error and keeps the session.
// Shares the portal channel. Thread-safety: Validate from any thread; `done` runs on a gRPC thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "agent/enforcement/session_validator.h"
#include "resilience/clock.h"

namespace grpc {
class Channel;
}

namespace oa {

std::unique_ptr<SessionValidator> MakeGrpcSessionValidator(std::shared_ptr<grpc::Channel> channel,
                                                           std::chrono::milliseconds timeout, std::string agent_id,
                                                           const Clock& clock);

}  // namespace oa
