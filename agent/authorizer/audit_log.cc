#include "agent/authorizer/audit_log.h"

#include <spdlog/spdlog.h>

namespace oa {

void LogDecision(const IpcRequest& r, const Decision& d, std::chrono::nanoseconds latency) {
  const bool degraded = d.source == DecisionSource::kStale || d.source == DecisionSource::kFailOpen ||
                        d.source == DecisionSource::kFailClose;
  spdlog::log(degraded ? spdlog::level::warn : spdlog::level::info,
              "decision user={:?} group={:?} ip={} id={} verdict={} source={} latency_ms={:.3f} reason={:?} "
              "request_id={}",
              r.username, r.groupname, r.ip_real, r.id, to_string(d.verdict), to_string(d.source),
              std::chrono::duration<double, std::milli>(latency).count(), d.reason, r.request_id);
}

void LogSessionEvent(const IpcRequest& r, const std::optional<SessionRecord>& admitted) {
  spdlog::info("session {} id={} user={:?} group={:?} ip={} vpn_ip={} bytes_in={} bytes_out={} duration_s={} "
               "admitted_by={}",
               ReasonName(r.reason), r.id, r.username, r.groupname, r.ip_real, r.ip_remote, r.stats_bytes_in,
               r.stats_bytes_out, r.stats_duration, admitted ? to_string(admitted->admitted_by) : "unknown");
}

void LogPortalError(const IpcRequest& leader, std::string_view code, std::string_view message) {
  spdlog::warn("portal call failed user={:?} code={} message={:?}", leader.username, code, message);
}

}  // namespace oa
