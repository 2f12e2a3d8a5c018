#include "agent/authorizer/request_mapping.h"

#include <map>
#include <string>

namespace oa {

KeyFieldValues KeyFieldValuesOf(const IpcRequest& r) {
  KeyFieldValues v;
  v[KeyField::kUsername] = r.username;
  v[KeyField::kGroupname] = r.groupname;
  v[KeyField::kVhost] = r.vhost;
  v[KeyField::kIpReal] = r.ip_real;
  v[KeyField::kIpRealLocal] = r.ip_real_local;
  v[KeyField::kDevice] = r.device;
  v[KeyField::kUserAgent] = r.user_agent;
  v[KeyField::kHostname] = r.hostname;
  v[KeyField::kDeviceType] = r.device_type;
  v[KeyField::kDevicePlatform] = r.device_platform;
  return v;
}

PolicyQuery PolicyQueryOf(const IpcRequest& r, std::string_view agent_id, Clock::WallTime now) {
  return PolicyQuery{r, std::string(agent_id), now};
}

namespace {
std::map<std::string, std::string> EventMetadata(std::string_view admitted_by) {
  std::map<std::string, std::string> m;
  if (!admitted_by.empty()) m.emplace("admitted_by", admitted_by);
  return m;
}
}  // namespace

SessionEvent ConnectEventOf(const IpcRequest& r, std::string_view admitted_by, Clock::WallTime now) {
  SessionEvent e;
  e.kind = SessionEventKind::kConnect;
  e.username = r.username;
  e.session_id = r.id;
  e.client_ip = r.ip_real;  // as in CheckPolicy: client_ip is the real address, vpn_ip the one in the tunnel
  e.vpn_ip = r.ip_remote;
  e.device = r.device;
  e.groupname = r.groupname;
  e.at = now;
  e.metadata = EventMetadata(admitted_by);
  return e;
}

SessionEvent HostUpdateEventOf(const IpcRequest& r, std::string_view admitted_by, Clock::WallTime now) {
  SessionEvent e = ConnectEventOf(r, admitted_by, now);
  e.kind = SessionEventKind::kHostUpdate;
  return e;
}

SessionEvent DisconnectEventOf(const IpcRequest& r, std::string_view admitted_by, Clock::WallTime now) {
  SessionEvent e;
  e.kind = SessionEventKind::kDisconnect;
  e.username = r.username;
  e.groupname = r.groupname;
  e.session_id = r.id;
  e.at = now;
  e.reason = DisconnectReason::kUnspecified;  // ocserv does not tell the disconnect-script why
  e.duration_seconds = static_cast<std::int64_t>(r.stats_duration);
  e.bytes_received = r.stats_bytes_in;  // STATS_BYTES_IN: what the server received from the client
  e.bytes_sent = r.stats_bytes_out;
  e.metadata = EventMetadata(admitted_by);
  return e;
}

}  // namespace oa
