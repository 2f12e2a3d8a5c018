// A PortalSimControl client for the benchmarks: makes the reference portal process (`ocserv-portal-sim`, started by
// integration::SimProcess) publish a Revoke and reads its counters, over mTLS with the dev PKI. Header-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "harness.h"
#include "ocserv_agent/v1/portal_sim.grpc.pb.h"

namespace oa::bench {

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The sim's control service (same port, same mTLS as AuthService and PolicyWatch).
class SimControl {
 public:
  explicit SimControl(const std::string& address) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadWholeFile(integration::Pki("ca.pem"));
    tls.pem_cert_chain = ReadWholeFile(integration::Pki("agent-client.pem"));
    tls.pem_private_key = ReadWholeFile(integration::Pki("agent-client.key"));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("portal.test");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection, not the agent side's
    stub_ = ocserv_agent::v1::PortalSimControl::NewStub(
        grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args));
  }

  // Publishes Revoke{user}; returns the version the sim gave it.
  absl::StatusOr<std::uint64_t> RevokeUser(const std::string& username, const std::string& reason) {
    ocserv_agent::v1::PublishPolicyEventRequest req;
    auto* revoke = req.mutable_event()->mutable_revoke();
    revoke->mutable_subject()->set_username(username);
    revoke->set_reason(reason);
    ocserv_agent::v1::PublishPolicyEventResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    const grpc::Status s = stub_->PublishPolicyEvent(&ctx, req, &resp);
    if (!s.ok()) return absl::UnavailableError("PublishPolicyEvent: " + s.error_message());
    return resp.version();
  }

  absl::StatusOr<ocserv_agent::v1::PortalSimStats> Stats() {
    ocserv_agent::v1::PortalSimStats out;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    const grpc::Status s = stub_->GetStats(&ctx, {}, &out);
    if (!s.ok()) return absl::UnavailableError("GetStats: " + s.error_message());
    return out;
  }

 private:
  static void Prepare(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ctx->set_wait_for_ready(true);
  }
  std::unique_ptr<ocserv_agent::v1::PortalSimControl::Stub> stub_;
};

}  // namespace oa::bench
