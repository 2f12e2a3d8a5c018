// The one mTLS channel recipe for everything the agent calls on the portal (AuthService, EventService): TLS files
// read and checked here, server-name override, keepalive, reconnect backoff. Includes gRPC: .cc files only.
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "agent/config/portal_options.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace oa {

// How long one connection attempt to the portal (TCP connect + TLS handshake) may take: portal.timeout — one
// attempt may take as long as one call may — but never less than kMinPortalConnectTimeout, the value that used to
// be fixed. A slower attempt is abandoned (calls waiting for it fail UNAVAILABLE) and retried with backoff.
inline constexpr std::chrono::milliseconds kMinPortalConnectTimeout{500};
std::chrono::milliseconds PortalConnectTimeout(const PortalOptions& options);

// The channel arguments of that recipe (server-name override, keepalive, reconnect backoff, no BDP probing), for
// MakePortalChannel and for benchmarks that open many such channels with credentials of their own.
grpc::ChannelArguments PortalChannelArguments(const PortalOptions& options);

// Fails, naming the key and the file, when a TLS file is missing, unreadable, empty or not PEM.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakePortalChannel(const PortalOptions& options);

}  // namespace oa
