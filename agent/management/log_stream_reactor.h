// StreamLogs as a callback (reactor) method: a stream writes the ring's matching lines one Write at a time and, when
// following, waits for the LogRing to announce a new line without holding any thread (issue 14 item 3: 31 sync
// follows used to fill the 32-thread handler pool). The ring's listener only schedules the next Write; it never
// waits for the client. Internal to agent/management (includes gRPC); AgentServiceImpl creates the reactors.
//
// Thread-safety: a reactor's callbacks (OnWriteDone, OnCancel, OnDone), the ring's listener (the logging thread) and
// LogStreams::StopAll (the server's Stop) may run concurrently; the reactor's state is guarded by its mutex, which
// is never held while it calls into gRPC or logs.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>

#include "agent/management/call_gate.h"
#include "agent/v1/agent.pb.h"
#include "common/log_ring.h"

namespace oa {

class LogStreamReactor;

// The live StreamLogs reactors of one server, so that Stop can end the follows at once instead of waiting for
// Shutdown's deadline to cancel them.
class LogStreams {
 public:
  explicit LogStreams(const std::atomic<bool>& stopping) : stopping_(stopping) {}
  // Finishes every live stream with OK. Call after setting `stopping` (streams that start later finish at once).
  void StopAll();
  std::size_t live() const;

 private:
  friend class LogStreamReactor;
  void Add(LogStreamReactor* r);
  void Remove(LogStreamReactor* r);
  const std::atomic<bool>& stopping_;
  mutable std::mutex mu_;
  std::set<LogStreamReactor*> live_;
};

// Starts serving `request` (authorization, budgets and validation through `gate`, as the sync handlers do); deletes
// itself in OnDone.
grpc::ServerWriteReactor<agent::v1::LogEntry>* StartLogStream(const CallGate& gate, std::shared_ptr<LogRing> logs,
                                                              LogStreams& streams,
                                                              grpc::CallbackServerContext* context,
                                                              const agent::v1::LogStreamRequest& request);

}  // namespace oa
