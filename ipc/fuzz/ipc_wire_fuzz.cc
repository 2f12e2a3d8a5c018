// libFuzzer target for everything that parses bytes a peer controls: the frame header, the HelperRequest and
// HelperResponse decoders, and the helper's parsing of its options and of ocserv's lists. Beyond "no crash, no
// sanitizer report" it checks properties: whatever decodes re-encodes to something that decodes to the same value,
// and sanitized strings are valid UTF-8. Corpus: tests/fuzz/corpus/ipc_wire (framed requests and responses).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/utf8.h"
#include "ipc/helper/helper_config.h"
#include "ipc/wire_codec.h"
#include "ipc/wire_frame.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

template <class Msg, class Decode, class Encode>
void RoundTrip(std::string_view body, Decode decode, Encode encode) {
  Msg m;
  if (decode(body, &m) != oa::WireError::kOk) return;
  std::string again;
  encode(m, &again);
  Msg m2;
  Check(decode(again, &m2) == oa::WireError::kOk);
  Check(m2 == m);
  std::string third;
  encode(m2, &third);
  Check(third == again);  // encoding is canonical
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // Framing as the server sees it, whole and byte by byte: the verdict on a prefix never contradicts the whole.
  const oa::FrameCheck whole = oa::CheckFrame(in, 65536);
  for (std::size_t n = 0; n <= std::min<std::size_t>(size, 16); ++n) {
    const oa::FrameCheck part = oa::CheckFrame(in.substr(0, n), 65536);
    if (part.state != oa::FrameState::kNeedMore) Check(part.state == whole.state);
  }
  const std::string_view body =
      whole.state == oa::FrameState::kComplete ? in.substr(oa::kFrameHeaderBytes, whole.body_len) : in;

  RoundTrip<oa::IpcRequest>(body, oa::DecodeRequest, oa::EncodeRequest);
  RoundTrip<oa::IpcResponse>(body, oa::DecodeResponse, oa::EncodeResponse);

  std::string s(in);
  oa::SanitizeUtf8(&s);
  Check(oa::IsValidUtf8(s));
  Check(s.size() == in.size());

  for (const auto& item : oa::helper::SplitList(in)) Check(!item.empty() && item.find(' ') == std::string::npos);
  std::uint32_t ms = 0;
  if (oa::helper::ParseDurationMs(in, &ms)) Check(ms > 0 && ms <= oa::helper::kMaxTimeoutMs);
  return 0;
}
