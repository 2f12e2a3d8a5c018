// Options of the management gRPC server (`management:`) and of how the agent reaches ocserv (`ocserv:`).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstddef>
#include <string>
#include <vector>

namespace oa {

enum class ManagementRole { kViewer, kOperator, kAdmin };

struct ManagementClient {
  std::string identity;  // certificate SAN (URI or DNS) or, failing those, CN
  ManagementRole role = ManagementRole::kViewer;

  bool operator==(const ManagementClient&) const = default;
};

struct ManagementOptions {
  bool enabled = false;  // off until configured: most sites do not need it, and it needs its own PKI
  std::string listen = "0.0.0.0:9443";
  std::string cert_file;
  std::string key_file;
  std::string client_ca;
  std::vector<ManagementClient> clients{{"portal.example.net", ManagementRole::kAdmin}};
  bool reflection = false;
  bool allow_main_config_update = false;  // UpdateConfig(MAIN) is refused unless true
  // Against peers without a certificate (issue 14): fixed defaults, not config keys. A connection must finish its TLS
  // handshake within handshake_timeout; past max_connections open at once, a new one is closed at once. Management
  // clients are a few portals and operators, each needing one HTTP/2 connection.
  std::chrono::milliseconds handshake_timeout{5000};
  std::size_t max_connections = 128;

  bool operator==(const ManagementOptions&) const = default;
};

// How a session is ended (live enforcement): `disconnect id N` (every ocserv; 1.1.6 leaves the cookie valid, so the
// client may reconnect at once — the revocation refuses it), or `terminate id N` (ocserv >= 1.4.2: also voids the
// cookie).
enum class DisconnectCommand { kDisconnect, kTerminate };

struct OcservOptions {
  std::string occtl_path = "/usr/bin/occtl";
  std::string occtl_socket = "/var/run/occtl.socket";  // Debian 12's ocserv and occtl use this one
  std::string config_per_user_dir = "/etc/ocserv/config-per-user";
  std::string config_per_group_dir = "/etc/ocserv/config-per-group";
  std::string main_config_path = "/etc/ocserv/ocserv.conf";  // UpdateConfig(MAIN), only with allow_main_config_update
  std::chrono::milliseconds command_timeout_max{30000};
  DisconnectCommand disconnect_command = DisconnectCommand::kDisconnect;
  std::chrono::milliseconds reconcile_interval{60'000};  // session registry vs `occtl --json show users`; 0 = off

  bool operator==(const OcservOptions&) const = default;
};

// `enforcement:` — live enforcement (shared/DESIGN.md "Live enforcement").
struct EnforcementOptions {
  bool watch = true;                                    // keep the PolicyWatch stream to the portal
  bool recheck_after_outage = true;                     // re-check fail_open/stale sessions when the portal is back
  std::uint32_t recheck_rate = 50;                      // re-checks per second, at most
  std::chrono::milliseconds recheck_interval{0};        // periodic re-check of every session; 0 = off
  std::chrono::milliseconds revocation_ttl{24 * 3600 * 1000};
  std::uint32_t disconnect_concurrency = 4;             // occtl disconnects running at once
  std::chrono::milliseconds disconnect_timeout{5000};   // deadline of one occtl disconnect

  bool operator==(const EnforcementOptions&) const = default;
};

}  // namespace oa
