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
  if (outbox_ == nullptr) return;
  const std::string_view admitted_by = admitted ? to_string(admitted->admitted_by) : std::string_view();
  if (request->reason == IpcReason::kDisconnect) {
    outbox_->Append(DisconnectEventOf(*request, admitted_by, clock_.wall_now()));
  } else {
    outbox_->Append(HostUpdateEventOf(*request, admitted_by, clock_.wall_now()));
  }
}

void SessionEventRecorder::OnAdmitDelivered(std::shared_ptr<const IpcRequest> request, DecisionSource source) {
  if (outbox_ != nullptr) outbox_->Append(ConnectEventOf(*request, to_string(source), clock_.wall_now()));
}

void SessionEventRecorder::OnForcedDisconnect(const SessionRecord& session, DisconnectReason reason,
                                              std::map<std::string, std::string> metadata) {
  if (outbox_ == nullptr) return;
  SessionEvent e;
  e.kind = SessionEventKind::kDisconnect;
  e.username = session.username;
  e.groupname = session.groupname;
  e.session_id = session.id;
  e.client_ip = session.ip_real;
  e.vpn_ip = session.vpn_ip;
  e.at = clock_.wall_now();
  e.reason = reason;
  e.metadata = std::move(metadata);
  outbox_->Append(std::move(e));
}

}  // namespace oa
