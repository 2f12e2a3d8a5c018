#include "agent/enforcement/session_enforcer.h"

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
  return c == DisconnectCause::kRevocation ? "revocation" : "recheck";
}

std::string_view AdmittedBy(const SessionRecord& s) {
  return s.reconstructed ? std::string_view("unknown") : to_string(s.admitted_by);
}

}  // namespace

SessionEnforcer::SessionEnforcer(Deps deps, Options options)
    : deps_(deps), options_(options), recheck_rate_(std::max<std::uint32_t>(options.recheck_rate, 1)) {}

SessionEnforcer::~SessionEnforcer() { Stop(); }

void SessionEnforcer::Start() {
  std::lock_guard lock(mu_);
  if (!workers_.empty()) return;
  stopping_ = false;
  for (std::size_t i = 0; i < std::max<std::size_t>(options_.concurrency, 1); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

void SessionEnforcer::Stop() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    alive_.reset();
    if (!queue_.empty()) {
      jobs_dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      spdlog::warn("session enforcement: {} queued job(s) dropped at shutdown", queue_.size());
      queue_.clear();
    }
    workers.swap(workers_);
  }
  work_cv_.notify_all();
  for (auto& t : workers) t.join();
  idle_cv_.notify_all();
}

bool SessionEnforcer::ShouldWarn() {
  const std::uint64_t n = warnings_.fetch_add(1, std::memory_order_relaxed);
  return n < 20 || n % 1000 == 0;
}

void SessionEnforcer::Enqueue(Job job) {
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
  }
  work_cv_.notify_one();
}

void SessionEnforcer::WorkerLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    job();
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) idle_cv_.notify_all();
  }
}

void SessionEnforcer::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return (queue_.empty() && running_ == 0) || workers_.empty(); });
}

void SessionEnforcer::DisconnectRevoked(const Revocation& revocation, std::optional<Clock::WallTime> published_at) {
  const Subject subject = revocation.subject;
  auto sessions = deps_.sessions.ListWhere(
      [&subject](const SessionRecord& s) { return subject.Covers(s.username, s.groupname); });
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
  // Two jobs may target one session: after an outage the stream's reconnect and the portal's Resync both re-check it
  // (seen in the e2e), or ocserv's own disconnect-script ended it while the job waited. Once it is gone, occtl fails
  // (a false "disconnect failed") or, worse, ends a new session that reuses the ID (a worker's PID).
  if (const auto live = deps_.sessions.Find(s.id); !live || live->username != s.username) {
    spdlog::info("forced disconnect of session {} (user '{}', cause {}) skipped: the session has already ended", s.id,
                 s.username, to_string(cause));
    return;
  }
  const absl::Status st = deps_.occtl.Disconnect(s.id);
  if (published_at) {
    const auto ms = std::chrono::duration<double, std::milli>(deps_.clock.wall_now() - *published_at).count();
    latency_.Observe(ms);
  }
  if (!st.ok()) {
    (st.code() == absl::StatusCode::kDeadlineExceeded ? disconnect_timed_out_ : disconnect_failed_)
        .fetch_add(1, std::memory_order_relaxed);
    if (ShouldWarn()) {
      spdlog::warn("forced disconnect of session {} (user '{}', cause {}) failed: {}; the session stays registered",
                   s.id, s.username, to_string(cause), st.ToString());
    }
    return;
  }
  deps_.sessions.Remove(s.id);
  (cause == DisconnectCause::kRevocation ? disconnected_revocation_ : disconnected_recheck_)
      .fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("forced disconnect: session {} user '{}' group '{}' (admitted by {}), cause {}: {}", s.id, s.username,
               s.groupname, AdmittedBy(s), to_string(cause), reason);
  if (deps_.events != nullptr) {
    deps_.events->OnForcedDisconnect(s, report_reason,
                                     {{"disconnect_cause", std::string(to_string(cause))},
                                      {"disconnect_reason_text", reason},
                                      {"admitted_by", std::string(AdmittedBy(s))}});
  }
}

void SessionEnforcer::Recheck(const Subject& subject, std::string_view why) {
  ScheduleRechecks(deps_.sessions.ListWhere(
                       [&subject](const SessionRecord& s) { return subject.Covers(s.username, s.groupname); }),
                   std::string(why));
}

void SessionEnforcer::RecheckDegraded(std::string_view why) {
  ScheduleRechecks(deps_.sessions.ListWhere([](const SessionRecord& s) {
                     return !s.reconstructed && (s.admitted_by == DecisionSource::kFailOpen ||
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
  auto live = deps_.occtl.ListSessions();
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
  if (r.added > 0 || r.removed > 0) {
    spdlog::info("session registry reconciled with occtl: {} kept, {} added (admitted_by unknown), {} removed", r.kept,
                 r.added, r.removed);
  }
}

SessionEnforcerCounters SessionEnforcer::counters() const {
  auto r = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  SessionEnforcerCounters c;
  c.disconnected_revocation = r(disconnected_revocation_);
  c.disconnected_recheck = r(disconnected_recheck_);
  c.disconnect_failed = r(disconnect_failed_);
  c.disconnect_timed_out = r(disconnect_timed_out_);
  c.jobs_dropped = r(jobs_dropped_);
  c.recheck_valid = r(recheck_valid_);
  c.recheck_invalid = r(recheck_invalid_);
  c.recheck_error = r(recheck_error_);
  c.reconcile_ok = r(reconcile_ok_);
  c.reconcile_failed = r(reconcile_failed_);
  c.reconcile_added = r(reconcile_added_);
  c.reconcile_removed = r(reconcile_removed_);
  std::lock_guard lock(mu_);
  c.queued = queue_.size();
  return c;
}

}  // namespace oa
