// The hand-written protobuf wire codec of ocserv_agent.v1.HelperRequest / HelperResponse (proto/ocserv_agent/v1/
// ipc.proto). The helper and the agent both use it, so the helper never loads libprotobuf (its start-up is paid on
// every VPN connection); tests/ipc/wire_crosscheck_test.cc pins it to the generated classes in both directions.
//
// Encoding is byte-identical to libprotobuf's (fields in number order, proto3 defaults omitted). Decoding accepts
// what libprotobuf accepts (unknown fields of every wire type skipped, groups included; repeated singular fields: the
// last wins; invalid UTF-8 in a string refused) with one deliberate exception: a known field sent with the wrong wire
// type is refused (kBadWireType), where libprotobuf would keep it as an unknown field — a request whose username is a
// varint is garbage, not a request with no username. The version is decoded, not checked: that is the caller's job.
//
// Pure functions, no allocation beyond the output objects; safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ipc/ipc_types.h"

namespace oa {

enum class WireError : std::uint8_t {
  kOk,
  kTruncated,     // a field runs past the end of the body
  kBadVarint,     // more than 10 bytes, or a tag that does not fit 32 bits
  kBadTag,        // field number 0, wire type 6/7, an end-group without its start, groups nested too deep
  kBadWireType,   // a known field with the wrong wire type
  kBadUtf8,       // a string field that is not valid UTF-8 (proto3 refuses those)
};

const char* WireErrorName(WireError e);

// Appends the message body (no frame header) to *out.
void EncodeRequest(const IpcRequest& req, std::string* out);
void EncodeResponse(const IpcResponse& resp, std::string* out);

// Decodes a body into *out (reset first). On error *out holds whatever was decoded before the error.
WireError DecodeRequest(std::string_view body, IpcRequest* out);
WireError DecodeResponse(std::string_view body, IpcResponse* out);

}  // namespace oa
