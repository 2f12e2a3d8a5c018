// The one place where a finished CheckPolicy call (gRPC status + reply) becomes Allow / Deny / Error, and where a
// reply that cannot be trusted is defined. Used by the gRPC client and its unit test; includes gRPC and protobuf
// headers, so keep it out of widely included headers. Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstddef>

#include "agent/portal/portal_client.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"
#include "vpn/v1/auth.pb.h"

namespace oa {

// A reply is malformed (-> kError, malformed_reply) when, although the call succeeded:
//  - no message arrived, or its bytes do not parse to the end as a CheckPolicyResponse (strict_reply.h), or
//  - it is larger than kMaxCheckPolicyReplyBytes (checked before parsing: a huge reply costs no parse time), or
//  - cache_ttl_seconds exceeds kMaxPortalCacheTtl (a TTL of weeks is a portal bug, e.g. milliseconds sent as
//    seconds or a timestamp sent as a TTL; caching a decision that long would outlive any policy change), or
//  - deny_reason exceeds kMaxDenyReasonBytes (it goes into ocserv's log and the helper's IPC frame), or
//  - routes + dns_servers exceed kMaxPolicyListItems entries, or one of them exceeds kMaxPolicyItemBytes, or
//  - metadata has more than kMaxMetadataEntries entries, or a key or value over its limit.
// Why an oversize reply is an Error and not truncated: a truncated route list or metadata map is a policy the portal
// never sent, and it would be cached and answered as the portal's verdict. A reply this far out of bounds is a
// portal bug or a hostile portal; as an Error it goes through the breaker and the operator's fail mode, and it is
// counted (malformed_replies) and logged with the reason. (150 000 metadata entries used to cost 0.5 s per decision
// and 30 MB kept.) Every reply within the field limits fits in kMaxCheckPolicyReplyBytes (4096 x 128-byte items
// + 256 x (128 + 1024)-byte entries + the rest is about 0.9 MiB).
// Not malformed: a deny with an empty reason, an allow that carries a deny_reason (the reason is dropped), an
// all-default reply (= deny without reason: proto3 encodes it as a zero-length message, which a portal that denies
// without a reason legitimately sends), unknown fields (a newer portal).
inline constexpr std::chrono::seconds kMaxPortalCacheTtl{7 * 24 * 3600};
inline constexpr std::size_t kMaxDenyReasonBytes = 1024;
inline constexpr std::size_t kMaxPolicyListItems = 4096;
inline constexpr std::size_t kMaxPolicyItemBytes = 128;  // a route (CIDR) or a DNS server address; IPv6 CIDR <= 43
inline constexpr std::size_t kMaxMetadataEntries = 256;
inline constexpr std::size_t kMaxMetadataKeyBytes = 128;
inline constexpr std::size_t kMaxMetadataValueBytes = 1024;
inline constexpr std::size_t kMaxCheckPolicyReplyBytes = 1024 * 1024;

// What an OK call received (grpc::ByteBuffer, strict_reply.h) -> answer: no message / too large / does not parse are
// malformed; otherwise as MapCheckPolicyResult. A non-OK status is mapped as MapCheckPolicyResult maps it.
PolicyAnswer MapCheckPolicyReply(const grpc::Status& status, grpc::ByteBuffer* received);

// (status, reply) -> answer. OK + allowed -> kAllow; OK + !allowed -> kDeny; OK + malformed -> kError (kInternal,
// malformed_reply); any other status -> kError carrying that code and message.
PolicyAnswer MapCheckPolicyResult(const grpc::Status& status, const vpn::v1::CheckPolicyResponse& reply);

// The request on the wire for a query — the one place an IPC request field meets its CheckPolicyRequest field;
// `now` fills request_time when the query leaves it unset.
void FillCheckPolicyRequest(const PolicyQuery& query, Clock::WallTime now, vpn::v1::CheckPolicyRequest* request);

}  // namespace oa
