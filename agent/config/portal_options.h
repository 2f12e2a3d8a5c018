// Options of the portal client, as the config file's `portal:` section gives them (config.yaml.example).
#pragma once

#include <chrono>
#include <string>

namespace oa {

struct PortalOptions {
  std::string address = "portal.example.net:8443";
  std::string ca_file;      // CA that signed the portal's server certificate
  std::string cert_file;    // our client certificate
  std::string key_file;     // its key
  std::string server_name;  // "" = the host part of `address`; else the name the server certificate must carry
  std::chrono::milliseconds timeout{2000};          // deadline of every CheckPolicy call
  std::chrono::milliseconds keepalive_time{30000};
  // Tell the portal about admitted sessions and their ends (vpn.v1.EventService ReportConnect / ReportDisconnect).
  bool report_events = true;

  bool operator==(const PortalOptions&) const = default;
};

}  // namespace oa
