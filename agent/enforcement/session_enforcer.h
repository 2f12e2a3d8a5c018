// SessionEnforcer: live enforcement's session side (shared/DESIGN.md "Live enforcement") — ends the live sessions of
// a revoked subject, re-checks sessions with the portal, and keeps the session registry equal to ocserv's truth.
//
//   - Disconnects run `occtl disconnect|terminate id N` (OcctlPort) on `concurrency` worker threads, each call with
//     its own deadline; the queue is bounded (a job past max_queue is dropped, counted and logged). The caller has
//     put the revocation in force before (PolicyEnforcer), so a client that reconnects at once is refused.
//     Each forced disconnect: the session leaves the registry, is recorded in the session-event outbox
//     (SessionEventRecorder::OnForcedDisconnect: a disconnect with the revocation's reason, delivered to the portal as
//     ReportDisconnect), one log line, counted by cause; for portal revocations the latency published_at -> occtl
//     returned goes into a histogram. A failed or hung occtl is logged and counted; the session stays registered.
//   - Re-checks are paced at `recheck_rate` per second on the Scheduler (FakeClock-testable); each asks the
//     SessionValidator and disconnects (cause recheck) when the portal says invalid. An Error keeps the session.
//   - Reconcile: `occtl --json show users` replaces the registry's content (SessionRegistry::Reconcile); occtl
//     unreachable or its output unparsable is logged and counted, and the registry is kept.
//
// Thread-safety: every public method from any thread; none blocks (work is queued). Stop() joins the workers; jobs
// still queued are dropped (counted).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agent/authorizer/session_events.h"
#include "agent/authorizer/session_registry.h"
#include "agent/enforcement/latency_histogram.h"
#include "agent/enforcement/occtl_port.h"
#include "agent/enforcement/session_actions.h"
#include "agent/enforcement/session_validator.h"
#include "common/scheduler.h"

namespace oa {

enum class DisconnectCause : std::uint8_t { kRevocation, kRecheck };

struct SessionEnforcerCounters {
  std::uint64_t disconnected_revocation = 0;  // sessions ended because of a revocation
  std::uint64_t disconnected_recheck = 0;     // sessions ended because a re-check said invalid
  std::uint64_t disconnect_failed = 0;        // occtl failed (session kept)
  std::uint64_t disconnect_timed_out = 0;     // occtl did not return in time (killed; session kept)
  std::uint64_t jobs_dropped = 0;             // queue full or stopping
  std::uint64_t recheck_valid = 0, recheck_invalid = 0, recheck_error = 0;
  std::uint64_t reconcile_ok = 0, reconcile_failed = 0;
  std::uint64_t reconcile_added = 0, reconcile_removed = 0;
  std::uint64_t queued = 0;  // jobs waiting now
};

class SessionEnforcer final : public SessionActions {
 public:
  struct Deps {
    const Clock& clock;
    Scheduler& scheduler;
    SessionRegistry& sessions;
    OcctlPort& occtl;
    SessionEventRecorder* events = nullptr;  // optional: forced disconnects recorded in the outbox
    SessionValidator* validator = nullptr;  // optional: without it re-checks are counted as errors
  };
  struct Options {
    std::size_t concurrency = 4;
    std::size_t max_queue = 200'000;
    std::uint32_t recheck_rate = 50;  // per second
  };

  SessionEnforcer(Deps deps, Options options);
  ~SessionEnforcer() override;  // Stop()

  void Start();
  void Stop();

  void DisconnectRevoked(const Revocation& revocation, std::optional<Clock::WallTime> published_at) override;
  void Recheck(const Subject& subject, std::string_view why) override;
  // Re-checks the sessions admitted by fail_open or stale (the portal is back after an outage).
  void RecheckDegraded(std::string_view why);
  void RecheckAll(std::string_view why) { Recheck(Subject::All(), why); }
  // Queues a reconciliation with `occtl show users`.
  void ReconcileNow();

  // Waits until no job is queued or running (tests, shutdown paths). Scheduled re-checks not yet due do not count.
  void WaitIdle();
  SessionEnforcerCounters counters() const;
  LatencyHistogramSnapshot revocation_latency() const { return latency_.snapshot(); }
  void SetRecheckRate(std::uint32_t rate);

 private:
  using Job = std::function<void()>;
  void Enqueue(Job job);
  void WorkerLoop();
  void DisconnectOne(const SessionRecord& s, DisconnectCause cause, const std::string& reason,
                     DisconnectReason report_reason, std::optional<Clock::WallTime> published_at);
  void ScheduleRechecks(std::vector<SessionRecord> sessions, std::string why);
  void OnValidated(const SessionRecord& s, const SessionValidation& v);
  void Reconcile();
  bool ShouldWarn();  // the first few, then one in 1000: a 10 000-session failure must not flood the log

  Deps deps_;
  Options options_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<Job> queue_;            // guarded by mu_
  std::size_t running_ = 0;          // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  Clock::MonoTime next_recheck_{};   // pacing; guarded by mu_
  std::vector<std::thread> workers_;

  std::atomic<std::uint64_t> disconnected_revocation_{0}, disconnected_recheck_{0}, disconnect_failed_{0},
      disconnect_timed_out_{0}, jobs_dropped_{0}, recheck_valid_{0}, recheck_invalid_{0}, recheck_error_{0},
      reconcile_ok_{0}, reconcile_failed_{0}, reconcile_added_{0}, reconcile_removed_{0}, warnings_{0};
  std::atomic<std::uint32_t> recheck_rate_;
  LatencyHistogram latency_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // scheduled tasks hold a weak_ptr: none runs after Stop
};

}  // namespace oa
