#include "agent/daemon/decision_control_plane.h"

#include "agent/metrics/agent_metrics.h"

namespace oa {
namespace {

// The StatusSnapshot map of a registry group (agent_metrics.h); null for a group GetStatus does not show.
std::map<std::string, std::uint64_t>* StatusGroup(StatusSnapshot& out, std::string_view group) {
  if (group == "breaker") return &out.breaker_counters;
  if (group == "cache") return &out.cache_stats;
  if (group == "decisions_by_source") return &out.decisions_by_source;
  if (group == "decisions_by_verdict") return &out.decisions_by_verdict;
  if (group == "portal") return &out.portal;
  if (group == "ipc") return &out.ipc;
  if (group == "sessions") return &out.sessions;
  if (group == "enforcement") return &out.enforcement;
  if (group == "events") return &out.events;
  return nullptr;
}

}  // namespace

DecisionControlPlane::DecisionControlPlane(Parts parts, std::string version, const Clock& clock)
    : parts_(std::move(parts)), version_(std::move(version)), clock_(clock), started_(clock.now()) {}

AgentSnapshot DecisionControlPlane::Collect() const {
  AgentSnapshot s;
  const AuthorizerSettings settings = parts_.authorizer.settings();
  s.version = version_;
  s.agent_id = settings.agent_id;
  s.uptime = std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - started_);
  s.fail = settings.fail_mode;
  s.breaker_state = parts_.breaker.state();
  s.breaker_override = parts_.breaker.override_mode();
  s.breaker = parts_.breaker.counters();
  s.cache = parts_.cache.stats();
  s.cache_capacity = parts_.cache.capacity();
  s.decisions = parts_.counters.snapshot();
  if (parts_.portal != nullptr) s.portal = parts_.portal->stats();
  s.ipc_listening = parts_.ipc_listening ? parts_.ipc_listening() : false;
  if (parts_.ipc != nullptr) s.ipc = parts_.ipc->counters();
  if (parts_.sessions != nullptr) s.sessions_active = parts_.sessions->size();
  if (parts_.revocations != nullptr) {
    EnforcementSnapshot e;
    e.taken_at = clock_.now();
    if (parts_.watch_status) {
      if (auto w = parts_.watch_status()) {
        e.stream_state = w->state;
        e.stream = w->counters;
        e.last_applied_version = w->last_applied_version;
      }
    }
    if (parts_.policy_enforcer != nullptr) e.events = parts_.policy_enforcer->counts();
    e.revocations = parts_.revocations->counters();
    e.in_force = parts_.revocations->List();
    if (parts_.session_enforcer != nullptr) {
      e.sessions = parts_.session_enforcer->counters();
      e.revocation_latency = parts_.session_enforcer->revocation_latency();
    }
    s.enforcement = std::move(e);
  }
  if (parts_.outbox != nullptr && parts_.event_sender != nullptr) {
    s.events = EventsSnapshot{parts_.outbox->stats(), parts_.event_sender->stats(), clock_.wall_now()};
  }
  return s;
}

absl::StatusOr<std::uint64_t> DecisionControlPlane::Revoke(const LocalSubject& subject, std::string reason,
                                                           int disconnect_reason, std::string by) {
  if (parts_.policy_enforcer == nullptr) return absl::UnimplementedError("live enforcement is not wired");
  auto r = parts_.policy_enforcer->Revoke(subject.group ? Subject::Group(subject.name) : Subject::User(subject.name),
                                          std::move(reason), disconnect_reason, std::move(by));
  if (!r.ok()) return r.status();
  return r->sequence;
}

absl::StatusOr<bool> DecisionControlPlane::Restore(const LocalSubject& subject, std::string by) {
  if (parts_.policy_enforcer == nullptr) return absl::UnimplementedError("live enforcement is not wired");
  return parts_.policy_enforcer->Restore(
      subject.group ? Subject::Group(subject.name) : Subject::User(subject.name), by);
}

StatusSnapshot DecisionControlPlane::ToStatus(const AgentSnapshot& s) {
  StatusSnapshot out;
  out.version = s.version;
  out.agent_id = s.agent_id;
  out.uptime = s.uptime;
  out.fail_mode = s.fail.fail_mode;
  out.stale_fallback = s.fail.stale_fallback;
  out.breaker_state = std::string(to_string(s.breaker_state));
  out.breaker_override = s.breaker_override;
  // Every number comes from the registry (agent/metrics/agent_metrics.cc), under the key declared there.
  ForEachStatusValue(s, [&out](std::string_view group, std::string_view key, std::uint64_t v) {
    if (auto* map = StatusGroup(out, group)) (*map)[std::string(key)] = v;
  });
  if (s.enforcement) {
    const auto& e = *s.enforcement;
    out.policy_stream = std::string(to_string(e.stream_state));
    const auto now_wall = std::chrono::system_clock::now();
    for (const auto& r : e.in_force) {
      StatusSnapshot::RevocationInfo info;
      info.subject = Describe(r.subject);
      info.reason = r.reason;
      info.origin = r.origin;
      info.age_seconds = static_cast<std::uint64_t>(
          std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(now_wall - r.revoked_at).count()));
      info.expires_in_seconds = static_cast<std::uint64_t>(std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::seconds>(r.expires_at - e.taken_at).count()));
      out.revocations.push_back(std::move(info));
    }
  }
  if (s.events) {
    const auto& x = s.events->sender;
    out.events_sender_state = std::string(to_string(x.state));
  }
  return out;
}

StatusSnapshot DecisionControlPlane::Status() { return ToStatus(Collect()); }

std::size_t DecisionControlPlane::InvalidateUser(std::string_view username) {
  return parts_.cache.InvalidateUser(username);
}

std::size_t DecisionControlPlane::InvalidateGroup(std::string_view groupname) {
  return parts_.cache.InvalidateGroup(groupname);
}

std::size_t DecisionControlPlane::InvalidateAll() { return parts_.cache.InvalidateAll(); }

FailMode DecisionControlPlane::SetFailMode(FailMode mode) {
  // The stale fallback is kept: the API sets the mode only.
  const std::lock_guard lock(operator_mu_);
  FailModeOptions options = parts_.authorizer.settings().fail_mode;
  const FailMode previous = options.fail_mode;
  options.fail_mode = mode;
  parts_.authorizer.SetFailMode(options);
  return previous;
}

BreakerOverride DecisionControlPlane::SetBreakerOverride(BreakerOverride override) {
  const std::lock_guard lock(operator_mu_);  // the same lock: one operator action at a time
  const BreakerOverride previous = parts_.breaker.override_mode();
  parts_.breaker.SetOverride(override);
  return previous;
}

bool DecisionControlPlane::IpcListening() { return parts_.ipc_listening ? parts_.ipc_listening() : false; }

std::string DecisionControlPlane::BreakerState() { return std::string(to_string(parts_.breaker.state())); }

}  // namespace oa
