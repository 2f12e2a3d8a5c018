#include "agent/management/call_gate.h"

#include <grpc/grpc_security_constants.h>
#include <spdlog/spdlog.h>

#include "agent/management/audit_text.h"

namespace oa {
namespace {

std::vector<std::string> Values(const grpc::AuthContext& auth, const char* property) {
  std::vector<std::string> out;
  for (const auto& v : auth.FindPropertyValues(property)) out.emplace_back(v.data(), v.size());
  return out;
}

}  // namespace

PeerCertNames PeerNamesFromAuthContext(const grpc::AuthContext* auth) {
  PeerCertNames names;
  // Only a TLS peer that presented a certificate our client CA verified is authenticated; the handshake already
  // refused everyone else, this is defence in depth.
  if (!auth || !auth->IsPeerAuthenticated()) return names;
  names.uri_sans = Values(*auth, GRPC_PEER_URI_PROPERTY_NAME);
  names.dns_sans = Values(*auth, GRPC_PEER_DNS_PROPERTY_NAME);
  const auto cn = Values(*auth, GRPC_X509_CN_PROPERTY_NAME);
  if (!cn.empty()) names.common_name = cn.front();
  return names;
}

PeerCertNames PeerNamesFromContext(const grpc::ServerContext& context) {
  return PeerNamesFromAuthContext(context.auth_context().get());
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

CallGate::Call CallGate::Admit(const grpc::ServerContext& context, std::string_view rpc) const {
  return Admit(context.auth_context().get(), rpc);
}

CallGate::Call CallGate::Admit(const grpc::AuthContext* auth, std::string_view rpc) const {
  Call call(counters_, rpc);
  counters_.calls.fetch_add(1, std::memory_order_relaxed);
  const PeerCertNames names = PeerNamesFromAuthContext(auth);
  const AccessDecision d = policy_.Check(names, rpc);
  // An unlisted identity is whatever the certificate says: escaped like any other caller text.
  call.identity_ = d.identity.empty() ? "(none)" : AuditText(d.identity);
  call.role_ = d.role ? std::string(to_string(*d.role)) : "-";
  call.refusal_ = ToGrpcStatus(d.status);
  if (d.status.ok()) {
    call.listed_identity_ = d.identity;
    call.role_value_ = d.role;
  }
  return call;
}

bool CallGate::Reserve(Call& call, Weight weight) const {
  if (!call.admitted() || !call.role_value_) return false;
  auto r = limiter_.TryAcquire(*call.role_value_, call.listed_identity_, weight == Weight::kFollow);
  if (!r.slot) {
    call.refusal_ = ToGrpcStatus(r.status);
    return false;
  }
  call.slot_.emplace(std::move(*r.slot));
  return true;
}

grpc::Status CallGate::Call::Finish(grpc::Status status, std::string_view detail) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK: counters_.ok.fetch_add(1, std::memory_order_relaxed); break;
    case grpc::StatusCode::UNAUTHENTICATED: counters_.unauthenticated.fetch_add(1, std::memory_order_relaxed); break;
    case grpc::StatusCode::PERMISSION_DENIED:
      counters_.permission_denied.fetch_add(1, std::memory_order_relaxed);
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
      counters_.invalid_argument.fetch_add(1, std::memory_order_relaxed);
      break;
    default: counters_.failed.fetch_add(1, std::memory_order_relaxed); break;
  }
  // One audit line per call, refusals at warning so that they stand out.
  const auto level = status.ok() ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level, "management audit: identity={} role={} rpc={} result={}{}{}{}", identity_, role_, rpc_,
              status.ok() ? "OK" : "ERROR", status.ok() ? "" : " code=" + std::to_string(status.error_code()),
              status.error_message().empty() ? "" : " message=\"" + AuditText(status.error_message(), 512) + "\"",
              detail.empty() ? "" : " " + std::string(detail));
  return status;
}

}  // namespace oa
