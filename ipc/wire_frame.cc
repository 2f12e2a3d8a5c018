#include "ipc/wire_frame.h"

#include "ipc/wire_codec.h"

namespace oa {
namespace {

void PatchHeader(std::size_t header_at, std::string* out) {
  const auto len = static_cast<std::uint32_t>(out->size() - header_at - kFrameHeaderBytes);
  (*out)[header_at + 0] = static_cast<char>(len >> 24);
  (*out)[header_at + 1] = static_cast<char>(len >> 16);
  (*out)[header_at + 2] = static_cast<char>(len >> 8);
  (*out)[header_at + 3] = static_cast<char>(len);
}

}  // namespace

std::uint32_t ReadBigEndian32(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

FrameCheck CheckFrame(std::string_view buffered, std::uint32_t max_body_bytes) {
  FrameCheck c;
  if (buffered.size() < kFrameHeaderBytes) return c;
  c.body_len = ReadBigEndian32(buffered.data());
  if (c.body_len == 0) {
    c.state = FrameState::kZeroLength;
  } else if (c.body_len > max_body_bytes) {
    c.state = FrameState::kOversize;
  } else if (buffered.size() - kFrameHeaderBytes >= c.body_len) {
    c.state = FrameState::kComplete;
  }
  return c;
}

void AppendFrame(std::string_view body, std::string* out) {
  const std::size_t at = out->size();
  out->append(kFrameHeaderBytes, '\0');
  out->append(body);
  PatchHeader(at, out);
}

void EncodeRequestFrame(const IpcRequest& req, std::string* out) {
  const std::size_t at = out->size();
  out->append(kFrameHeaderBytes, '\0');
  EncodeRequest(req, out);
  PatchHeader(at, out);
}

void EncodeResponseFrame(const IpcResponse& resp, std::string* out) {
  const std::size_t at = out->size();
  out->append(kFrameHeaderBytes, '\0');
  EncodeResponse(resp, out);
  PatchHeader(at, out);
}

}  // namespace oa
