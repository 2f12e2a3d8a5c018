// SessionEventRecorder: receives the host-update and disconnect events the IPC server has already acknowledged,
// closes the session in the SessionRegistry (so a disconnect says how its session had been admitted, e.g.
// fail_open), counts them and writes one audit line each with the byte and duration stats.
//
// Thread-safety: OnSessionEvent runs on the IPC loop thread; it never blocks (a registry lookup and a log line).
#pragma once

#include "agent/authorizer/authorizer_counters.h"
#include "agent/authorizer/session_registry.h"
#include "ipc/authorizer.h"

namespace oa {

class SessionEventRecorder final : public SessionEventSink {
 public:
  // `sessions` and `counters` must outlive the recorder.
  SessionEventRecorder(SessionRegistry& sessions, AuthorizerCounters& counters)
      : sessions_(sessions), counters_(counters) {}

  void OnSessionEvent(std::shared_ptr<const IpcRequest> request) override;

 private:
  SessionRegistry& sessions_;
  AuthorizerCounters& counters_;
};

}  // namespace oa
