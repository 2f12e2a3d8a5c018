// Framing on the helper <-> agent socket: a 4-byte big-endian body length, then the protobuf body. One request and
// one response per connection. Pure functions; safe from any thread. The helper links this too (no libprotobuf).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ipc/ipc_types.h"

namespace oa {

inline constexpr std::size_t kFrameHeaderBytes = 4;
// The helper refuses a response body larger than this (the agent never sends one near it).
inline constexpr std::uint32_t kMaxResponseBodyBytes = 65536;

enum class FrameState : std::uint8_t {
  kNeedMore,    // not all of the header or body is buffered yet
  kComplete,    // body_len bytes of body follow the header
  kZeroLength,  // the header says 0: never a valid message from our peers
  kOversize,    // the header says more than the cap
};

struct FrameCheck {
  FrameState state = FrameState::kNeedMore;
  std::uint32_t body_len = 0;  // known once the header is buffered (kNeedMore with >= 4 bytes, kComplete, kOversize)
};

// Looks at the bytes buffered so far from the start of a connection.
FrameCheck CheckFrame(std::string_view buffered, std::uint32_t max_body_bytes);

// Appends header + body. The *Frame functions encode the message straight after a patched header.
void AppendFrame(std::string_view body, std::string* out);
void EncodeRequestFrame(const IpcRequest& req, std::string* out);
void EncodeResponseFrame(const IpcResponse& resp, std::string* out);

std::uint32_t ReadBigEndian32(const void* p);

}  // namespace oa
