// Strict receive of unary replies from the portal, shared by the portal client and the session reporter.
//
// Why not the generated stub: gRPC 1.51's callback unary path (grpcpp/support/client_callback.h,
// CallbackUnaryCallImpl) sets AllowNoMessage() and ignores the "ok" bit of its op set, so the completion sees only the
// status from the trailers. An OK status with no message then leaves the reply all-default (a Deny), and a reply that
// fails to parse half-way leaves the fields parsed so far (e.g. allowed=true followed by garbage became an Allow).
// Calls are therefore made with grpc::GenericStub on grpc::ByteBuffer — same method path, same request bytes — and
// the reply is parsed here, where "no message" and "did not parse completely" are told apart from a verdict.
//
// Includes gRPC and protobuf headers: .cc files only. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"

namespace oa {

// The request, serialized exactly as the generated stub would (protobuf's serializer).
grpc::ByteBuffer SerializeRequest(const google::protobuf::MessageLite& request);

// Parses what an OK call received into `reply`. Returns OK, or (never a verdict) why the reply cannot be believed:
//  - no message at all (the server sent trailers only),
//  - more than `max_bytes` (checked before parsing, so that a huge reply costs no parse time),
//  - bytes that do not parse as `reply`'s type to the end.
// A zero-length message is a valid encoding of the all-default message (proto3) and parses.
absl::Status ParseReplyStrictly(grpc::ByteBuffer* received, std::size_t max_bytes,
                                google::protobuf::MessageLite* reply);

// "/<package>.<Service>/<method>", the HTTP/2 :path of a unary method (as the generated stub spells it).
std::string MethodPath(const std::string& service_full_name, const char* method);

}  // namespace oa
