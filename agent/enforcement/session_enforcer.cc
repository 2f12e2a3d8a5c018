#include "agent/enforcement/session_enforcer.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace oa {
namespace {

// Revoke.disconnect_reason: 0 means POLICY_VIOLATION (protocol-reference.md); unknown numbers too.
DisconnectReason ReportReasonOf(int wire) {
  if (wire <= 0 || wire > static_cast<int>(DisconnectReason::kConnectionError)) return DisconnectReason::kPolicyViolation;
  return static_cast<DisconnectReason>(wire);
}

constexpr std::string_view to_string(DisconnectCause c) {
  switch (c) {
    case DisconnectCause::kRevocation: return "revocation";
    case DisconnectCause::kRecheck: return "recheck";
    case DisconnectCause::kSessionUpdate: return "session_update";
  }
  return "unknown";
}

// A session the agent is already ending is not listed again (a second revocation, a re-check).
bool NotBeingEnded(const SessionRecord& s) { return !s.forced.has_value(); }

std::string_view AdmittedBy(const SessionRecord& s) {
  return s.reconstructed ? std::string_view("unknown") : to_string(s.admitted_by);
}

}  // namespace

SessionEnforcer::SessionEnforcer(Deps deps, Options options)
    : deps_(deps), options_(options), recheck_rate_(std::max<std::uint32_t>(options.recheck_rate, 1)) {}

SessionEnforcer::~SessionEnforcer() { Stop(); }

void SessionEnforcer::Start() {
  std::lock_guard lock(mu_);
  started_ = true;
  stopping_ = false;
  // The thread starts with the first job: an idle daemon holds none here.
  if (!queue_.empty() && !supervisor_alive_) SpawnSupervisorLocked();
}

void SessionEnforcer::Stop() {
  std::thread supervisor;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    started_ = false;
    alive_.reset();
    if (!queue_.empty()) {
      jobs_dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      spdlog::warn("session enforcement: {} queued job(s) dropped at shutdown", queue_.size());
      queue_.clear();
    }
    supervisor.swap(supervisor_);
  }
  work_cv_.notify_all();
  deps_.occtl.Wake();
  // It leaves once the occtl calls in flight have ended (each is bounded by its deadline).
  if (supervisor.joinable()) supervisor.join();
  idle_cv_.notify_all();
}

bool SessionEnforcer::ShouldWarn() {
  const std::uint64_t n = warnings_.fetch_add(1, std::memory_order_relaxed);
  return n < 20 || n % 1000 == 0;
}

void SessionEnforcer::Enqueue(Job job) {
  bool wake_poll = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.max_queue) {
      jobs_dropped_.fetch_add(1, std::memory_order_relaxed);
      if (ShouldWarn()) {
        spdlog::warn("session enforcement: job dropped ({})", stopping_ ? "stopping" : "queue full");
      }
      return;
    }
    queue_.push_back(std::move(job));
    if (started_ && !supervisor_alive_) SpawnSupervisorLocked();
    // The thread waits in Poll for the calls in flight: a free slot takes this job now, not when one of them ends.
    wake_poll = polling_ && running_ < std::max<std::size_t>(options_.concurrency, 1);
  }
  work_cv_.notify_one();
  if (wake_poll) deps_.occtl.Wake();
}

void SessionEnforcer::SpawnSupervisorLocked() {
  // A thread that left has returned from SupervisorLoop (it clears supervisor_alive_ last): joining it is immediate.
  if (supervisor_.joinable()) supervisor_.join();
  supervisor_alive_ = true;
  supervisor_ = std::thread([this] { SupervisorLoop(); });
  ++workers_started_;
}

// Starts jobs while fewer than `concurrency` are in flight; while some are, waits in OcctlPort::Poll (which runs
// their `done`, and so JobFinished); with nothing to do, waits for work up to idle_linger and then leaves. When
// stopping, it still waits for the calls in flight: their children are reaped and their sessions unmarked.
void SessionEnforcer::SupervisorLoop() {
  // Named, so that a thread count (scripts/measure-threads.sh, /proc/<pid>/task/*/comm) shows it.
  ::pthread_setname_np(::pthread_self(), "oa-occtl");
  const std::size_t limit = std::max<std::size_t>(options_.concurrency, 1);
  std::unique_lock lock(mu_);
  for (;;) {
    while (!stopping_ && !queue_.empty() && running_ < limit) {
      Job job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      running_peak_ = std::max(running_peak_, running_);
      lock.unlock();
      job();  // starts the occtl call; a port that completes at once has already called JobFinished
      lock.lock();
    }
    if (running_ > 0) {
      polling_ = true;
      lock.unlock();
      deps_.occtl.Poll(std::chrono::seconds(1));
      lock.lock();
      polling_ = false;
      continue;
    }
    idle_cv_.notify_all();
    if (stopping_) break;
    const bool got =
        work_cv_.wait_for(lock, options_.idle_linger, [this] { return stopping_ || !queue_.empty(); });
    if (!got) break;  // idle for idle_linger: the thread leaves
  }
  supervisor_alive_ = false;
  idle_cv_.notify_all();
}

void SessionEnforcer::JobFinished() {
  std::lock_guard lock(mu_);
  --running_;
  if (queue_.empty() && running_ == 0) idle_cv_.notify_all();
}

void SessionEnforcer::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return (queue_.empty() && running_ == 0) || !started_; });
}

void SessionEnforcer::WaitWorkersGone() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return !supervisor_alive_; });
}

void SessionEnforcer::DisconnectRevoked(const Revocation& revocation, std::optional<Clock::WallTime> published_at) {
  const Subject subject = revocation.subject;
  auto sessions = deps_.sessions.ListWhere(
      [&subject](const SessionRecord& s) { return NotBeingEnded(s) && subject.Covers(s.username, s.groupname); });
  spdlog::info("revocation of {}: disconnecting {} live session(s)", Describe(subject), sessions.size());
  const DisconnectReason report = ReportReasonOf(revocation.disconnect_reason);
  for (auto& s : sessions) {
    Enqueue([this, s = std::move(s), reason = revocation.reason, report, published_at] {
      DisconnectOne(s, DisconnectCause::kRevocation, reason, report, published_at);
    });
  }
}

void SessionEnforcer::DisconnectOne(const SessionRecord& s, DisconnectCause cause, const std::string& reason,
                                    DisconnectReason report_reason, std::optional<Clock::WallTime> published_at) {
  // Marked before occtl runs: ocserv's disconnect-script may reach the agent before occtl returns, and it must find
  // the reason. A session already gone (its disconnect-script came, or its ID now belongs to another user) or already
  // being ended by another job needs nothing.
  if (!deps_.sessions.MarkForced(s.id, s.username, {report_reason, std::string(to_string(cause)), reason})) {
    spdlog::info("forced disconnect of session {} (user '{}', cause {}) skipped: the session has already ended or is "
                 "being ended",
                 s.id, s.username, to_string(cause));
    JobFinished();
    return;
  }
  deps_.occtl.StartDisconnect(s.id, [this, s, cause, reason, published_at](absl::Status st) {
    OnDisconnected(s, cause, reason, published_at, st);
    JobFinished();
  });
}

void SessionEnforcer::OnDisconnected(const SessionRecord& s, DisconnectCause cause, const std::string& reason,
                                     std::optional<Clock::WallTime> published_at, const absl::Status& st) {
  if (published_at) {
    latency_.Observe(std::chrono::duration_cast<std::chrono::nanoseconds>(deps_.clock.wall_now() - *published_at));
  }
  if (!st.ok()) {
    deps_.sessions.ClearForced(s.id);
    (st.code() == absl::StatusCode::kDeadlineExceeded ? disconnect_timed_out_ : disconnect_failed_)
        .fetch_add(1, std::memory_order_relaxed);
    if (ShouldWarn()) {
      spdlog::warn("forced disconnect of session {} (user '{}', cause {}) failed: {}; the session stays registered",
                   s.id, s.username, to_string(cause), st.ToString());
    }
    return;
  }
  switch (cause) {
    case DisconnectCause::kRevocation: disconnected_revocation_.fetch_add(1, std::memory_order_relaxed); break;
    case DisconnectCause::kRecheck: disconnected_recheck_.fetch_add(1, std::memory_order_relaxed); break;
    case DisconnectCause::kSessionUpdate:
      disconnected_session_update_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  // The session stays registered, marked, until ocserv's disconnect-script (or a reconciliation) closes it: that one
  // disconnect is what the portal receives, with this reason.
  spdlog::warn("forced disconnect: session {} user '{}' group '{}' (admitted by {}), cause {}: {}", s.id, s.username,
               s.groupname, AdmittedBy(s), to_string(cause), reason);
}

void SessionEnforcer::DisconnectRequested(const std::string& session_id, const std::string& username,
                                          const std::string& reason) {
  auto sessions = deps_.sessions.ListWhere([&](const SessionRecord& s) {
    return s.id == session_id && s.username == username && NotBeingEnded(s);
  });
  if (sessions.empty()) {
    disconnect_requests_unknown_.fetch_add(1, std::memory_order_relaxed);
    if (ShouldWarn()) {
      spdlog::warn("the portal asked to disconnect session {} of user '{}' ({}), which is not live here (or already "
                   "being ended); nothing to do",
                   session_id, username, reason);
    }
    return;
  }
  Enqueue([this, s = std::move(sessions.front()), reason] {
    DisconnectOne(s, DisconnectCause::kSessionUpdate, "portal: " + (reason.empty() ? std::string("should_disconnect") : reason),
                  DisconnectReason::kPolicyViolation, std::nullopt);
  });
}

void SessionEnforcer::Recheck(const Subject& subject, std::string_view why) {
  ScheduleRechecks(deps_.sessions.ListWhere([&subject](const SessionRecord& s) {
                     return NotBeingEnded(s) && subject.Covers(s.username, s.groupname);
                   }),
                   std::string(why));
}

void SessionEnforcer::RecheckDegraded(std::string_view why) {
  ScheduleRechecks(deps_.sessions.ListWhere([](const SessionRecord& s) {
                     return NotBeingEnded(s) && !s.reconstructed && (s.admitted_by == DecisionSource::kFailOpen ||
                                                 s.admitted_by == DecisionSource::kStale);
                   }),
                   std::string(why));
}

void SessionEnforcer::SetRecheckRate(std::uint32_t rate) {
  recheck_rate_.store(std::max<std::uint32_t>(rate, 1), std::memory_order_relaxed);
}

// Paced on the Scheduler: the n-th re-check runs 1/rate s after the previous one, across calls.
void SessionEnforcer::ScheduleRechecks(std::vector<SessionRecord> sessions, std::string why) {
  if (sessions.empty()) return;
  spdlog::info("re-check of {} session(s) ({}), at most {} per second", sessions.size(), why,
               recheck_rate_.load(std::memory_order_relaxed));
  const auto step = std::chrono::nanoseconds(1'000'000'000LL / recheck_rate_.load(std::memory_order_relaxed));
  std::weak_ptr<int> alive;
  std::vector<Clock::MonoTime> at;
  at.reserve(sessions.size());
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    alive = alive_;
    next_recheck_ = std::max(next_recheck_, deps_.clock.now());
    for (std::size_t i = 0; i < sessions.size(); ++i) {
      at.push_back(next_recheck_);
      next_recheck_ += step;
    }
  }
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    deps_.scheduler.RunAt(at[i], [this, alive, s = std::move(sessions[i])] {
      if (alive.expired()) return;
      if (deps_.validator == nullptr) {
        recheck_error_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      deps_.validator->Validate(s, [this, alive, s](SessionValidation v) {
        if (!alive.expired()) OnValidated(s, v);
      });
    });
  }
}

void SessionEnforcer::OnValidated(const SessionRecord& s, const SessionValidation& v) {
  switch (v.outcome) {
    case ValidationOutcome::kValid:
      recheck_valid_.fetch_add(1, std::memory_order_relaxed);
      return;
    case ValidationOutcome::kError:
      recheck_error_.fetch_add(1, std::memory_order_relaxed);
      if (ShouldWarn()) {
        spdlog::warn("re-check of session {} (user '{}') could not ask the portal: {}; the session stays", s.id,
                     s.username, v.reason);
      }
      return;
    case ValidationOutcome::kInvalid:
      recheck_invalid_.fetch_add(1, std::memory_order_relaxed);
      Enqueue([this, s, reason = v.reason] {
        DisconnectOne(s, DisconnectCause::kRecheck, "re-check: " + reason, DisconnectReason::kPolicyViolation,
                      std::nullopt);
      });
      return;
  }
}

void SessionEnforcer::ReconcileNow() {
  Enqueue([this] { Reconcile(); });
}

void SessionEnforcer::Reconcile() {
  const auto listed_at = deps_.clock.wall_now();
  deps_.occtl.StartListSessions([this, listed_at](absl::StatusOr<std::vector<SessionRecord>> live) {
    OnListedForReconcile(std::move(live), listed_at);
    JobFinished();
  });
}

void SessionEnforcer::OnListedForReconcile(absl::StatusOr<std::vector<SessionRecord>> live, Clock::WallTime listed_at) {
  if (!live.ok()) {
    reconcile_failed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("session registry: reconciliation with occtl failed, registry kept ({} sessions): {}",
                 deps_.sessions.size(), live.status().ToString());
    return;
  }
  const ReconcileResult r = deps_.sessions.Reconcile(*std::move(live), listed_at);
  reconcile_ok_.fetch_add(1, std::memory_order_relaxed);
  reconcile_added_.fetch_add(r.added, std::memory_order_relaxed);
  reconcile_removed_.fetch_add(r.removed, std::memory_order_relaxed);
  // What the portal would otherwise never hear of (session_registry.h says why these waited a second listing).
  if (deps_.events != nullptr) {
    for (const auto& s : r.connects_due) deps_.events->OnReconstructedConnect(s);
    for (const auto& s : r.closed) deps_.events->OnReconstructedDisconnect(s);
  }
  reconstructed_connects_.fetch_add(r.connects_due.size(), std::memory_order_relaxed);
  reconstructed_disconnects_.fetch_add(r.closed.size(), std::memory_order_relaxed);
  if (r.added > 0 || r.removed > 0 || r.missing > 0 || !r.connects_due.empty()) {
    spdlog::info("session registry reconciled with occtl: {} kept, {} added (admitted_by unknown), {} missing once, "
                 "{} closed; reported {} reconstructed connect(s) and {} reconstructed disconnect(s)",
                 r.kept, r.added, r.missing, r.removed, r.connects_due.size(), r.closed.size());
  }
}

void SessionEnforcer::ReportSessionUpdates() {
  Enqueue([this] { UpdateSessions(); });
}

void SessionEnforcer::UpdateSessions() {
  deps_.occtl.StartListSessions([this](absl::StatusOr<std::vector<SessionRecord>> live) {
    OnListedForUpdates(std::move(live));
    JobFinished();
  });
}

void SessionEnforcer::OnListedForUpdates(absl::StatusOr<std::vector<SessionRecord>> live) {
  if (!live.ok()) {
    session_update_listings_failed_.fetch_add(1, std::memory_order_relaxed);
    if (ShouldWarn()) {
      spdlog::warn("session updates: occtl could not list the sessions, none sent this round: {}",
                   live.status().ToString());
    }
    return;
  }
  std::uint64_t sent = 0;
  for (const SessionRecord& listed : *live) {
    // Only sessions the portal has (or will have) a connect for; unknown ones wait for reconciliation.
    auto known = deps_.sessions.UpdateStats(listed);
    if (!known || known->forced) continue;
    if (deps_.events != nullptr) deps_.events->OnSessionUpdate(*known);
    ++sent;
  }
  session_updates_.fetch_add(sent, std::memory_order_relaxed);
}

SessionEnforcerCounters SessionEnforcer::counters() const {
  auto r = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  SessionEnforcerCounters c;
#define OA_X(name) c.name = r(name##_);
  OA_SESSION_ENFORCER_COUNTERS(OA_X)
#undef OA_X
  c.late_disconnects_not_sent = deps_.sessions.late_disconnects();
  std::lock_guard lock(mu_);
  c.queued = queue_.size();
  c.workers = supervisor_alive_ ? 1 : 0;
  c.workers_peak = workers_started_ > 0 ? 1 : 0;
  c.workers_started = workers_started_;
  c.in_flight = running_;
  c.in_flight_peak = running_peak_;
  return c;
}

}  // namespace oa
