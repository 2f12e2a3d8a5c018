#include "agent/portal/check_policy_result.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/portal/strict_reply.h"

namespace oa {
namespace {

PolicyAnswer Malformed(std::string why) {
  PolicyAnswer answer;
  answer.outcome = PortalOutcome::kError;
  answer.malformed_reply = true;
  answer.error = absl::InternalError(absl::StrCat("malformed CheckPolicy reply: ", why));
  return answer;
}

template <class Repeated>
void CopyOut(const Repeated& from, std::vector<std::string>* to) {
  to->assign(from.begin(), from.end());
}

template <class Repeated>
void CopyIn(const std::vector<std::string>& from, Repeated* to) {
  to->Reserve(static_cast<int>(from.size()));
  for (const auto& s : from) to->Add(std::string(s));
}

}  // namespace

PolicyAnswer MapCheckPolicyResult(const grpc::Status& status, const vpn::v1::CheckPolicyResponse& reply) {
  PolicyAnswer answer;
  if (!status.ok()) {
    answer.outcome = PortalOutcome::kError;
    // grpc::StatusCode and absl::StatusCode share their numbers (both are the canonical gRPC codes).
    answer.error = absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
    return answer;
  }
  if (reply.has_cache_ttl_seconds() && std::chrono::seconds(reply.cache_ttl_seconds()) > kMaxPortalCacheTtl) {
    return Malformed(absl::StrCat("cache_ttl_seconds ", reply.cache_ttl_seconds(), " exceeds the limit of ",
                                  kMaxPortalCacheTtl.count()));
  }
  if (reply.deny_reason().size() > kMaxDenyReasonBytes) {
    return Malformed(absl::StrCat("deny_reason of ", reply.deny_reason().size(), " bytes exceeds ",
                                  kMaxDenyReasonBytes));
  }
  const auto items = static_cast<std::size_t>(reply.routes_size()) + static_cast<std::size_t>(reply.dns_servers_size());
  if (items > kMaxPolicyListItems) {
    return Malformed(absl::StrCat(items, " routes + dns_servers exceed ", kMaxPolicyListItems));
  }

  for (const auto* list : {&reply.routes(), &reply.dns_servers()}) {
    for (const std::string& item : *list) {
      if (item.size() > kMaxPolicyItemBytes) {
        return Malformed(absl::StrCat("a route or dns_servers entry of ", item.size(), " bytes exceeds ",
                                      kMaxPolicyItemBytes));
      }
    }
  }
  if (static_cast<std::size_t>(reply.metadata_size()) > kMaxMetadataEntries) {
    return Malformed(absl::StrCat(reply.metadata_size(), " metadata entries exceed ", kMaxMetadataEntries));
  }
  for (const auto& [key, value] : reply.metadata()) {
    if (key.size() > kMaxMetadataKeyBytes || value.size() > kMaxMetadataValueBytes) {
      return Malformed(absl::StrCat("a metadata entry of ", key.size(), "+", value.size(), " bytes exceeds ",
                                    kMaxMetadataKeyBytes, "+", kMaxMetadataValueBytes));
    }
  }

  answer.outcome = reply.allowed() ? PortalOutcome::kAllow : PortalOutcome::kDeny;
  if (!reply.allowed()) answer.deny_reason = reply.deny_reason();
  if (reply.has_cache_ttl_seconds()) answer.cache_ttl = std::chrono::seconds(reply.cache_ttl_seconds());
  answer.policy_epoch = reply.policy_epoch();
  CopyOut(reply.routes(), &answer.routes);
  CopyOut(reply.dns_servers(), &answer.dns_servers);
  answer.should_disconnect = reply.should_disconnect();
  answer.metadata.insert(reply.metadata().begin(), reply.metadata().end());
  return answer;
}

PolicyAnswer MapCheckPolicyReply(const grpc::Status& status, grpc::ByteBuffer* received) {
  vpn::v1::CheckPolicyResponse reply;
  if (status.ok()) {
    if (absl::Status parsed = ParseReplyStrictly(received, kMaxCheckPolicyReplyBytes, &reply); !parsed.ok()) {
      return Malformed(std::string(parsed.message()));
    }
  }
  return MapCheckPolicyResult(status, reply);
}

void FillCheckPolicyRequest(const PolicyQuery& q, Clock::WallTime now, vpn::v1::CheckPolicyRequest* r) {
  const IpcRequest& in = q.request;
  // The anchor protocol's fields (1-7).
  r->set_username(in.username);
  r->set_groupname(in.groupname);
  r->set_client_ip(in.ip_real);  // the client's real address; vpn_ip is the one inside the tunnel
  r->set_vpn_ip(in.ip_remote);
  r->set_session_id(in.id);
  r->set_device(in.device);
  const Clock::WallTime when = q.request_time == Clock::WallTime{} ? now : q.request_time;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  if (ns < 0) ns = 0;  // a Timestamp before 1970 has no use here and negative nanos are invalid
  r->mutable_request_time()->set_seconds(ns / 1'000'000'000);
  r->mutable_request_time()->set_nanos(static_cast<int>(ns % 1'000'000'000));

  // The rest of what ocserv gives the connect-script (100+).
  r->set_vhost(in.vhost);
  r->set_user_agent(in.user_agent);
  r->set_hostname(in.hostname);
  r->set_remote_hostname(in.remote_hostname);
  r->set_device_type(in.device_type);
  r->set_device_platform(in.device_platform);
  r->set_ip_real_local(in.ip_real_local);
  r->set_ip_local(in.ip_local);
  r->set_ipv6_local(in.ipv6_local);
  r->set_ipv6_remote(in.ipv6_remote);
  r->set_ipv6_prefix(in.ipv6_prefix);
  r->set_agent_id(q.agent_id);
  r->set_request_id(in.request_id);
  CopyIn(in.routes, r->mutable_ocserv_routes());
  CopyIn(in.routes4, r->mutable_ocserv_routes4());
  CopyIn(in.routes6, r->mutable_ocserv_routes6());
  CopyIn(in.no_routes, r->mutable_ocserv_no_routes());
  CopyIn(in.no_routes4, r->mutable_ocserv_no_routes4());
  CopyIn(in.no_routes6, r->mutable_ocserv_no_routes6());
  CopyIn(in.dns, r->mutable_ocserv_dns());
  CopyIn(in.dns4, r->mutable_ocserv_dns4());
  CopyIn(in.dns6, r->mutable_ocserv_dns6());
  r->set_ocserv_restrict_to_routes(in.restrict_to_routes);
  CopyIn(in.allow_ports, r->mutable_ocserv_allow_ports());
  CopyIn(in.deny_ports, r->mutable_ocserv_deny_ports());
}

}  // namespace oa
