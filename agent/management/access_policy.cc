#include "agent/management/access_policy.h"

#include <array>
#include <utility>

namespace oa {
namespace {

struct RpcRole {
  std::string_view method;
  ManagementRole role;
};

// The single RPC -> role table. viewer: read-only; operator: changes runtime state; admin: runs commands on, or
// writes files of, the VPN server.
constexpr std::array kRpcRoles{
    RpcRole{"/agent.v1.AgentService/HealthCheck", ManagementRole::kViewer},
    RpcRole{"/agent.v1.AgentService/StreamLogs", ManagementRole::kViewer},
    RpcRole{"/agent.v1.AgentService/ExecuteCommand", ManagementRole::kAdmin},
    RpcRole{"/agent.v1.AgentService/UpdateConfig", ManagementRole::kAdmin},
    RpcRole{"/ocserv_agent.v1.AgentControl/GetStatus", ManagementRole::kViewer},
    RpcRole{"/ocserv_agent.v1.AgentControl/ListSessions", ManagementRole::kViewer},
    RpcRole{"/ocserv_agent.v1.AgentControl/InvalidateCache", ManagementRole::kOperator},
    RpcRole{"/ocserv_agent.v1.AgentControl/SetFailMode", ManagementRole::kOperator},
    RpcRole{"/ocserv_agent.v1.AgentControl/SetBreaker", ManagementRole::kOperator},
    RpcRole{"/ocserv_agent.v1.AgentControl/Revoke", ManagementRole::kOperator},
    RpcRole{"/ocserv_agent.v1.AgentControl/Restore", ManagementRole::kOperator},
    RpcRole{"/ocserv_agent.v1.AgentControl/DisconnectSession", ManagementRole::kOperator},
    // gRPC's reflection service (served only when management.reflection): it describes the API, nothing more.
    RpcRole{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", ManagementRole::kViewer},
};

int Rank(ManagementRole r) {
  switch (r) {
    case ManagementRole::kViewer: return 1;
    case ManagementRole::kOperator: return 2;
    case ManagementRole::kAdmin: return 3;
  }
  return 0;
}

}  // namespace

std::string_view to_string(ManagementRole role) {
  switch (role) {
    case ManagementRole::kViewer: return "viewer";
    case ManagementRole::kOperator: return "operator";
    case ManagementRole::kAdmin: return "admin";
  }
  return "unknown";
}

std::optional<ManagementRole> RequiredRole(std::string_view full_method) {
  for (const auto& e : kRpcRoles) {
    if (e.method == full_method) return e.role;
  }
  return std::nullopt;
}

bool CheckedByHandler(std::string_view full_method) {
  // gRPC's own services (package grpc.*) are library code that never calls CallGate.
  return RequiredRole(full_method).has_value() && full_method.substr(0, 6) != "/grpc.";
}

std::vector<std::string_view> KnownRpcs() {
  std::vector<std::string_view> out;
  for (const auto& e : kRpcRoles) out.push_back(e.method);
  return out;
}

AccessPolicy::AccessPolicy(std::vector<ManagementClient> clients) : clients_(std::move(clients)) {}

const ManagementClient* AccessPolicy::Find(std::string_view identity) const {
  if (identity.empty()) return nullptr;
  for (const auto& c : clients_) {
    if (c.identity == identity) return &c;
  }
  return nullptr;
}

std::optional<ManagementClient> AccessPolicy::Identify(const PeerCertNames& names) const {
  for (const auto& uri : names.uri_sans) {
    if (const auto* c = Find(uri)) return *c;
  }
  for (const auto& dns : names.dns_sans) {
    if (const auto* c = Find(dns)) return *c;
  }
  if (names.uri_sans.empty() && names.dns_sans.empty()) {
    if (const auto* c = Find(names.common_name)) return *c;
  }
  return std::nullopt;
}

AccessDecision AccessPolicy::Check(const PeerCertNames& names, std::string_view full_method) const {
  AccessDecision d;
  const auto client = Identify(names);
  if (!client) {
    d.identity = !names.uri_sans.empty()   ? names.uri_sans.front()
                 : !names.dns_sans.empty() ? names.dns_sans.front()
                                           : names.common_name;
    d.status = absl::UnauthenticatedError("client identity is not listed in management.clients");
    return d;
  }
  d.identity = client->identity;
  d.role = client->role;
  const auto needed = RequiredRole(full_method);
  if (!needed) {
    d.status = absl::PermissionDeniedError("RPC is not in the management role table");
    return d;
  }
  if (Rank(client->role) < Rank(*needed)) {
    d.status = absl::PermissionDeniedError(std::string(full_method) + " needs role " + std::string(to_string(*needed)) +
                                           ", caller has " + std::string(to_string(client->role)));
    return d;
  }
  d.status = absl::OkStatus();
  return d;
}

}  // namespace oa
