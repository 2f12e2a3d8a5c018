#include "agent/authorizer/audit_log.h"

#include <spdlog/spdlog.h>

namespace oa {

void LogSessionEvent(const IpcRequest& r, const std::optional<SessionRecord>& admitted) {
  // Every field the helper sent is quoted and escaped ({:?}), so that none can forge a second line or field.
  spdlog::info("session {} id={:?} user={:?} group={:?} ip={:?} vpn_ip={:?} bytes_in={} bytes_out={} duration_s={} "
               "admitted_by={}",
               ReasonName(r.reason), r.id, r.username, r.groupname, r.ip_real, r.ip_remote, r.stats_bytes_in,
               r.stats_bytes_out, r.stats_duration, admitted ? to_string(admitted->admitted_by) : "unknown");
}

}  // namespace oa
