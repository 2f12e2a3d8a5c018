// The real PortalClient: vpn.v1.AuthService/CheckPolicy over one mTLS gRPC channel, with the callback API so that no
// thread waits per outstanding call. Only the factory is public; callers hold the PortalClient interface.
// Thread-safety: see portal_client.h.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/config/portal_options.h"
#include "agent/portal/portal_client.h"
#include "resilience/clock.h"

namespace grpc {
class Channel;
}

namespace oa {

// Reads portal.ca_file, cert_file and key_file (all required: the link is mutual TLS) and builds the channel. Fails,
// naming the key and the file, when one is missing, unreadable, empty or not PEM. The channel connects lazily: an
// unreachable portal is not an error here but on each call (kError, UNAVAILABLE). `clock` must outlive the client;
// it stamps request_time.
absl::StatusOr<std::unique_ptr<PortalClient>> MakeGrpcPortalClient(const PortalOptions& options, const Clock& clock);

// The same client on a channel made by the caller (MakePortalChannel), so that CheckPolicy and the policy stream share
// one connection to the portal.
std::unique_ptr<PortalClient> MakeGrpcPortalClient(std::shared_ptr<grpc::Channel> channel, const Clock& clock,
                                                   std::string address);

}  // namespace oa
