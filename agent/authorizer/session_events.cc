#include "agent/authorizer/session_events.h"

#include "agent/authorizer/audit_log.h"
#include "agent/authorizer/request_mapping.h"

namespace oa {

void SessionEventRecorder::OnSessionEvent(std::shared_ptr<const IpcRequest> request) {
  std::optional<SessionRecord> admitted;
  if (request->reason == IpcReason::kDisconnect) {
    AuthorizerCounters::Bump(counters_.disconnects);
    admitted = sessions_.Remove(request->id);
    // ocserv runs the disconnect-script after a killed connect-script too: a disconnect without a connect is
    // normal, counted so an operator can see it.
    if (!admitted) AuthorizerCounters::Bump(counters_.disconnects_unknown_session);
  } else {
    AuthorizerCounters::Bump(counters_.host_updates);
  }
  LogSessionEvent(*request, admitted);
  if (events_ != nullptr && request->reason == IpcReason::kDisconnect) {
    const std::string_view admitted_by = admitted ? to_string(admitted->admitted_by) : std::string_view();
    events_->ReportDisconnect(DisconnectEventOf(*request, admitted_by, Clock::WallTime{}));
  }
}

}  // namespace oa
