// The one mTLS channel recipe for everything the agent calls on the portal (AuthService, EventService): TLS files
// read and checked here, server-name override, keepalive, reconnect backoff. Includes gRPC: .cc files only.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "agent/config/portal_options.h"
#include "grpcpp/channel.h"

namespace oa {

// Fails, naming the key and the file, when a TLS file is missing, unreadable, empty or not PEM.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakePortalChannel(const PortalOptions& options);

}  // namespace oa
