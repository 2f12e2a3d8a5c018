// SessionEventRecorder: the IPC server's SessionEventSink. It receives
//   - host-update and disconnect events the IPC server has already acknowledged: closes the session in the
//     SessionRegistry (so a disconnect says how its session had been admitted, e.g. fail_open), counts them and
//     writes one audit line each with the byte and duration stats;
//   - connects whose admit reply was written in full to a helper that was still waiting (OnAdmitDelivered): only
//     those are sessions ocserv will run, so only those are recorded — an answer that came after the helper left,
//     or after the IPC server's backstop answered, never gets here.
// With an Outbox, each of them is appended to it (a queue push) for delivery to the portal. Live enforcement adds
// events the agent builds itself (docs/architecture.md "Session events the agent builds itself"):
//   - a disconnect the agent forced (occtl) is NOT a second event: the session carries a ForcedDisconnect mark in
//     the registry, and ocserv's own disconnect-script event for it (the one with STATS_*) is sent with the mark's
//     reason and metadata — exactly one disconnect per session reaches the portal;
//   - reconstructed connects / disconnects found by reconciliation (metadata reconstructed=true), a disconnect-script
//     that arrives after reconciliation already closed its session is counted and not sent again;
//   - periodic session updates with occtl's byte counts (events.session_update_interval).
//
// Thread-safety: both SessionEventSink callbacks run on the IPC loop thread; they never block (a registry lookup, a
// log line, a queue push). The On* methods below may be called from any thread (they only push on the outbox's
// queue).
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
  // Reconciliation: a session ocserv runs that no admit here accounts for (admitted_by=unknown, reconstructed=true).
  void OnReconstructedConnect(const SessionRecord& session);
  // Reconciliation: a session ocserv no longer runs whose disconnect-script never came (reconstructed=true, the last
  // bytes occtl showed; a forced session's reason). No-op without an outbox for all three.
  void OnReconstructedDisconnect(const SessionRecord& session);
  // events.session_update_interval: a live session's bytes as occtl shows them (ReportSessionUpdate).
  void OnSessionUpdate(const SessionRecord& session);
  // How many disconnect-scripts were not sent because reconciliation had already reported their session closed.
  std::uint64_t late_disconnects_not_sent() const { return sessions_.late_disconnects(); }

 private:
  SessionRegistry& sessions_;
  AuthorizerCounters& counters_;
  Outbox* const outbox_;
  const Clock& clock_;
};

}  // namespace oa
