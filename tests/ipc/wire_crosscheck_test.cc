// Pins the hand codec (ipc/wire_codec.*) to the classes protoc generates from proto/ocserv_agent/v1/ipc.proto, in
// both directions, so that the two can never drift: byte-identical encoding, libprotobuf parses what we write, we
// decode what libprotobuf writes, unknown fields are skipped by both, invalid UTF-8 is refused by both, and the one
// deliberate difference (a known field with the wrong wire type) is written down here.
#include <random>

#include <gtest/gtest.h>

#include "ipc/wire_codec.h"
#include "ocserv_agent/v1/ipc.pb.h"

namespace oa {
namespace {

namespace pb = ::ocserv_agent::v1;

std::string RandomString(std::mt19937& rng) {
  static const char* const kSamples[] = {"", "alice", "10.0.0.0/255.0.0.0", "café", "\xf0\x9f\x98\x80", "a b"};
  std::uniform_int_distribution<int> pick(0, 7);
  const int p = pick(rng);
  if (p < 6) return kSamples[p];
  std::string s(std::uniform_int_distribution<int>(1, 300)(rng), 'x');
  for (char& c : s) c = static_cast<char>(std::uniform_int_distribution<int>(0x20, 0x7e)(rng));
  return s;
}

std::vector<std::string> RandomList(std::mt19937& rng) {
  std::vector<std::string> v(std::uniform_int_distribution<int>(0, 4)(rng));
  for (auto& s : v) s = RandomString(rng);
  return v;
}

std::uint64_t RandomNumber(std::mt19937& rng) {
  switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
    case 0: return 0;
    case 1: return std::uniform_int_distribution<std::uint64_t>(1, 127)(rng);
    case 2: return ~0ULL;
    default: return std::uniform_int_distribution<std::uint64_t>()(rng);
  }
}

IpcRequest RandomRequest(std::mt19937& rng) {
  IpcRequest q;
  q.version = static_cast<std::uint32_t>(RandomNumber(rng));
  q.request_id = RandomString(rng);
  q.reason = static_cast<IpcReason>(static_cast<std::uint32_t>(RandomNumber(rng)));  // includes "negative" enums
  q.deadline_ms = static_cast<std::uint32_t>(RandomNumber(rng));
  for (std::string* s : {&q.id, &q.username, &q.groupname, &q.hostname, &q.remote_hostname, &q.vhost, &q.device,
                         &q.user_agent, &q.device_type, &q.device_platform, &q.ip_real, &q.ip_real_local,
                         &q.ip_local, &q.ip_remote, &q.ipv6_local, &q.ipv6_remote, &q.ipv6_prefix,
                         &q.restrict_to_routes}) {
    *s = RandomString(rng);
  }
  for (auto* l : {&q.routes, &q.routes4, &q.routes6, &q.no_routes, &q.no_routes4, &q.no_routes6, &q.dns, &q.dns4,
                  &q.dns6, &q.allow_ports, &q.deny_ports}) {
    *l = RandomList(rng);
  }
  q.stats_bytes_in = RandomNumber(rng);
  q.stats_bytes_out = RandomNumber(rng);
  q.stats_duration = RandomNumber(rng);
  return q;
}

template <class Repeated>
std::vector<std::string> ToVector(const Repeated& r) {
  return std::vector<std::string>(r.begin(), r.end());
}

IpcRequest FromProto(const pb::HelperRequest& m) {
  IpcRequest q;
  q.version = m.version();
  q.request_id = m.request_id();
  q.reason = static_cast<IpcReason>(static_cast<std::uint32_t>(m.reason()));
  q.deadline_ms = m.deadline_ms();
  q.id = m.id();
  q.username = m.username();
  q.groupname = m.groupname();
  q.hostname = m.hostname();
  q.remote_hostname = m.remote_hostname();
  q.vhost = m.vhost();
  q.device = m.device();
  q.user_agent = m.user_agent();
  q.device_type = m.device_type();
  q.device_platform = m.device_platform();
  q.ip_real = m.ip_real();
  q.ip_real_local = m.ip_real_local();
  q.ip_local = m.ip_local();
  q.ip_remote = m.ip_remote();
  q.ipv6_local = m.ipv6_local();
  q.ipv6_remote = m.ipv6_remote();
  q.ipv6_prefix = m.ipv6_prefix();
  q.routes = ToVector(m.routes());
  q.routes4 = ToVector(m.routes4());
  q.routes6 = ToVector(m.routes6());
  q.no_routes = ToVector(m.no_routes());
  q.no_routes4 = ToVector(m.no_routes4());
  q.no_routes6 = ToVector(m.no_routes6());
  q.dns = ToVector(m.dns());
  q.dns4 = ToVector(m.dns4());
  q.dns6 = ToVector(m.dns6());
  q.restrict_to_routes = m.restrict_to_routes();
  q.allow_ports = ToVector(m.allow_ports());
  q.deny_ports = ToVector(m.deny_ports());
  q.stats_bytes_in = m.stats_bytes_in();
  q.stats_bytes_out = m.stats_bytes_out();
  q.stats_duration = m.stats_duration();
  return q;
}

pb::HelperRequest ToProto(const IpcRequest& q) {
  pb::HelperRequest m;
  m.set_version(q.version);
  m.set_request_id(q.request_id);
  m.set_reason(static_cast<pb::Reason>(static_cast<std::int32_t>(q.reason)));
  m.set_deadline_ms(q.deadline_ms);
  m.set_id(q.id);
  m.set_username(q.username);
  m.set_groupname(q.groupname);
  m.set_hostname(q.hostname);
  m.set_remote_hostname(q.remote_hostname);
  m.set_vhost(q.vhost);
  m.set_device(q.device);
  m.set_user_agent(q.user_agent);
  m.set_device_type(q.device_type);
  m.set_device_platform(q.device_platform);
  m.set_ip_real(q.ip_real);
  m.set_ip_real_local(q.ip_real_local);
  m.set_ip_local(q.ip_local);
  m.set_ip_remote(q.ip_remote);
  m.set_ipv6_local(q.ipv6_local);
  m.set_ipv6_remote(q.ipv6_remote);
  m.set_ipv6_prefix(q.ipv6_prefix);
  for (const auto& s : q.routes) m.add_routes(s);
  for (const auto& s : q.routes4) m.add_routes4(s);
  for (const auto& s : q.routes6) m.add_routes6(s);
  for (const auto& s : q.no_routes) m.add_no_routes(s);
  for (const auto& s : q.no_routes4) m.add_no_routes4(s);
  for (const auto& s : q.no_routes6) m.add_no_routes6(s);
  for (const auto& s : q.dns) m.add_dns(s);
  for (const auto& s : q.dns4) m.add_dns4(s);
  for (const auto& s : q.dns6) m.add_dns6(s);
  m.set_restrict_to_routes(q.restrict_to_routes);
  for (const auto& s : q.allow_ports) m.add_allow_ports(s);
  for (const auto& s : q.deny_ports) m.add_deny_ports(s);
  m.set_stats_bytes_in(q.stats_bytes_in);
  m.set_stats_bytes_out(q.stats_bytes_out);
  m.set_stats_duration(q.stats_duration);
  return m;
}

TEST(WireCrossCheck, RequestsAgreeInBothDirections) {
  std::mt19937 rng(20261122);
  for (int i = 0; i < 2000; ++i) {
    const IpcRequest q = RandomRequest(rng);
    std::string ours;
    EncodeRequest(q, &ours);
    const pb::HelperRequest m = ToProto(q);
    // Same bytes: libprotobuf also writes fields in number order and omits proto3 defaults.
    ASSERT_EQ(ours, m.SerializeAsString()) << "iteration " << i;
    pb::HelperRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(ours));
    EXPECT_EQ(FromProto(parsed), q);
    IpcRequest back;
    ASSERT_EQ(DecodeRequest(m.SerializeAsString(), &back), WireError::kOk);
    EXPECT_EQ(back, q);
  }
}

TEST(WireCrossCheck, ResponsesAgreeInBothDirections) {
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    IpcResponse r;
    r.version = static_cast<std::uint32_t>(RandomNumber(rng));
    r.request_id = RandomString(rng);
    r.verdict = static_cast<WireVerdict>(i % 4);
    r.source = static_cast<WireSource>(i % 9);
    r.reason = RandomString(rng);
    r.error = RandomString(rng);
    std::string ours;
    EncodeResponse(r, &ours);
    pb::HelperResponse m;
    ASSERT_TRUE(m.ParseFromString(ours));
    EXPECT_EQ(m.version(), r.version);
    EXPECT_EQ(m.request_id(), r.request_id);
    EXPECT_EQ(static_cast<std::uint32_t>(m.verdict()), static_cast<std::uint32_t>(r.verdict));
    EXPECT_EQ(static_cast<std::uint32_t>(m.source()), static_cast<std::uint32_t>(r.source));
    EXPECT_EQ(m.reason(), r.reason);
    EXPECT_EQ(m.error(), r.error);
    EXPECT_EQ(ours, m.SerializeAsString());
    IpcResponse back;
    ASSERT_EQ(DecodeResponse(m.SerializeAsString(), &back), WireError::kOk);
    EXPECT_EQ(back, r);
  }
}

TEST(WireCrossCheck, UnknownFieldsAreSkippedByBoth) {
  pb::HelperRequest m;
  m.set_version(1);
  m.set_username("bob");
  std::string bytes = m.SerializeAsString();
  // Fields from a newer sender: varint 60, fixed64 61, bytes 62, fixed32 63, group 64 containing a varint.
  bytes += std::string("\xe0\x03\x05", 3) + std::string("\xe9\x03", 2) + std::string(8, '\x07') +
           std::string("\xf2\x03\x02xy", 5) + std::string("\xfd\x03", 2) + std::string(4, '\x09') +
           std::string("\x83\x04\x08\x01\x84\x04", 6);
  pb::HelperRequest theirs;
  ASSERT_TRUE(theirs.ParseFromString(bytes));
  IpcRequest ours;
  ASSERT_EQ(DecodeRequest(bytes, &ours), WireError::kOk);
  EXPECT_EQ(FromProto(theirs), ours);
  EXPECT_EQ(ours.username, "bob");
}

TEST(WireCrossCheck, InvalidUtf8IsRefusedByBoth) {
  const std::string bytes = "\x5a\x02\xc3\x28";  // username = an invalid two-byte sequence
  pb::HelperRequest theirs;
  EXPECT_FALSE(theirs.ParseFromString(bytes));
  IpcRequest ours;
  EXPECT_EQ(DecodeRequest(bytes, &ours), WireError::kBadUtf8);
}

TEST(WireCrossCheck, TruncationAndBadTagsAreRefusedByBoth) {
  for (const std::string& bytes : {std::string("\x5a\x05" "ali"), std::string("\x08"), std::string("\x00\x01", 2),
                                  std::string("\x0f\x01"), std::string("\x9c\x08")}) {
    pb::HelperRequest theirs;
    IpcRequest ours;
    EXPECT_FALSE(theirs.ParseFromString(bytes));
    EXPECT_NE(DecodeRequest(bytes, &ours), WireError::kOk);
  }
}

TEST(WireCrossCheck, WrongWireTypeIsTheOneDeliberateDifference) {
  // username (field 11) sent as a varint. libprotobuf keeps it as an unknown field and reports success; we refuse
  // the frame, because a request whose username is a number is garbage, not a request without a username.
  const std::string bytes = "\x08\x01\x58\x07";
  pb::HelperRequest theirs;
  EXPECT_TRUE(theirs.ParseFromString(bytes));
  EXPECT_TRUE(theirs.username().empty());
  IpcRequest ours;
  EXPECT_EQ(DecodeRequest(bytes, &ours), WireError::kBadWireType);
}

}  // namespace
}  // namespace oa
