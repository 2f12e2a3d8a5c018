// The hand codec and framing on their own: round trips, proto3 defaults, every decode error, UTF-8 handling.
#include "ipc/wire_codec.h"

#include <gtest/gtest.h>

#include "common/utf8.h"
#include "ipc/wire_frame.h"

namespace oa {
namespace {

IpcRequest FullRequest() {
  IpcRequest q;
  q.request_id = "123-abc";
  q.reason = IpcReason::kDisconnect;
  q.deadline_ms = 4999;
  q.id = "4242";
  q.username = "alice";
  q.groupname = "staff";
  q.hostname = "laptop";
  q.remote_hostname = "laptop.example";
  q.vhost = "vpn.example.net";
  q.device = "vpns0";
  q.user_agent = "Open AnyConnect VPN Agent v9.01";
  q.device_type = "linux-64";
  q.device_platform = "linux";
  q.ip_real = "192.0.2.10";
  q.ip_real_local = "198.51.100.1";
  q.ip_local = "10.10.0.1";
  q.ip_remote = "10.10.0.2";
  q.ipv6_local = "fd00::1";
  q.ipv6_remote = "fd00::2";
  q.ipv6_prefix = "64";
  q.routes = {"10.0.0.0/255.0.0.0", "fd00::/64"};
  q.routes4 = {"10.0.0.0/255.0.0.0"};
  q.routes6 = {"fd00::/64"};
  q.no_routes = {"192.168.1.0/255.255.255.0"};
  q.no_routes4 = {"192.168.1.0/255.255.255.0"};
  q.no_routes6 = {};
  q.dns = {"10.0.0.53", "fd00::53"};
  q.dns4 = {"10.0.0.53"};
  q.dns6 = {"fd00::53"};
  q.restrict_to_routes = "1";
  q.allow_ports = {"tcp", "443", "udp", "53"};
  q.deny_ports = {"icmp"};
  q.stats_bytes_in = 123456789012ULL;
  q.stats_bytes_out = 42;
  q.stats_duration = 3600;
  return q;
}

TEST(WireCodec, RequestRoundTripsEveryField) {
  const IpcRequest q = FullRequest();
  std::string body;
  EncodeRequest(q, &body);
  IpcRequest back;
  ASSERT_EQ(DecodeRequest(body, &back), WireError::kOk);
  EXPECT_EQ(back, q);
}

TEST(WireCodec, DefaultsAreOmittedAndDecodeAsEmpty) {
  IpcRequest q;
  q.version = 0;
  std::string body;
  EncodeRequest(q, &body);
  EXPECT_TRUE(body.empty());
  IpcRequest back;
  ASSERT_EQ(DecodeRequest("", &back), WireError::kOk);
  EXPECT_EQ(back.version, 0u);  // absent version is 0, which the server refuses
  EXPECT_TRUE(back.username.empty());
  EXPECT_TRUE(back.routes.empty());
}

TEST(WireCodec, EmptyListItemsSurvive) {
  IpcRequest q;
  q.dns = {"", "x", ""};
  std::string body;
  EncodeRequest(q, &body);
  IpcRequest back;
  ASSERT_EQ(DecodeRequest(body, &back), WireError::kOk);
  EXPECT_EQ(back.dns, q.dns);
}

TEST(WireCodec, ResponseRoundTrips) {
  IpcResponse r;
  r.request_id = "1-2";
  r.verdict = WireVerdict::kDeny;
  r.source = WireSource::kFailClose;
  r.reason = "account locked — café";
  r.error = "";
  std::string body;
  EncodeResponse(r, &body);
  IpcResponse back;
  ASSERT_EQ(DecodeResponse(body, &back), WireError::kOk);
  EXPECT_EQ(back, r);
}

TEST(WireCodec, UnknownFieldsOfEveryWireTypeAreSkipped) {
  std::string body;
  body += "\x08\x01";                                  // version = 1
  body += "\xf8\x07\x96\x01";                          // field 127 varint
  body += std::string("\x81\x08", 2) + std::string(8, '\x01');  // field 128 fixed64
  body += "\x8d\x08" + std::string(4, '\x02');         // field 129 fixed32
  body += "\x92\x08\x03" "abc";                        // field 130 bytes
  body += "\x9b\x08" "\xf8\x07\x01" "\x9c\x08";        // field 131 group holding field 127, end group 131
  body += "\x5a\x05" "alice";                          // username = alice
  IpcRequest q;
  ASSERT_EQ(DecodeRequest(body, &q), WireError::kOk);
  EXPECT_EQ(q.version, 1u);
  EXPECT_EQ(q.username, "alice");
}

TEST(WireCodec, RepeatedSingularFieldLastWins) {
  const std::string body = "\x5a\x01" "a" "\x5a\x01" "b";
  IpcRequest q;
  ASSERT_EQ(DecodeRequest(body, &q), WireError::kOk);
  EXPECT_EQ(q.username, "b");
}

TEST(WireCodec, Uint32FieldsKeepTheLow32Bits) {
  // version = 2^32 + 1 as a varint: libprotobuf keeps 1.
  const std::string body = "\x08\x81\x80\x80\x80\x10";
  IpcRequest q;
  ASSERT_EQ(DecodeRequest(body, &q), WireError::kOk);
  EXPECT_EQ(q.version, 1u);
}

TEST(WireCodec, DecodeErrors) {
  IpcRequest q;
  EXPECT_EQ(DecodeRequest("\x5a\x05" "ali", &q), WireError::kTruncated);
  EXPECT_EQ(DecodeRequest("\x08", &q), WireError::kTruncated);
  EXPECT_EQ(DecodeRequest(std::string("\x08") + std::string(10, '\xff') + "\x01", &q), WireError::kBadVarint);
  EXPECT_EQ(DecodeRequest(std::string("\x00\x01", 2), &q), WireError::kBadTag);           // field 0
  EXPECT_EQ(DecodeRequest("\x0e\x01", &q), WireError::kBadTag);                            // wire type 6
  EXPECT_EQ(DecodeRequest("\x9c\x08", &q), WireError::kBadTag);                            // end group alone
  EXPECT_EQ(DecodeRequest("\x9b\x08" "\xa4\x08", &q), WireError::kBadTag);                 // mismatched end group
  EXPECT_EQ(DecodeRequest("\x9b\x08", &q), WireError::kTruncated);                         // unterminated group
  EXPECT_EQ(DecodeRequest("\x58\x01", &q), WireError::kBadWireType);                       // username as varint
  EXPECT_EQ(DecodeRequest("\x0a\x01" "x", &q), WireError::kBadWireType);                   // version as bytes
  EXPECT_EQ(DecodeRequest("\x5a\x01\xff", &q), WireError::kBadUtf8);
  EXPECT_EQ(DecodeRequest(std::string(6, '\xff') + "\x0f", &q), WireError::kBadVarint);   // tag beyond 32 bits
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "\x9b\x08";
  EXPECT_EQ(DecodeRequest(deep, &q), WireError::kBadTag);                                  // nesting limit
  IpcResponse r;
  EXPECT_EQ(DecodeResponse("\x18\x01\x2a", &r), WireError::kTruncated);
}

TEST(WireCodec, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // cut short
  std::string s = "ok\xff\xc3\xa9\xe2\x82";
  SanitizeUtf8(&s);
  EXPECT_EQ(s, "ok?\xc3\xa9??");
  EXPECT_TRUE(IsValidUtf8(s));
}

TEST(WireFrame, CheckFrameStates) {
  EXPECT_EQ(CheckFrame("", 100).state, FrameState::kNeedMore);
  EXPECT_EQ(CheckFrame(std::string("\0\0\0", 3), 100).state, FrameState::kNeedMore);
  EXPECT_EQ(CheckFrame(std::string("\0\0\0\0", 4), 100).state, FrameState::kZeroLength);
  const FrameCheck over = CheckFrame(std::string("\0\0\0\x65", 4), 100);
  EXPECT_EQ(over.state, FrameState::kOversize);
  EXPECT_EQ(over.body_len, 101u);
  EXPECT_EQ(CheckFrame(std::string("\0\0\0\x02" "a", 5), 100).state, FrameState::kNeedMore);
  const FrameCheck ok = CheckFrame(std::string("\0\0\0\x02" "ab" "extra", 9), 100);
  EXPECT_EQ(ok.state, FrameState::kComplete);
  EXPECT_EQ(ok.body_len, 2u);
  EXPECT_EQ(CheckFrame("\xff\xff\xff\xff", 0xffffffffu).state, FrameState::kNeedMore);
}

TEST(WireFrame, HeaderIsBigEndianLength) {
  IpcRequest q;
  q.username = std::string(300, 'u');
  std::string frame;
  EncodeRequestFrame(q, &frame);
  ASSERT_GE(frame.size(), kFrameHeaderBytes);
  EXPECT_EQ(ReadBigEndian32(frame.data()), frame.size() - kFrameHeaderBytes);
  EXPECT_EQ(frame[0], 0);
  EXPECT_EQ(frame[2], 0x01);  // 300+ bytes: the length needs the second-lowest byte
  std::string body;
  EncodeRequest(q, &body);
  std::string framed;
  AppendFrame(body, &framed);
  EXPECT_EQ(framed, frame);
}

}  // namespace
}  // namespace oa
