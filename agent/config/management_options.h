// Options of the management gRPC server (`management:`) and of how the agent reaches ocserv (`ocserv:`).
#pragma once

#include <chrono>
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

struct OcservOptions {
  std::string occtl_path = "/usr/bin/occtl";
  std::string occtl_socket = "/run/ocserv/occtl.socket";
  std::string config_per_user_dir = "/etc/ocserv/config-per-user";
  std::string config_per_group_dir = "/etc/ocserv/config-per-group";
  std::string main_config_path = "/etc/ocserv/ocserv.conf";  // UpdateConfig(MAIN), only with allow_main_config_update
  std::chrono::milliseconds command_timeout_max{30000};

  bool operator==(const OcservOptions&) const = default;
};

}  // namespace oa
