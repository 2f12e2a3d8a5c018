// The one place where a finished CheckPolicy call (gRPC status + reply) becomes Allow / Deny / Error, and where a
// reply that cannot be trusted is defined. Used by the gRPC client and its unit test; includes gRPC and protobuf
// headers, so keep it out of widely included headers. Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstddef>

#include "agent/portal/portal_client.h"
#include "grpcpp/support/status.h"
#include "vpn/v1/auth.pb.h"

namespace oa {

// A reply is malformed (-> kError, malformed_reply) when, although the call succeeded:
//  - cache_ttl_seconds exceeds kMaxPortalCacheTtl (a TTL of weeks is a portal bug, e.g. milliseconds sent as
//    seconds or a timestamp sent as a TTL; caching a decision that long would outlive any policy change), or
//  - deny_reason exceeds kMaxDenyReasonBytes (it goes into ocserv's log and the helper's IPC frame), or
//  - routes + dns_servers exceed kMaxPolicyListItems entries.
// Not malformed: a deny with an empty reason, an allow that carries a deny_reason (the reason is dropped), an
// all-default reply (= deny without reason, which is what proto3 gives for an empty message).
inline constexpr std::chrono::seconds kMaxPortalCacheTtl{7 * 24 * 3600};
inline constexpr std::size_t kMaxDenyReasonBytes = 1024;
inline constexpr std::size_t kMaxPolicyListItems = 4096;

// (status, reply) -> answer. OK + allowed -> kAllow; OK + !allowed -> kDeny; OK + malformed -> kError (kInternal,
// malformed_reply); any other status -> kError carrying that code and message.
PolicyAnswer MapCheckPolicyResult(const grpc::Status& status, const vpn::v1::CheckPolicyResponse& reply);

// The request on the wire for a query; `now` fills request_time when the query leaves it unset.
void FillCheckPolicyRequest(const PolicyQuery& query, Clock::WallTime now, vpn::v1::CheckPolicyRequest* request);

}  // namespace oa
