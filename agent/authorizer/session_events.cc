#include "agent/authorizer/session_events.h"

#include "agent/authorizer/audit_log.h"
#include "agent/authorizer/request_mapping.h"
#include "spdlog/spdlog.h"

namespace oa {

namespace {

std::string_view AdmittedByOf(const SessionRecord& s) {
  return s.reconstructed ? std::string_view("unknown") : to_string(s.admitted_by);
}

// The forced disconnect's reason goes on ocserv's disconnect event (or a reconstructed one): one event, both facts.
void ApplyForced(const SessionRecord& s, SessionEvent* e) {
  if (!s.forced) return;
  e->reason = s.forced->reason;
  e->metadata["forced"] = "true";
  e->metadata["disconnect_cause"] = s.forced->cause;
  e->metadata["disconnect_reason_text"] = s.forced->reason_text;
}

SessionEvent EventOf(const SessionRecord& s, SessionEventKind kind, Clock::WallTime at) {
  SessionEvent e;
  e.kind = kind;
  e.username = s.username;
  e.groupname = s.groupname;
  e.session_id = s.id;
  e.client_ip = s.ip_real;
  e.vpn_ip = s.vpn_ip;
  e.at = at;
  e.bytes_received = s.bytes_received;
  e.bytes_sent = s.bytes_sent;
  if (s.connected_at != Clock::WallTime{} && at > s.connected_at) {
    e.duration_seconds = std::chrono::duration_cast<std::chrono::seconds>(at - s.connected_at).count();
  }
  e.metadata["admitted_by"] = std::string(AdmittedByOf(s));
  return e;
}

}  // namespace

void SessionEventRecorder::OnSessionEvent(std::shared_ptr<const IpcRequest> request) {
  std::optional<SessionRecord> admitted;
  bool already_reported = false;
  if (request->reason == IpcReason::kDisconnect) {
    AuthorizerCounters::Bump(counters_.disconnects);
    admitted = sessions_.Remove(request->id);
    // ocserv runs the disconnect-script after a killed connect-script too: a disconnect without a connect is
    // normal, counted so an operator can see it.
    if (!admitted) {
      AuthorizerCounters::Bump(counters_.disconnects_unknown_session);
      already_reported = sessions_.TakeClosedByReconcile(request->id);
    }
  } else {
    AuthorizerCounters::Bump(counters_.host_updates);
  }
  LogSessionEvent(*request, admitted);
  if (outbox_ == nullptr) return;
  const std::string_view admitted_by = admitted ? AdmittedByOf(*admitted) : std::string_view();
  if (request->reason == IpcReason::kDisconnect) {
    if (already_reported) {
      // A reconciliation saw the session gone twice and reported a reconstructed disconnect: the portal has its one
      // disconnect for it (session_registry.h says why it waited, docs/architecture.md why this is not sent).
      spdlog::info("session {} disconnect-script came after reconciliation had reported it closed; not sent again",
                   request->id);
      return;
    }
    SessionEvent e = DisconnectEventOf(*request, admitted_by, clock_.wall_now());
    if (admitted) ApplyForced(*admitted, &e);
    outbox_->Append(std::move(e));
  } else {
    outbox_->Append(HostUpdateEventOf(*request, admitted_by, clock_.wall_now()));
  }
}

void SessionEventRecorder::OnAdmitDelivered(std::shared_ptr<const IpcRequest> request, DecisionSource source) {
  if (outbox_ != nullptr) outbox_->Append(ConnectEventOf(*request, to_string(source), clock_.wall_now()));
}

void SessionEventRecorder::OnReconstructedConnect(const SessionRecord& session) {
  if (outbox_ == nullptr) return;
  const auto now = clock_.wall_now();
  SessionEvent e = EventOf(session, SessionEventKind::kConnect,
                           session.connected_at != Clock::WallTime{} ? session.connected_at : now);
  e.duration_seconds = 0;
  e.bytes_received = e.bytes_sent = 0;
  e.metadata["reconstructed"] = "true";
  outbox_->Append(std::move(e));
}

void SessionEventRecorder::OnReconstructedDisconnect(const SessionRecord& session) {
  if (outbox_ == nullptr) return;
  SessionEvent e = EventOf(session, SessionEventKind::kDisconnect, clock_.wall_now());
  e.client_ip.clear();  // ReportDisconnect has no address fields
  e.vpn_ip.clear();
  e.metadata["reconstructed"] = "true";
  ApplyForced(session, &e);
  outbox_->Append(std::move(e));
}

void SessionEventRecorder::OnSessionUpdate(const SessionRecord& session) {
  if (outbox_ == nullptr) return;
  outbox_->Append(EventOf(session, SessionEventKind::kHostUpdate, clock_.wall_now()));
}

}  // namespace oa
