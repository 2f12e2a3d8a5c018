// SessionEventRecorder: the IPC server's SessionEventSink. It receives
//   - host-update and disconnect events the IPC server has already acknowledged: closes the session in the
//     SessionRegistry (so a disconnect says how its session had been admitted, e.g. fail_open), counts them and
//     writes one audit line each with the byte and duration stats;
//   - connects whose admit reply was written in full to a helper that was still waiting (OnAdmitDelivered): only
//     those are sessions ocserv will run, so only those are recorded — an answer that came after the helper left,
//     or after the IPC server's backstop answered, never gets here.
// With an Outbox, each of them is appended to it (a queue push) for delivery to the portal. So is every disconnect
// the agent forced itself (live enforcement: OnForcedDisconnect), with the reason and metadata it gives.
//
// Thread-safety: both SessionEventSink callbacks run on the IPC loop thread; they never block (a registry lookup, a
// log line, a queue push). OnForcedDisconnect may be called from any thread (it only pushes on the outbox's queue).
#pragma once

#include "agent/authorizer/authorizer_counters.h"
#include "agent/authorizer/session_registry.h"
#include "events/outbox.h"
#include "ipc/authorizer.h"

namespace oa {

class SessionEventRecorder final : public SessionEventSink {
 public:
  // `sessions`, `counters`, `outbox` (optional) and `clock` must outlive the recorder.
  SessionEventRecorder(SessionRegistry& sessions, AuthorizerCounters& counters, Outbox* outbox = nullptr,
                       const Clock& clock = SystemClock::instance())
      : sessions_(sessions), counters_(counters), outbox_(outbox), clock_(clock) {}

  void OnSessionEvent(std::shared_ptr<const IpcRequest> request) override;
  void OnAdmitDelivered(std::shared_ptr<const IpcRequest> request, DecisionSource source) override;
  // A session the agent ended through occtl (a revocation or a failed re-check): recorded as a disconnect with
  // `reason` and `metadata` (disconnect_cause, disconnect_reason_text, admitted_by). The caller has already taken the
  // session out of the registry. A no-op without an outbox.
  void OnForcedDisconnect(const SessionRecord& session, DisconnectReason reason,
                          std::map<std::string, std::string> metadata);

 private:
  SessionRegistry& sessions_;
  AuthorizerCounters& counters_;
  Outbox* const outbox_;
  const Clock& clock_;
};

}  // namespace oa
