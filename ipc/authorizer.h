// The two seams between the IPC server and the rest of the agent:
//   Authorizer        decides connects (cache, portal, fail mode: agent/authorizer implements it);
//   SessionEventSink  records host-update and disconnect events (the server acknowledges those itself, at once,
//                     as docs/architecture.md#flow says, then hands them over).
// Both are called on the IPC server's single event-loop thread and must not block it.
#pragma once

#include <functional>
#include <memory>

#include "ipc/ipc_types.h"
#include "resilience/clock.h"

namespace oa {

class Authorizer {
 public:
  using Done = std::function<void(IpcReply)>;

  virtual ~Authorizer() = default;

  // Decides one connect request. Call `done` exactly once with the decision:
  //   - inline, before Authorize returns (a fresh cache hit), or
  //   - later, from any thread (portal completion, fail mode at the deadline).
  // `deadline` is when the answer is due: the smaller of ipc.decision_timeout and what the helper has left, minus a
  // margin (docs/architecture.md#deadlines). The authorizer owns the fail-mode answer at that deadline. The server
  // keeps a backstop (docs/architecture.md#ipc-backstop): if `done` was not called shortly after `deadline`, it
  // answers deny (source fail_close) itself, counts `backstop_timeouts` and warns; a later call of `done` is then
  // ignored (counted as `late_completions`). `done` is cheap, never blocks, and may outlive the server (it is then a
  // no-op). Authorize itself must not block: it runs on the event loop.
  virtual void Authorize(std::shared_ptr<const IpcRequest> request, Clock::MonoTime deadline, Done done) = 0;
};

class SessionEventSink {
 public:
  virtual ~SessionEventSink() = default;

  // A host-update or disconnect request, already acknowledged to the helper (the ack is queued before this call).
  // Runs on the event loop: record and return, never block. ocserv may report a disconnect without a connect and
  // repeat connects for one ID (docs/ocserv.md#timeouts-and-sigterm): tolerate both.
  virtual void OnSessionEvent(std::shared_ptr<const IpcRequest> request) = 0;

  // A connect's allow reply was written in full to a helper that was still waiting for it: the one point where the
  // agent knows ocserv is told "admit" (an answer after the helper left, or after the backstop answered, never
  // comes here). `source` is the decision's. Runs on the event loop: record and return, never block.
  virtual void OnAdmitDelivered(std::shared_ptr<const IpcRequest> /*request*/, DecisionSource /*source*/) {}
};

}  // namespace oa
