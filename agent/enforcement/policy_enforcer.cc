#include "agent/enforcement/policy_enforcer.h"

#include <spdlog/spdlog.h>

namespace oa {
namespace {

absl::Status CheckNamed(const Subject& s, std::string_view what) {
  if (s.kind == SubjectKind::kAll) return absl::InvalidArgumentError(std::string(what) + " of `all` is not allowed");
  if (s.name.empty()) return absl::InvalidArgumentError(std::string(what) + " needs a username or a groupname");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Revocation> PolicyEnforcer::Revoke(const Subject& subject, std::string reason, int disconnect_reason,
                                                  std::string origin, std::optional<Clock::WallTime> published_at) {
  if (absl::Status s = CheckNamed(subject, "revoke"); !s.ok()) return s;
  // In force before anything else: from here no cache, stale or fail-open answer admits the subject.
  Revocation r = deps_.revocations.Revoke(subject, std::move(reason), disconnect_reason, std::move(origin));
  Invalidate(subject);
  spdlog::warn("revocation in force: {}, reason \"{}\", sequence {}, from {}", Describe(r.subject), r.reason,
               r.sequence, r.origin);
  if (deps_.sessions != nullptr) deps_.sessions->DisconnectRevoked(r, published_at);
  return r;
}

absl::StatusOr<bool> PolicyEnforcer::Restore(const Subject& subject, std::string_view origin) {
  if (absl::Status s = CheckNamed(subject, "restore"); !s.ok()) return s;
  const bool lifted = deps_.revocations.Restore(subject);
  spdlog::info("revocation {}: {} (from {})", lifted ? "lifted" : "restore for a subject not revoked",
               Describe(subject), origin);
  return lifted;
}

bool PolicyEnforcer::AllowLine(PolicyEventKind kind, std::string* note) {
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(log_mu_);
    if (!log_limiter_.Allow(static_cast<std::size_t>(kind), deps_.revocations.clock().now(), &suppressed)) return false;
  }
  if (suppressed > 0) *note = " (" + std::to_string(suppressed) + " similar lines not logged)";
  return true;
}

void PolicyEnforcer::Invalidate(const Subject& subject) {
  switch (subject.kind) {
    case SubjectKind::kUser: deps_.cache.InvalidateUser(subject.name); break;
    case SubjectKind::kGroup: deps_.cache.InvalidateGroup(subject.name); break;
    case SubjectKind::kAll: deps_.cache.InvalidateAll(); break;
  }
}

EventResult PolicyEnforcer::Apply(const PolicyEvent& event) {
  EventResult result = EventResult::kApplied;
  const bool needs_subject = event.kind == PolicyEventKind::kRevoke || event.kind == PolicyEventKind::kRestore ||
                             event.kind == PolicyEventKind::kInvalidate || event.kind == PolicyEventKind::kRecheck;
  if (needs_subject && !event.subject) {  // the decoder marks these invalid; never dereference a missing subject
    Count(event.kind, EventResult::kInvalid);
    return EventResult::kInvalid;
  }
  switch (event.kind) {
    case PolicyEventKind::kRevoke: {
      auto r = Revoke(*event.subject, event.reason, event.disconnect_reason, "portal", event.published_at);
      if (!r.ok()) {
        spdlog::warn("policy event version {} ignored: {}", event.version, std::string(r.status().message()));
        result = EventResult::kInvalid;
      }
      break;
    }
    case PolicyEventKind::kRestore: {
      auto r = Restore(*event.subject, "portal");
      if (!r.ok()) {
        spdlog::warn("policy event version {} ignored: {}", event.version, std::string(r.status().message()));
        result = EventResult::kInvalid;
      }
      break;
    }
    case PolicyEventKind::kInvalidate:
      Invalidate(*event.subject);
      if (std::string note; AllowLine(event.kind, &note)) {
        spdlog::info("policy event version {}: cached decisions of {} dropped{}", event.version,
                     Describe(*event.subject), note);
      }
      break;
    case PolicyEventKind::kRecheck:
      if (std::string note; AllowLine(event.kind, &note)) {
        spdlog::info("policy event version {}: re-check of {}{}", event.version, Describe(*event.subject), note);
      }
      if (deps_.sessions != nullptr) deps_.sessions->Recheck(*event.subject, "portal asked for a re-check");
      break;
    case PolicyEventKind::kResync:
      spdlog::warn("policy event version {}: resync (the portal could not resume our stream): every cached "
                   "decision dropped, every session re-checked",
                   event.version);
      Invalidate(Subject::All());
      if (deps_.sessions != nullptr) deps_.sessions->Recheck(Subject::All(), "resync");
      break;
    case PolicyEventKind::kHeartbeat:
    case PolicyEventKind::kUnknown:
      result = EventResult::kUnknown;  // not for Apply: the stream logic filters these
      break;
  }
  Count(event.kind, result);
  return result;
}

EventCountsSnapshot PolicyEnforcer::counts() const {
  EventCountsSnapshot s;
  for (std::size_t k = 0; k < kEventKinds; ++k) {
    for (std::size_t r = 0; r < kEventResults; ++r) s.by_kind_result[k][r] = counts_[k][r].load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace oa
