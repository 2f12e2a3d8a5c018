#include "agent/management/management_auth_processor.h"

#include <string>

namespace oa {

grpc::Status ManagementAuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                              OutputMetadata*, OutputMetadata*) {
  // gRPC hands the processor the call's initial metadata, the :path pseudo-header (the full method name) included.
  // Without it nothing is known about the call: "" is in no table, so it is refused.
  std::string rpc;
  if (const auto path = auth_metadata.find(":path"); path != auth_metadata.end()) {
    rpc.assign(path->second.data(), path->second.size());
  }
  if (CheckedByHandler(rpc)) return grpc::Status::OK;
  auto call = gate_.Admit(context, rpc);
  if (!call.admitted()) return call.Finish(call.refusal());
  // The call goes on to a handler that does not audit: this line is its audit record.
  return call.Finish(grpc::Status::OK, "admitted_before_handler");
}

}  // namespace oa
