// SessionEnforcer: live enforcement's session side (shared/DESIGN.md "Live enforcement") — ends the live sessions of
// a revoked subject, re-checks sessions with the portal, and keeps the session registry equal to ocserv's truth.
//
//   - Disconnects run `occtl disconnect|terminate id N` (OcctlPort) supervised by one thread, started on demand and
//     leaving after `idle_linger` without work (an idle daemon holds none): it keeps up to `concurrency` occtl calls
//     in flight at once (OcctlPort::Start*, then Poll waits on all of them without a thread each), each with its own
//     deadline; the queue is bounded (a job past max_queue is dropped, counted and logged). The caller has
//     put the revocation in force before (PolicyEnforcer), so a client that reconnects at once is refused.
//     Each forced disconnect: the session is marked forced in the registry *before* occtl runs (the mark carries the
//     cause and reason), one log line, counted by cause; for portal revocations the latency published_at -> occtl
//     returned goes into a histogram. ocserv then runs its disconnect-script, and that one disconnect (with STATS_*)
//     is reported with the mark's reason (SessionEventRecorder) — no second event. A failed or hung occtl is logged
//     and counted; the mark is cleared and the session stays registered.
//   - DisconnectRequested: the portal answered a ReportSessionUpdate with should_disconnect — the same forced
//     disconnect (cause session_update).
//   - Re-checks are paced at `recheck_rate` per second on the Scheduler (FakeClock-testable); each asks the
//     SessionValidator and disconnects (cause recheck) when the portal says invalid. An Error keeps the session.
//   - Reconcile: `occtl --json show users` replaces the registry's content (SessionRegistry::Reconcile); occtl
//     unreachable or its output unparsable is logged and counted, and the registry is kept. What it finds is
//     reported: reconstructed connects and disconnects (SessionEventRecorder, metadata reconstructed=true).
//   - ReportSessionUpdates (events.session_update_interval): one listing, then a session update with occtl's bytes
//     for every listed session the registry knows (through the outbox, like every session event).
//
// Thread-safety: every public method from any thread; none blocks (work is queued). Stop() waits for the occtl calls
// in flight (each bounded by its deadline) and joins the thread; jobs still queued are dropped (counted).
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

enum class DisconnectCause : std::uint8_t { kRevocation, kRecheck, kSessionUpdate };

// The counters kept as atomics, each declared once: the atomic (name_), its snapshot field and the copy are generated.
#define OA_SESSION_ENFORCER_COUNTERS(X)                                                                          \
  X(disconnected_revocation)        /* sessions ended because of a revocation */                                  \
  X(disconnected_recheck)           /* sessions ended because a re-check said invalid */                          \
  X(disconnected_session_update)    /* the portal answered a session update with should_disconnect */             \
  X(disconnect_requests_unknown)    /* ... for a session not (or no longer) registered: nothing to do */          \
  X(disconnect_failed)              /* occtl failed (session kept) */                                             \
  X(disconnect_timed_out)           /* occtl did not return in time (killed; session kept) */                    \
  X(jobs_dropped)                   /* queue full or stopping */                                                  \
  X(recheck_valid)                                                                                                \
  X(recheck_invalid)                                                                                              \
  X(recheck_error)                                                                                                \
  X(reconcile_ok)                                                                                                 \
  X(reconcile_failed)                                                                                             \
  X(reconcile_added)                                                                                              \
  X(reconcile_removed)                                                                                            \
  X(reconstructed_connects)         /* reported to the outbox */                                                  \
  X(reconstructed_disconnects)                                                                                    \
  X(session_updates)                /* periodic updates recorded (one per live session per interval) */           \
  X(session_update_listings_failed) /* occtl could not list: that round sends nothing */

struct SessionEnforcerCounters {
#define OA_X(name) std::uint64_t name = 0;
  OA_SESSION_ENFORCER_COUNTERS(OA_X)
#undef OA_X
  std::uint64_t late_disconnects_not_sent = 0;  // disconnect-scripts after a reconstructed disconnect (not resent)
  std::uint64_t queued = 0;  // jobs waiting now
  std::uint64_t workers = 0;          // occtl supervisor threads alive now: 1 while there is work, 0 when idle
  std::uint64_t workers_peak = 0;     // most alive at once (1)
  std::uint64_t workers_started = 0;  // threads started so far
  std::uint64_t in_flight = 0;        // occtl calls (jobs) running now
  std::uint64_t in_flight_peak = 0;   // most at once: at most `concurrency`
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
    std::chrono::milliseconds idle_linger{5'000};  // the thread without work this long ends (real time)
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
  // Queues one round of session updates (events.session_update_interval).
  void ReportSessionUpdates();
  // The portal asked (ReportSessionUpdate -> should_disconnect) to end this session. Never blocks.
  void DisconnectRequested(const std::string& session_id, const std::string& username, const std::string& reason);

  // Waits until no job is queued or running (tests, shutdown paths). Scheduled re-checks not yet due do not count.
  void WaitIdle();
  // Waits until the supervisor thread has ended (tests of the on-demand thread: with idle_linger 0 it ends as soon as
  // nothing is queued or in flight).
  void WaitWorkersGone();
  SessionEnforcerCounters counters() const;
  LatencyHistogramSnapshot revocation_latency() const { return latency_.snapshot(); }
  void SetRecheckRate(std::uint32_t rate);

 private:
  // A job starts its occtl call (or does its work) and calls JobFinished() exactly once: at once, or from the
  // OcctlPort's `done`. Both run on the supervisor thread, without mu_.
  using Job = std::function<void()>;
  void Enqueue(Job job);
  void SpawnSupervisorLocked();
  void SupervisorLoop();
  void JobFinished();
  void UpdateSessions();
  void DisconnectOne(const SessionRecord& s, DisconnectCause cause, const std::string& reason,
                     DisconnectReason report_reason, std::optional<Clock::WallTime> published_at);
  void OnDisconnected(const SessionRecord& s, DisconnectCause cause, const std::string& reason,
                      std::optional<Clock::WallTime> published_at, const absl::Status& st);
  void OnListedForUpdates(absl::StatusOr<std::vector<SessionRecord>> live);
  void OnListedForReconcile(absl::StatusOr<std::vector<SessionRecord>> live, Clock::WallTime listed_at);
  void ScheduleRechecks(std::vector<SessionRecord> sessions, std::string why);
  void OnValidated(const SessionRecord& s, const SessionValidation& v);
  void Reconcile();
  bool ShouldWarn();  // the first few, then one in 1000: a 10 000-session failure must not flood the log

  Deps deps_;
  Options options_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<Job> queue_;            // guarded by mu_
  std::size_t running_ = 0;          // jobs started and not finished; guarded by mu_
  std::size_t running_peak_ = 0;     // guarded by mu_
  bool started_ = false;             // guarded by mu_: the thread may be spawned
  bool stopping_ = false;            // guarded by mu_
  bool polling_ = false;             // guarded by mu_: the thread is (about to be) in OcctlPort::Poll
  Clock::MonoTime next_recheck_{};   // pacing; guarded by mu_
  // The on-demand thread, guarded by mu_: alive from its spawn until it leaves (idle); the next spawn or Stop joins.
  std::thread supervisor_;
  bool supervisor_alive_ = false;
  std::uint64_t workers_started_ = 0;

#define OA_X(name) std::atomic<std::uint64_t> name##_{0};
  OA_SESSION_ENFORCER_COUNTERS(OA_X)
#undef OA_X
  std::atomic<std::uint64_t> warnings_{0};
  std::atomic<std::uint32_t> recheck_rate_;
  LatencyHistogram latency_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // scheduled tasks hold a weak_ptr: none runs after Stop
};

}  // namespace oa
