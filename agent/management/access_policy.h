// Who is calling the management API and may they call this RPC. Pure logic, no gRPC: the server extracts the names
// from the peer's verified certificate (call_gate.cc) and asks here.
//
//   identity: the first URI SAN, then DNS SAN, that `management.clients` lists; with no SAN at all, the CN. A
//             certificate that has SANs is never identified by its CN (RFC 6125 §6.4.4).
//   role:     one table, RPC full name -> minimum role (RequiredRole). An RPC missing from it is refused.
//
// Thread-safety: AccessPolicy is immutable after construction; any thread may call it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "agent/config/management_options.h"

namespace oa {

// The names a verified client certificate carries, as the TLS layer reports them.
struct PeerCertNames {
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  std::string common_name;
};

std::string_view to_string(ManagementRole role);

// The minimum role for an RPC given by its full gRPC name ("/agent.v1.AgentService/HealthCheck"); nullopt for an
// RPC nobody may call (unknown to the table).
std::optional<ManagementRole> RequiredRole(std::string_view full_method);

// Whether the RPC is one of our services' methods, whose handler checks and audits the call itself (CallGate). Every
// other call on the management port (gRPC's reflection service, a method not in the table) is checked and audited
// before any handler runs (management_auth_processor.h).
bool CheckedByHandler(std::string_view full_method);

// Every RPC the table knows, for tests that check both services are covered.
std::vector<std::string_view> KnownRpcs();

struct AccessDecision {
  absl::Status status;   // OK, UNAUTHENTICATED (identity not listed) or PERMISSION_DENIED (role too low / unknown RPC)
  std::string identity;  // what the audit log names: the matched identity, else the best name the cert carried
  std::optional<ManagementRole> role;
};

class AccessPolicy {
 public:
  explicit AccessPolicy(std::vector<ManagementClient> clients);

  // The listed identity this certificate maps to, with its role; nullopt when none is listed.
  std::optional<ManagementClient> Identify(const PeerCertNames& names) const;

  AccessDecision Check(const PeerCertNames& names, std::string_view full_method) const;

 private:
  const ManagementClient* Find(std::string_view identity) const;

  std::vector<ManagementClient> clients_;
};

}  // namespace oa
