#include "agent/authorizer/session_events.h"

#include "agent/authorizer/audit_log.h"

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
}

}  // namespace oa
