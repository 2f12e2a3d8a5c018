#include "agent/portal/strict_reply.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace oa {

grpc::ByteBuffer SerializeRequest(const google::protobuf::MessageLite& request) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  // What the generated stub's SerializationTraits do for every protobuf message; it fails only above 2 GiB.
  (void)grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::MessageLite>(request, &buffer, &own_buffer);
  return buffer;
}

absl::Status ParseReplyStrictly(grpc::ByteBuffer* received, std::size_t max_bytes,
                                google::protobuf::MessageLite* reply) {
  if (!received->Valid()) return absl::InternalError("the call succeeded without a reply message");
  const std::size_t size = received->Length();
  if (size > max_bytes) {
    return absl::InternalError(absl::StrCat("reply of ", size, " bytes exceeds the limit of ", max_bytes));
  }
  reply->Clear();
  grpc::ProtoBufferReader reader(received);
  // ParseFromZeroCopyStream consumes the whole stream or fails: trailing bytes that are not valid fields fail it.
  if (!reply->ParseFromZeroCopyStream(&reader) || !reader.status().ok()) {
    reply->Clear();  // never leave a half-parsed reply for anyone to read
    return absl::InternalError(absl::StrCat("reply of ", size, " bytes does not parse as ", reply->GetTypeName()));
  }
  return absl::OkStatus();
}

std::string MethodPath(const std::string& service_full_name, const char* method) {
  return absl::StrCat("/", service_full_name, "/", method);
}

}  // namespace oa
