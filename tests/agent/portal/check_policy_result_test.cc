// The one mapping from (gRPC status, reply) to Allow / Deny / Error, and the request the client puts on the wire.
#include "agent/portal/check_policy_result.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

TEST(CheckPolicyResult, OkAllowedIsAllowWithEverythingCarried) {
  vpn::v1::CheckPolicyResponse reply;
  reply.set_allowed(true);
  reply.set_cache_ttl_seconds(60);
  reply.set_policy_epoch(42);
  reply.add_routes("10.0.0.0/8");
  reply.add_dns_servers("10.0.0.53");
  reply.set_should_disconnect(false);
  (*reply.mutable_metadata())["k"] = "v";
  const PolicyAnswer a = MapCheckPolicyResult(grpc::Status::OK, reply);
  EXPECT_EQ(a.outcome, PortalOutcome::kAllow);
  EXPECT_TRUE(a.error.ok());
  EXPECT_FALSE(a.malformed_reply);
  ASSERT_TRUE(a.cache_ttl.has_value());
  EXPECT_EQ(*a.cache_ttl, std::chrono::seconds(60));
  EXPECT_EQ(a.policy_epoch, 42u);
  EXPECT_EQ(a.routes, std::vector<std::string>{"10.0.0.0/8"});
  EXPECT_EQ(a.dns_servers, std::vector<std::string>{"10.0.0.53"});
  EXPECT_EQ(a.metadata.at("k"), "v");
}

TEST(CheckPolicyResult, OkNotAllowedIsDenyWithReason) {
  vpn::v1::CheckPolicyResponse reply;
  reply.set_allowed(false);
  reply.set_deny_reason("account suspended");
  reply.set_should_disconnect(true);
  const PolicyAnswer a = MapCheckPolicyResult(grpc::Status::OK, reply);
  EXPECT_EQ(a.outcome, PortalOutcome::kDeny);
  EXPECT_EQ(a.deny_reason, "account suspended");
  EXPECT_TRUE(a.should_disconnect);
  EXPECT_TRUE(a.error.ok());
}

TEST(CheckPolicyResult, EmptyReplyIsDenyWithoutReasonNotError) {
  const PolicyAnswer a = MapCheckPolicyResult(grpc::Status::OK, vpn::v1::CheckPolicyResponse());
  EXPECT_EQ(a.outcome, PortalOutcome::kDeny);
  EXPECT_EQ(a.deny_reason, "");
  EXPECT_FALSE(a.cache_ttl.has_value());  // absent: the configured TTL
  EXPECT_EQ(a.policy_epoch, 0u);
}

TEST(CheckPolicyResult, TtlZeroIsCarriedAsZeroNotAbsent) {
  vpn::v1::CheckPolicyResponse reply;
  reply.set_allowed(true);
  reply.set_cache_ttl_seconds(0);
  const PolicyAnswer a = MapCheckPolicyResult(grpc::Status::OK, reply);
  ASSERT_TRUE(a.cache_ttl.has_value());
  EXPECT_EQ(*a.cache_ttl, std::chrono::seconds(0));
}

TEST(CheckPolicyResult, AllowDropsAStrayDenyReason) {
  vpn::v1::CheckPolicyResponse reply;
  reply.set_allowed(true);
  reply.set_deny_reason("ignored");
  const PolicyAnswer a = MapCheckPolicyResult(grpc::Status::OK, reply);
  EXPECT_EQ(a.outcome, PortalOutcome::kAllow);
  EXPECT_EQ(a.deny_reason, "");
}

TEST(CheckPolicyResult, EveryNonOkStatusIsErrorCarryingItsCode) {
  vpn::v1::CheckPolicyResponse allowed;
  allowed.set_allowed(true);  // a reply body never overrides a failed status
  for (auto code : {grpc::StatusCode::CANCELLED, grpc::StatusCode::UNKNOWN, grpc::StatusCode::INVALID_ARGUMENT,
                    grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::NOT_FOUND,
                    grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::RESOURCE_EXHAUSTED,
                    grpc::StatusCode::FAILED_PRECONDITION, grpc::StatusCode::UNIMPLEMENTED,
                    grpc::StatusCode::INTERNAL, grpc::StatusCode::UNAVAILABLE,
                    grpc::StatusCode::UNAUTHENTICATED}) {
    const PolicyAnswer a = MapCheckPolicyResult(grpc::Status(code, "boom"), allowed);
    EXPECT_EQ(a.outcome, PortalOutcome::kError) << code;
    EXPECT_EQ(static_cast<int>(a.error.code()), static_cast<int>(code));
    EXPECT_EQ(a.error.message(), "boom");
    EXPECT_FALSE(a.malformed_reply);
  }
}

TEST(CheckPolicyResult, AbsurdTtlIsMalformed) {
  vpn::v1::CheckPolicyResponse reply;
  reply.set_allowed(true);
  reply.set_cache_ttl_seconds(static_cast<std::uint32_t>(kMaxPortalCacheTtl.count()));
  EXPECT_EQ(MapCheckPolicyResult(grpc::Status::OK, reply).outcome, PortalOutcome::kAllow);  // the limit itself is fine
  reply.set_cache_ttl_seconds(static_cast<std::uint32_t>(kMaxPortalCacheTtl.count()) + 1);
  const PolicyAnswer a = MapCheckPolicyResult(grpc::Status::OK, reply);
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_TRUE(a.malformed_reply);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kInternal);
}

TEST(CheckPolicyResult, OversizedReasonOrListsAreMalformed) {
  vpn::v1::CheckPolicyResponse reply;
  reply.set_deny_reason(std::string(kMaxDenyReasonBytes + 1, 'x'));
  EXPECT_TRUE(MapCheckPolicyResult(grpc::Status::OK, reply).malformed_reply);

  vpn::v1::CheckPolicyResponse lists;
  lists.set_allowed(true);
  for (std::size_t i = 0; i <= kMaxPolicyListItems; ++i) lists.add_routes("10.0.0.0/8");
  const PolicyAnswer a = MapCheckPolicyResult(grpc::Status::OK, lists);
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_TRUE(a.malformed_reply);
}

// Issue 14 item 7: metadata and list strings are bounded; beyond a limit the reply is malformed (Error), not
// truncated (check_policy_result.h says why).
TEST(CheckPolicyResult, MetadataAndListItemsBeyondTheirLimitsAreMalformed) {
  vpn::v1::CheckPolicyResponse at_limit;
  at_limit.set_allowed(true);
  for (std::size_t i = 0; i < kMaxMetadataEntries; ++i) (*at_limit.mutable_metadata())["k" + std::to_string(i)] = "v";
  at_limit.add_routes(std::string(kMaxPolicyItemBytes, 'r'));
  (*at_limit.mutable_metadata())["k0"] = std::string(kMaxMetadataValueBytes, 'v');
  (*at_limit.mutable_metadata())["k1" + std::string(kMaxMetadataKeyBytes - 2, 'x')] = "v";
  at_limit.mutable_metadata()->erase("k1");
  ASSERT_EQ(static_cast<std::size_t>(at_limit.metadata_size()), kMaxMetadataEntries);
  EXPECT_EQ(MapCheckPolicyResult(grpc::Status::OK, at_limit).outcome, PortalOutcome::kAllow);

  auto expect_malformed = [](const vpn::v1::CheckPolicyResponse& reply, const char* what) {
    const PolicyAnswer a = MapCheckPolicyResult(grpc::Status::OK, reply);
    EXPECT_EQ(a.outcome, PortalOutcome::kError) << what;
    EXPECT_TRUE(a.malformed_reply) << what;
    EXPECT_EQ(a.error.code(), absl::StatusCode::kInternal) << what;
    EXPECT_TRUE(a.metadata.empty()) << what;  // nothing of it is kept
  };
  auto too_many = at_limit;
  (*too_many.mutable_metadata())["one-more"] = "v";
  expect_malformed(too_many, "too many metadata entries");
  auto long_key = at_limit;
  long_key.mutable_metadata()->erase("k2");
  (*long_key.mutable_metadata())[std::string(kMaxMetadataKeyBytes + 1, 'x')] = "v";
  expect_malformed(long_key, "metadata key too long");
  auto long_value = at_limit;
  (*long_value.mutable_metadata())["k0"] = std::string(kMaxMetadataValueBytes + 1, 'v');
  expect_malformed(long_value, "metadata value too long");
  auto long_route = at_limit;
  long_route.add_routes(std::string(kMaxPolicyItemBytes + 1, 'r'));
  expect_malformed(long_route, "route too long");
  auto long_dns = at_limit;
  long_dns.add_dns_servers(std::string(kMaxPolicyItemBytes + 1, 'd'));
  expect_malformed(long_dns, "dns server too long");

  // The limits are consistent with the size cap: a reply at every field limit at once fits in it.
  vpn::v1::CheckPolicyResponse biggest = at_limit;
  biggest.set_deny_reason(std::string(kMaxDenyReasonBytes, 'd'));
  biggest.mutable_metadata()->clear();
  for (std::size_t i = 0; i < kMaxMetadataEntries; ++i) {
    std::string key = std::to_string(i);
    key.resize(kMaxMetadataKeyBytes, 'k');
    (*biggest.mutable_metadata())[key] = std::string(kMaxMetadataValueBytes, 'v');
  }
  biggest.clear_routes();
  for (std::size_t i = 0; i < kMaxPolicyListItems; ++i) biggest.add_routes(std::string(kMaxPolicyItemBytes, 'r'));
  EXPECT_LE(biggest.ByteSizeLong(), kMaxCheckPolicyReplyBytes);
}

grpc::ByteBuffer Buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string AllowBytes() {
  vpn::v1::CheckPolicyResponse reply;
  reply.set_allowed(true);
  reply.set_cache_ttl_seconds(3600);
  return reply.SerializeAsString();
}

// Issue 14 item 2: the bytes an OK call received are parsed strictly.
TEST(CheckPolicyReply, NoMessageIsMalformedNotDeny) {
  grpc::ByteBuffer none;  // what the generic call leaves when the server sends trailers only
  const PolicyAnswer a = MapCheckPolicyReply(grpc::Status::OK, &none);
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_TRUE(a.malformed_reply);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kInternal);
}

TEST(CheckPolicyReply, TrailingGarbageAfterAllowIsMalformedNotAllow) {
  for (const std::string& garbage : {std::string("\xff\xff\xff", 3), std::string("garbage"),
                                    std::string("\x1a\x10" "ab", 4) /* field 3 claims 16 bytes, 2 follow */}) {
    grpc::ByteBuffer received = Buffer(AllowBytes() + garbage);
    const PolicyAnswer a = MapCheckPolicyReply(grpc::Status::OK, &received);
    EXPECT_EQ(a.outcome, PortalOutcome::kError) << garbage;
    EXPECT_TRUE(a.malformed_reply);
    EXPECT_FALSE(a.cache_ttl.has_value());  // nothing of the half-parsed reply leaks out
  }
}

TEST(CheckPolicyReply, ZeroLengthMessageIsTheAllDefaultDeny) {
  // proto3 encodes CheckPolicyResponse{allowed: false} as zero bytes: a portal denying without a reason sends this.
  grpc::ByteBuffer received = Buffer("");
  ASSERT_TRUE(received.Valid());
  const PolicyAnswer a = MapCheckPolicyReply(grpc::Status::OK, &received);
  EXPECT_EQ(a.outcome, PortalOutcome::kDeny);
  EXPECT_FALSE(a.malformed_reply);
}

TEST(CheckPolicyReply, UnknownFieldsOfANewerPortalAreAccepted) {
  grpc::ByteBuffer received = Buffer(AllowBytes() + std::string("\xf8\x06\x01", 3));  // field 111, varint 1
  const PolicyAnswer a = MapCheckPolicyReply(grpc::Status::OK, &received);
  EXPECT_EQ(a.outcome, PortalOutcome::kAllow) << a.error;
}

TEST(CheckPolicyReply, OversizeReplyIsMalformedBeforeParsing) {
  grpc::ByteBuffer received = Buffer(AllowBytes() + std::string("\x12", 1) + "\x80\x80\x40" +
                                     std::string(kMaxCheckPolicyReplyBytes, 'x'));  // deny_reason of 1 MiB
  const PolicyAnswer a = MapCheckPolicyReply(grpc::Status::OK, &received);
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_TRUE(a.malformed_reply);
  EXPECT_NE(a.error.message().find("exceeds the limit"), std::string::npos) << a.error;
}

TEST(CheckPolicyReply, NonOkStatusIsTheStatusWhateverArrived) {
  grpc::ByteBuffer received = Buffer(AllowBytes());
  const PolicyAnswer a = MapCheckPolicyReply(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"), &received);
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_FALSE(a.malformed_reply);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kUnavailable);
}

PolicyQuery EveryFieldQuery() {
  PolicyQuery q;
  q.request.username = "alice";
  q.request.groupname = "staff";
  q.request.ip_real = "198.51.100.7";
  q.request.ip_remote = "10.10.0.2";
  q.request.id = "4242";
  q.request.device = "vpns0";
  q.request.vhost = "vpn.example";
  q.request.user_agent = "OpenConnect";
  q.request.hostname = "laptop";
  q.request.remote_hostname = "laptop.example";
  q.request.device_type = "linux";
  q.request.device_platform = "linux-64";
  q.request.ip_real_local = "192.0.2.1";
  q.request.ip_local = "10.10.0.1";
  q.request.ipv6_local = "fd00::1";
  q.request.ipv6_remote = "fd00::2";
  q.request.ipv6_prefix = "64";
  q.agent_id = "agent-1";
  q.request.request_id = "req-9";
  q.request.routes = {"10.0.0.0/8"};
  q.request.routes4 = {"10.0.0.0/8"};
  q.request.routes6 = {"fd00::/8"};
  q.request.no_routes = {"192.168.0.0/16"};
  q.request.no_routes4 = {"192.168.0.0/16"};
  q.request.no_routes6 = {"fe80::/10"};
  q.request.dns = {"10.0.0.53", "fd00::53"};
  q.request.dns4 = {"10.0.0.53"};
  q.request.dns6 = {"fd00::53"};
  q.request.restrict_to_routes = "1";
  q.request.allow_ports = {"tcp", "443"};
  q.request.deny_ports = {"udp", "53"};
  return q;
}

TEST(FillCheckPolicyRequest, SendsEveryField) {
  const PolicyQuery q = EveryFieldQuery();
  const Clock::WallTime now{std::chrono::seconds(1'790'000'000) + std::chrono::nanoseconds(5)};

  vpn::v1::CheckPolicyRequest r;
  FillCheckPolicyRequest(q, now, &r);
  EXPECT_EQ(r.username(), "alice");
  EXPECT_EQ(r.groupname(), "staff");
  EXPECT_EQ(r.client_ip(), "198.51.100.7");
  EXPECT_EQ(r.vpn_ip(), "10.10.0.2");
  EXPECT_EQ(r.session_id(), "4242");
  EXPECT_EQ(r.device(), "vpns0");
  EXPECT_EQ(r.request_time().seconds(), 1'790'000'000);
  EXPECT_EQ(r.request_time().nanos(), 5);
  EXPECT_EQ(r.vhost(), "vpn.example");
  EXPECT_EQ(r.user_agent(), "OpenConnect");
  EXPECT_EQ(r.hostname(), "laptop");
  EXPECT_EQ(r.remote_hostname(), "laptop.example");
  EXPECT_EQ(r.device_type(), "linux");
  EXPECT_EQ(r.device_platform(), "linux-64");
  EXPECT_EQ(r.ip_real_local(), "192.0.2.1");
  EXPECT_EQ(r.ip_local(), "10.10.0.1");
  EXPECT_EQ(r.ipv6_local(), "fd00::1");
  EXPECT_EQ(r.ipv6_remote(), "fd00::2");
  EXPECT_EQ(r.ipv6_prefix(), "64");
  EXPECT_EQ(r.agent_id(), "agent-1");
  EXPECT_EQ(r.request_id(), "req-9");
  EXPECT_EQ(r.ocserv_routes_size(), 1);
  EXPECT_EQ(r.ocserv_routes6(0), "fd00::/8");
  EXPECT_EQ(r.ocserv_no_routes4(0), "192.168.0.0/16");
  EXPECT_EQ(r.ocserv_no_routes6(0), "fe80::/10");
  EXPECT_EQ(r.ocserv_dns_size(), 2);
  EXPECT_EQ(r.ocserv_dns4(0), "10.0.0.53");
  EXPECT_EQ(r.ocserv_dns6(0), "fd00::53");
  EXPECT_EQ(r.ocserv_restrict_to_routes(), "1");
  EXPECT_EQ(r.ocserv_allow_ports(1), "443");
  EXPECT_EQ(r.ocserv_deny_ports(0), "udp");
  EXPECT_EQ(r.ocserv_routes4(0), "10.0.0.0/8");
  EXPECT_EQ(r.ocserv_no_routes(0), "192.168.0.0/16");
}

// The bytes a full query puts on the wire, recorded before PolicyQuery carried the IPC request instead of a copy of
// its fields: the refactor must not change a byte.
TEST(FillCheckPolicyRequest, WireBytesOfAFullQueryAreUnchanged) {
  vpn::v1::CheckPolicyRequest r;
  FillCheckPolicyRequest(EveryFieldQuery(), Clock::WallTime{std::chrono::seconds(1'790'000'000)}, &r);
  std::string hex;
  for (const unsigned char c : r.SerializeAsString()) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  EXPECT_EQ(hex,
            "0a05616c696365120573746166661a0c3139382e35312e3130302e37220931302e31302e302e322a0434323432320576706e"
            "73303a060880f7c4d506a2060b76706e2e6578616d706c65aa060b4f70656e436f6e6e656374b206066c6170746f70ba060e"
            "6c6170746f702e6578616d706c65c206056c696e7578ca06086c696e75782d3634d206093139322e302e322e31da06093130"
            "2e31302e302e31e20607666430303a3a31ea0607666430303a3a32f206023634fa06076167656e742d318207057265712d39"
            "8a070a31302e302e302e302f3892070a31302e302e302e302f389a0708666430303a3a2f38a2070e3139322e3136382e302e"
            "302f3136aa070e3139322e3136382e302e302f3136b20709666538303a3a2f3130ba070931302e302e302e3533ba07086664"
            "30303a3a3533c2070931302e302e302e3533ca0708666430303a3a3533d2070131da0703746370da0703343433e207037564"
            "70e207023533");
}

TEST(FillCheckPolicyRequest, KeepsAnExplicitRequestTime) {
  PolicyQuery q;
  q.request_time = Clock::WallTime{std::chrono::seconds(1000)};
  vpn::v1::CheckPolicyRequest r;
  FillCheckPolicyRequest(q, Clock::WallTime{std::chrono::seconds(2000)}, &r);
  EXPECT_EQ(r.request_time().seconds(), 1000);
}

}  // namespace
}  // namespace oa
