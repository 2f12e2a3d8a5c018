// ManagementAuthProcessor: the management port's check before any handler runs. Our own RPCs check and audit
// themselves (CallGate, first thing in each handler); every other call that reaches the port — gRPC's reflection
// service, whose handler is library code, or a method not in the role table — is checked here against the same
// AccessPolicy and audit-logged, so an unlisted identity gets UNAUTHENTICATED whatever it calls. A gRPC
// AuthMetadataProcessor because it is the one hook that can refuse a call with a status before its handler: a 1.51
// server interceptor can only observe or cancel.
//
// Thread-safety: immutable; gRPC calls Process on its own threads, for many calls at once. Process does not block
// (IsBlocking() is false), so it runs inline on the transport thread.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>

#include "agent/management/call_gate.h"

namespace oa {

class ManagementAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit ManagementAuthProcessor(const CallGate& gate) : gate_(gate) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  const CallGate& gate_;
};

}  // namespace oa
