// Protobuf wire format by hand: varints, tags, length-delimited strings. See wire_codec.h for the contract.
#include "ipc/wire_codec.h"

#include <vector>

#include "common/utf8.h"

namespace oa {
namespace {

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

// libprotobuf's default recursion limit; only unknown groups can nest here.
constexpr int kMaxGroupDepth = 100;

void PutVarint(std::uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutTag(std::uint32_t field, WireType type, std::string* out) { PutVarint((field << 3) | type, out); }

void PutString(std::uint32_t field, const std::string& s, std::string* out) {
  if (s.empty()) return;
  PutTag(field, kLen, out);
  PutVarint(s.size(), out);
  out->append(s);
}

void PutRepeated(std::uint32_t field, const std::vector<std::string>& items, std::string* out) {
  for (const auto& s : items) {  // repeated: empty items are sent too
    PutTag(field, kLen, out);
    PutVarint(s.size(), out);
    out->append(s);
  }
}

void PutUint(std::uint32_t field, std::uint64_t v, std::string* out) {
  if (v == 0) return;
  PutTag(field, kVarint, out);
  PutVarint(v, out);
}

// Enums are int32 on the wire: a value above INT32_MAX is a negative number, sign-extended to 10 bytes.
void PutEnum(std::uint32_t field, std::uint32_t v, std::string* out) {
  if (v == 0) return;
  PutTag(field, kVarint, out);
  PutVarint(static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(v))), out);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  bool done() const { return p_ == end_; }

  WireError Varint(std::uint64_t* v) {
    std::uint64_t result = 0;
    for (int i = 0; i < 10; ++i) {
      if (p_ == end_) return WireError::kTruncated;
      const auto b = static_cast<std::uint8_t>(*p_++);
      result |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        *v = result;
        return WireError::kOk;
      }
    }
    return WireError::kBadVarint;
  }

  WireError Tag(std::uint32_t* field, std::uint32_t* type) {
    std::uint64_t tag = 0;
    if (auto e = Varint(&tag); e != WireError::kOk) return e;
    if (tag > 0xffffffffu) return WireError::kBadVarint;
    *field = static_cast<std::uint32_t>(tag >> 3);
    *type = static_cast<std::uint32_t>(tag & 7);
    if (*field == 0 || *type > kFixed32) return WireError::kBadTag;
    return WireError::kOk;
  }

  WireError Bytes(std::string_view* s) {
    std::uint64_t len = 0;
    if (auto e = Varint(&len); e != WireError::kOk) return e;
    if (len > static_cast<std::uint64_t>(end_ - p_)) return WireError::kTruncated;
    *s = std::string_view(p_, len);
    p_ += len;
    return WireError::kOk;
  }

  WireError Skip(std::size_t n) {
    if (n > static_cast<std::size_t>(end_ - p_)) return WireError::kTruncated;
    p_ += n;
    return WireError::kOk;
  }

  // Skips the value of an unknown field whose tag was just read.
  WireError SkipValue(std::uint32_t field, std::uint32_t type, int depth) {
    switch (type) {
      case kVarint: {
        std::uint64_t ignored;
        return Varint(&ignored);
      }
      case kFixed64: return Skip(8);
      case kFixed32: return Skip(4);
      case kLen: {
        std::string_view ignored;
        return Bytes(&ignored);
      }
      case kStartGroup: {
        if (depth >= kMaxGroupDepth) return WireError::kBadTag;
        for (;;) {
          std::uint32_t f = 0, t = 0;
          if (auto e = Tag(&f, &t); e != WireError::kOk) return e;
          if (t == kEndGroup) return f == field ? WireError::kOk : WireError::kBadTag;
          if (auto e = SkipValue(f, t, depth + 1); e != WireError::kOk) return e;
        }
      }
      default: return WireError::kBadTag;  // an end-group with no start
    }
  }

 private:
  const char* p_;
  const char* end_;
};

// One known field's value, checked against the wire type the schema gives it.
WireError ReadString(Reader& r, std::uint32_t type, std::string* dst) {
  if (type != kLen) return WireError::kBadWireType;
  std::string_view s;
  if (auto e = r.Bytes(&s); e != WireError::kOk) return e;
  if (!IsValidUtf8(s)) return WireError::kBadUtf8;
  dst->assign(s);
  return WireError::kOk;
}

WireError ReadRepeated(Reader& r, std::uint32_t type, std::vector<std::string>* dst) {
  std::string item;
  if (auto e = ReadString(r, type, &item); e != WireError::kOk) return e;
  dst->push_back(std::move(item));
  return WireError::kOk;
}

WireError ReadUint64(Reader& r, std::uint32_t type, std::uint64_t* dst) {
  if (type != kVarint) return WireError::kBadWireType;
  return r.Varint(dst);
}

// uint32 and enum fields: libprotobuf keeps the low 32 bits of the varint.
template <class T>
WireError ReadUint32(Reader& r, std::uint32_t type, T* dst) {
  std::uint64_t v = 0;
  if (auto e = ReadUint64(r, type, &v); e != WireError::kOk) return e;
  *dst = static_cast<T>(static_cast<std::uint32_t>(v));
  return WireError::kOk;
}

WireError RequestField(Reader& r, std::uint32_t field, std::uint32_t type, IpcRequest* q) {
  switch (field) {
    case 1: return ReadUint32(r, type, &q->version);
    case 2: return ReadString(r, type, &q->request_id);
    case 3: return ReadUint32(r, type, &q->reason);
    case 4: return ReadUint32(r, type, &q->deadline_ms);
    case 10: return ReadString(r, type, &q->id);
    case 11: return ReadString(r, type, &q->username);
    case 12: return ReadString(r, type, &q->groupname);
    case 13: return ReadString(r, type, &q->hostname);
    case 14: return ReadString(r, type, &q->remote_hostname);
    case 15: return ReadString(r, type, &q->vhost);
    case 16: return ReadString(r, type, &q->device);
    case 17: return ReadString(r, type, &q->user_agent);
    case 18: return ReadString(r, type, &q->device_type);
    case 19: return ReadString(r, type, &q->device_platform);
    case 20: return ReadString(r, type, &q->ip_real);
    case 21: return ReadString(r, type, &q->ip_real_local);
    case 22: return ReadString(r, type, &q->ip_local);
    case 23: return ReadString(r, type, &q->ip_remote);
    case 24: return ReadString(r, type, &q->ipv6_local);
    case 25: return ReadString(r, type, &q->ipv6_remote);
    case 26: return ReadString(r, type, &q->ipv6_prefix);
    case 30: return ReadRepeated(r, type, &q->routes);
    case 31: return ReadRepeated(r, type, &q->routes4);
    case 32: return ReadRepeated(r, type, &q->routes6);
    case 33: return ReadRepeated(r, type, &q->no_routes);
    case 34: return ReadRepeated(r, type, &q->no_routes4);
    case 35: return ReadRepeated(r, type, &q->no_routes6);
    case 36: return ReadRepeated(r, type, &q->dns);
    case 37: return ReadRepeated(r, type, &q->dns4);
    case 38: return ReadRepeated(r, type, &q->dns6);
    case 39: return ReadString(r, type, &q->restrict_to_routes);
    case 40: return ReadRepeated(r, type, &q->allow_ports);
    case 41: return ReadRepeated(r, type, &q->deny_ports);
    case 50: return ReadUint64(r, type, &q->stats_bytes_in);
    case 51: return ReadUint64(r, type, &q->stats_bytes_out);
    case 52: return ReadUint64(r, type, &q->stats_duration);
    default: return r.SkipValue(field, type, 0);
  }
}

WireError ResponseField(Reader& r, std::uint32_t field, std::uint32_t type, IpcResponse* s) {
  switch (field) {
    case 1: return ReadUint32(r, type, &s->version);
    case 2: return ReadString(r, type, &s->request_id);
    case 3: return ReadUint32(r, type, &s->verdict);
    case 4: return ReadUint32(r, type, &s->source);
    case 5: return ReadString(r, type, &s->reason);
    case 6: return ReadString(r, type, &s->error);
    default: return r.SkipValue(field, type, 0);
  }
}

template <class Msg, class FieldFn>
WireError DecodeMessage(std::string_view body, Msg* out, FieldFn field_fn) {
  *out = Msg{};
  out->version = 0;  // absent on the wire means 0, not our default
  Reader r(body);
  while (!r.done()) {
    std::uint32_t field = 0, type = 0;
    if (auto e = r.Tag(&field, &type); e != WireError::kOk) return e;
    if (auto e = field_fn(r, field, type, out); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}

}  // namespace

const char* WireErrorName(WireError e) {
  switch (e) {
    case WireError::kOk: return "ok";
    case WireError::kTruncated: return "truncated field";
    case WireError::kBadVarint: return "bad varint";
    case WireError::kBadTag: return "bad tag";
    case WireError::kBadWireType: return "wrong wire type";
    case WireError::kBadUtf8: return "invalid UTF-8";
  }
  return "unknown";
}

void EncodeRequest(const IpcRequest& q, std::string* out) {
  PutUint(1, q.version, out);
  PutString(2, q.request_id, out);
  PutEnum(3, static_cast<std::uint32_t>(q.reason), out);
  PutUint(4, q.deadline_ms, out);
  PutString(10, q.id, out);
  PutString(11, q.username, out);
  PutString(12, q.groupname, out);
  PutString(13, q.hostname, out);
  PutString(14, q.remote_hostname, out);
  PutString(15, q.vhost, out);
  PutString(16, q.device, out);
  PutString(17, q.user_agent, out);
  PutString(18, q.device_type, out);
  PutString(19, q.device_platform, out);
  PutString(20, q.ip_real, out);
  PutString(21, q.ip_real_local, out);
  PutString(22, q.ip_local, out);
  PutString(23, q.ip_remote, out);
  PutString(24, q.ipv6_local, out);
  PutString(25, q.ipv6_remote, out);
  PutString(26, q.ipv6_prefix, out);
  PutRepeated(30, q.routes, out);
  PutRepeated(31, q.routes4, out);
  PutRepeated(32, q.routes6, out);
  PutRepeated(33, q.no_routes, out);
  PutRepeated(34, q.no_routes4, out);
  PutRepeated(35, q.no_routes6, out);
  PutRepeated(36, q.dns, out);
  PutRepeated(37, q.dns4, out);
  PutRepeated(38, q.dns6, out);
  PutString(39, q.restrict_to_routes, out);
  PutRepeated(40, q.allow_ports, out);
  PutRepeated(41, q.deny_ports, out);
  PutUint(50, q.stats_bytes_in, out);
  PutUint(51, q.stats_bytes_out, out);
  PutUint(52, q.stats_duration, out);
}

void EncodeResponse(const IpcResponse& s, std::string* out) {
  PutUint(1, s.version, out);
  PutString(2, s.request_id, out);
  PutEnum(3, static_cast<std::uint32_t>(s.verdict), out);
  PutEnum(4, static_cast<std::uint32_t>(s.source), out);
  PutString(5, s.reason, out);
  PutString(6, s.error, out);
}

WireError DecodeRequest(std::string_view body, IpcRequest* out) { return DecodeMessage(body, out, RequestField); }

WireError DecodeResponse(std::string_view body, IpcResponse* out) { return DecodeMessage(body, out, ResponseField); }

}  // namespace oa
