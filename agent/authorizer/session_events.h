// SessionEventRecorder: receives the host-update and disconnect events the IPC server has already acknowledged,
// closes the session in the SessionRegistry (so a disconnect says how its session had been admitted, e.g.
// fail_open), counts them and writes one audit line each with the byte and duration stats. With an EventReporter,
// each disconnect is also reported to the portal (ReportDisconnect with the stats).
//
// Thread-safety: OnSessionEvent runs on the IPC loop thread; it never blocks (a registry lookup and a log line).
#pragma once

#include "agent/authorizer/authorizer_counters.h"
#include "agent/authorizer/session_registry.h"
#include "agent/portal/event_reporter.h"
#include "ipc/authorizer.h"

namespace oa {

class SessionEventRecorder final : public SessionEventSink {
 public:
  // `sessions`, `counters` and `events` (optional) must outlive the recorder.
  SessionEventRecorder(SessionRegistry& sessions, AuthorizerCounters& counters, EventReporter* events = nullptr)
      : sessions_(sessions), counters_(counters), events_(events) {}

  void OnSessionEvent(std::shared_ptr<const IpcRequest> request) override;

 private:
  SessionRegistry& sessions_;
  AuthorizerCounters& counters_;
  EventReporter* const events_;
};

}  // namespace oa
