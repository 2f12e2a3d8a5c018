#include "events/event_codec.h"

#include <cstring>

namespace oa {
namespace {

constexpr std::uint8_t kVersion = 1;

void PutU64(std::uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutString(std::string_view s, std::string* out) {
  PutU64(s.size(), out);
  out->append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(std::uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<std::uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool U64(std::uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool String(std::string* s) {
    std::uint64_t n = 0;
    if (!U64(&n) || n > in_.size()) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string_view to_string(SessionEventKind kind) {
  switch (kind) {
    case SessionEventKind::kConnect: return "connect";
    case SessionEventKind::kHostUpdate: return "host_update";
    case SessionEventKind::kDisconnect: return "disconnect";
  }
  return "unknown";
}

std::string EncodeSessionEvent(const SessionEvent& e) {
  std::string out;
  out.reserve(128);
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(e.kind));
  out.push_back(static_cast<char>(e.reason));
  for (const std::string* s : {&e.username, &e.groupname, &e.session_id, &e.client_ip, &e.vpn_ip, &e.device}) {
    PutString(*s, &out);
  }
  PutU64(static_cast<std::uint64_t>(
             std::chrono::duration_cast<std::chrono::nanoseconds>(e.at.time_since_epoch()).count()),
         &out);
  PutU64(static_cast<std::uint64_t>(e.duration_seconds), &out);
  PutU64(e.bytes_received, &out);
  PutU64(e.bytes_sent, &out);
  PutU64(e.metadata.size(), &out);
  for (const auto& [k, v] : e.metadata) {
    PutString(k, &out);
    PutString(v, &out);
  }
  return out;
}

absl::StatusOr<SessionEvent> DecodeSessionEvent(std::string_view bytes) {
  Reader r(bytes);
  SessionEvent e;
  std::uint8_t version = 0, kind = 0, reason = 0;
  if (!r.U8(&version)) return absl::InvalidArgumentError("empty event record");
  if (version != kVersion) {
    return absl::InvalidArgumentError("event record version " + std::to_string(version) + " (this agent reads 1)");
  }
  if (!r.U8(&kind) || !r.U8(&reason)) return absl::InvalidArgumentError("truncated event record header");
  if (kind < 1 || kind > 3) return absl::InvalidArgumentError("unknown event kind " + std::to_string(kind));
  if (reason > 8) return absl::InvalidArgumentError("unknown disconnect reason " + std::to_string(reason));
  e.kind = static_cast<SessionEventKind>(kind);
  e.reason = static_cast<DisconnectReason>(reason);
  for (std::string* s : {&e.username, &e.groupname, &e.session_id, &e.client_ip, &e.vpn_ip, &e.device}) {
    if (!r.String(s)) return absl::InvalidArgumentError("truncated event record (strings)");
  }
  std::uint64_t at = 0, duration = 0, n = 0;
  if (!r.U64(&at) || !r.U64(&duration) || !r.U64(&e.bytes_received) || !r.U64(&e.bytes_sent) || !r.U64(&n)) {
    return absl::InvalidArgumentError("truncated event record (numbers)");
  }
  e.at = Clock::WallTime(std::chrono::duration_cast<Clock::WallTime::duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(at))));
  e.duration_seconds = static_cast<std::int64_t>(duration);
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.String(&k) || !r.String(&v)) return absl::InvalidArgumentError("truncated event record (metadata)");
    e.metadata.emplace(std::move(k), std::move(v));
  }
  if (!r.done()) return absl::InvalidArgumentError("trailing bytes after the event record");
  return e;
}

}  // namespace oa
