#include "agent/management/agent_control_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/management/audit_text.h"
#include "agent/management/occtl_runner.h"
#include "agent/management/occtl_users_json.h"

namespace oa {
namespace {

namespace pb = ocserv_agent::v1;

constexpr std::string_view kGetStatus = "/ocserv_agent.v1.AgentControl/GetStatus";
constexpr std::string_view kInvalidateCache = "/ocserv_agent.v1.AgentControl/InvalidateCache";
constexpr std::string_view kSetFailMode = "/ocserv_agent.v1.AgentControl/SetFailMode";
constexpr std::string_view kSetBreaker = "/ocserv_agent.v1.AgentControl/SetBreaker";
constexpr std::string_view kListSessions = "/ocserv_agent.v1.AgentControl/ListSessions";
constexpr std::string_view kDisconnectSession = "/ocserv_agent.v1.AgentControl/DisconnectSession";
constexpr std::string_view kRevoke = "/ocserv_agent.v1.AgentControl/Revoke";
constexpr std::string_view kRestore = "/ocserv_agent.v1.AgentControl/Restore";

// Session listing and disconnect are interactive: they should not hang for command_timeout_max.
constexpr std::chrono::milliseconds kSessionCommandTimeout{10000};

pb::FailMode ToProto(FailMode m) {
  switch (m) {
    case FailMode::kOpen: return pb::FAIL_MODE_OPEN;
    case FailMode::kClose: return pb::FAIL_MODE_CLOSE;
    case FailMode::kStale: return pb::FAIL_MODE_STALE;
  }
  return pb::FAIL_MODE_UNSPECIFIED;
}

pb::BreakerOverride ToProto(BreakerOverride o) {
  switch (o) {
    case BreakerOverride::kAuto: return pb::BREAKER_OVERRIDE_AUTO;
    case BreakerOverride::kForceOpen: return pb::BREAKER_OVERRIDE_FORCE_OPEN;
    case BreakerOverride::kForceClosed: return pb::BREAKER_OVERRIDE_FORCE_CLOSED;
  }
  return pb::BREAKER_OVERRIDE_UNSPECIFIED;
}

grpc::Status Invalid(std::string message) { return {grpc::StatusCode::INVALID_ARGUMENT, std::move(message)}; }

std::optional<FailMode> FromProto(pb::FailMode m) {
  switch (m) {
    case pb::FAIL_MODE_OPEN: return FailMode::kOpen;
    case pb::FAIL_MODE_CLOSE: return FailMode::kClose;
    case pb::FAIL_MODE_STALE: return FailMode::kStale;
    default: return std::nullopt;
  }
}

std::optional<BreakerOverride> FromProto(pb::BreakerOverride o) {
  switch (o) {
    case pb::BREAKER_OVERRIDE_AUTO: return BreakerOverride::kAuto;
    case pb::BREAKER_OVERRIDE_FORCE_OPEN: return BreakerOverride::kForceOpen;
    case pb::BREAKER_OVERRIDE_FORCE_CLOSED: return BreakerOverride::kForceClosed;
    default: return std::nullopt;
  }
}

// SetFailMode and SetBreaker are one handler over two operator switches; what differs is named here.
struct Switch {
  const char* log_name;   // in the warning: "<log_name> changed from A to B by <identity>"
  const char* audit_key;  // in the audit line: "<audit_key>=B"
  const char* invalid;    // the answer to a value outside the enum
};
constexpr Switch kFailModeSwitch{"fail mode", "fail_mode", "fail_mode must be OPEN, CLOSE or STALE"};
constexpr Switch kBreakerSwitch{"breaker override", "override", "override must be AUTO, FORCE_OPEN or FORCE_CLOSED"};

// Refuses an unknown value, swaps the new one in (`swap` returns the previous one), answers previous and current,
// and warns: a switch changes how every following connect is decided.
template <class Value, class Response, class Swap>
grpc::Status SetSwitch(CallGate::Call call, const Switch& sw, std::optional<Value> requested, Response* response,
                       Swap swap) {
  if (!call.admitted()) return call.Finish(call.refusal());
  if (!requested) return call.Finish(Invalid(sw.invalid));
  const Value previous = swap(*requested);
  response->set_previous(ToProto(previous));
  response->set_current(ToProto(*requested));
  spdlog::warn("management: {} changed from {} to {} by {}", sw.log_name, to_string(previous), to_string(*requested),
               call.identity());
  return call.Finish(grpc::Status::OK, absl::StrCat(sw.audit_key, "=", std::string(to_string(*requested))));
}

}  // namespace

AgentControlImpl::AgentControlImpl(const CallGate& gate, const OcservOptions& ocserv, ControlPlane& control,
                                   const Clock& clock)
    : gate_(gate), ocserv_(ocserv), control_(control), clock_(clock) {}

grpc::Status AgentControlImpl::GetStatus(grpc::ServerContext* context, const pb::GetStatusRequest*,
                                         pb::GetStatusResponse* response) {
  auto call = gate_.Admit(*context, kGetStatus);
  if (!call.admitted()) return call.Finish(call.refusal());
  const StatusSnapshot s = control_.Status();
  response->set_version(s.version);
  response->set_agent_id(s.agent_id);
  response->set_uptime_seconds(static_cast<std::uint64_t>(std::max<long long>(0, s.uptime.count())));
  response->set_fail_mode(ToProto(s.fail_mode));
  response->set_fail_mode_name(std::string(to_string(s.fail_mode)));
  auto* breaker = response->mutable_breaker();
  breaker->set_state(s.breaker_state);
  breaker->set_override(ToProto(s.breaker_override));
  for (const auto& [k, v] : s.breaker_counters) (*breaker->mutable_counters())[k] = v;
  for (const auto& [k, v] : s.cache_stats) (*response->mutable_cache())[k] = v;
  for (const auto& [k, v] : s.decisions_by_source) (*response->mutable_decisions_by_source())[k] = v;
  response->set_stale_fallback(std::string(to_string(s.stale_fallback)));
  for (const auto& [k, v] : s.decisions_by_verdict) (*response->mutable_decisions_by_verdict())[k] = v;
  for (const auto& [k, v] : s.portal) (*response->mutable_portal())[k] = v;
  for (const auto& [k, v] : s.ipc) (*response->mutable_ipc())[k] = v;
  for (const auto& [k, v] : s.sessions) (*response->mutable_sessions())[k] = v;
  for (const auto& [k, v] : s.events) (*response->mutable_events())[k] = v;
  response->set_events_sender_state(s.events_sender_state);
  response->set_ipc_listening(control_.IpcListening());
  response->set_policy_stream(s.policy_stream);
  for (const auto& [k, v] : s.enforcement) (*response->mutable_enforcement())[k] = v;
  for (const auto& r : s.revocations) {
    auto* out = response->add_revocations();
    out->set_subject(r.subject);
    out->set_reason(r.reason);
    out->set_origin(r.origin);
    out->set_age_seconds(r.age_seconds);
    out->set_expires_in_seconds(r.expires_in_seconds);
  }
  return call.Finish(grpc::Status::OK);
}

grpc::Status AgentControlImpl::Revoke(grpc::ServerContext* context, const pb::RevokeRequest* request,
                                      pb::RevokeResponse* response) {
  auto call = gate_.Admit(*context, kRevoke);
  if (!call.admitted()) return call.Finish(call.refusal());
  LocalSubject subject;
  switch (request->subject_case()) {
    case pb::RevokeRequest::kUser: subject = {false, request->user()}; break;
    case pb::RevokeRequest::kGroup: subject = {true, request->group()}; break;
    default: return call.Finish(Invalid("name a user or a group"));
  }
  if (subject.name.empty()) return call.Finish(Invalid("the user or group is empty"));
  auto r = control_.Revoke(subject, request->reason().empty() ? "revoked by an operator" : request->reason(),
                           static_cast<int>(request->disconnect_reason()), "local:" + call.identity());
  if (!r.ok()) return call.Finish(ToGrpcStatus(r.status()));
  response->set_sequence(*r);
  return call.Finish(grpc::Status::OK, absl::StrCat(subject.group ? "group" : "user", "=\"", AuditText(subject.name),
                                                    "\" reason=\"", AuditText(request->reason()), "\""));
}

grpc::Status AgentControlImpl::Restore(grpc::ServerContext* context, const pb::RestoreRequest* request,
                                       pb::RestoreResponse* response) {
  auto call = gate_.Admit(*context, kRestore);
  if (!call.admitted()) return call.Finish(call.refusal());
  LocalSubject subject;
  switch (request->subject_case()) {
    case pb::RestoreRequest::kUser: subject = {false, request->user()}; break;
    case pb::RestoreRequest::kGroup: subject = {true, request->group()}; break;
    default: return call.Finish(Invalid("name a user or a group"));
  }
  if (subject.name.empty()) return call.Finish(Invalid("the user or group is empty"));
  auto r = control_.Restore(subject, "local:" + call.identity());
  if (!r.ok()) return call.Finish(ToGrpcStatus(r.status()));
  response->set_was_revoked(*r);
  return call.Finish(grpc::Status::OK, absl::StrCat(subject.group ? "group" : "user", "=\"", AuditText(subject.name),
                                                    "\" was_revoked=", *r ? "true" : "false"));
}

grpc::Status AgentControlImpl::InvalidateCache(grpc::ServerContext* context, const pb::InvalidateCacheRequest* request,
                                               pb::InvalidateCacheResponse* response) {
  auto call = gate_.Admit(*context, kInvalidateCache);
  if (!call.admitted()) return call.Finish(call.refusal());
  std::size_t removed = 0;
  std::string detail;
  switch (request->target_case()) {
    case pb::InvalidateCacheRequest::kUser:
      if (request->user().empty()) return call.Finish(Invalid("user is empty"));
      removed = control_.InvalidateUser(request->user());
      detail = absl::StrCat("user=\"", AuditText(request->user()), "\"");
      break;
    case pb::InvalidateCacheRequest::kGroup:
      if (request->group().empty()) return call.Finish(Invalid("group is empty"));
      removed = control_.InvalidateGroup(request->group());
      detail = absl::StrCat("group=\"", AuditText(request->group()), "\"");
      break;
    case pb::InvalidateCacheRequest::kAll:
      if (!request->all()) return call.Finish(Invalid("all must be true"));
      removed = control_.InvalidateAll();
      detail = "all";
      break;
    default: return call.Finish(Invalid("name a user, a group, or all"));
  }
  response->set_removed(removed);
  return call.Finish(grpc::Status::OK, absl::StrCat(detail, " removed=", removed));
}

grpc::Status AgentControlImpl::SetFailMode(grpc::ServerContext* context, const pb::SetFailModeRequest* request,
                                           pb::SetFailModeResponse* response) {
  return SetSwitch(gate_.Admit(*context, kSetFailMode), kFailModeSwitch, FromProto(request->fail_mode()), response,
                   [this](FailMode mode) { return control_.SetFailMode(mode); });
}

grpc::Status AgentControlImpl::SetBreaker(grpc::ServerContext* context, const pb::SetBreakerRequest* request,
                                          pb::SetBreakerResponse* response) {
  return SetSwitch(gate_.Admit(*context, kSetBreaker), kBreakerSwitch, FromProto(request->override()), response,
                   [this, response](BreakerOverride o) {
                     const BreakerOverride previous = control_.SetBreakerOverride(o);
                     response->set_state(control_.BreakerState());
                     return previous;
                   });
}

grpc::Status AgentControlImpl::ListSessions(grpc::ServerContext* context, const pb::ListSessionsRequest*,
                                            pb::ListSessionsResponse* response) {
  auto call = gate_.Admit(*context, kListSessions);
  if (!call.admitted() || !gate_.Reserve(call, CallGate::Weight::kSlow)) return call.Finish(call.refusal());
  auto command = ParseOcctlCommand("show users", {});
  if (!command.ok()) return call.Finish(ToGrpcStatus(command.status()));
  gate_.counters().commands_run.fetch_add(1, std::memory_order_relaxed);
  auto result = RunOcctl(ocserv_, *command, kSessionCommandTimeout, clock_);
  if (!result.ok()) return call.Finish(ToGrpcStatus(result.status()));
  if (result->timed_out) {
    gate_.counters().commands_timed_out.fetch_add(1, std::memory_order_relaxed);
    return call.Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "occtl show users timed out"));
  }
  if (result->exit_code != 0) {
    return call.Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    absl::StrCat("occtl show users exited with code ", result->exit_code, ": ",
                                                 result->stderr_text.substr(0, 512))));
  }
  if (auto st = ParseOcctlUsersJson(result->stdout_text, response); !st.ok()) return call.Finish(ToGrpcStatus(st));
  return call.Finish(grpc::Status::OK, absl::StrCat("sessions=", response->sessions_size()));
}

grpc::Status AgentControlImpl::DisconnectSession(grpc::ServerContext* context,
                                                 const pb::DisconnectSessionRequest* request,
                                                 pb::DisconnectSessionResponse* response) {
  auto call = gate_.Admit(*context, kDisconnectSession);
  if (!call.admitted() || !gate_.Reserve(call, CallGate::Weight::kSlow)) return call.Finish(call.refusal());
  absl::StatusOr<OcctlCommand> command = absl::InvalidArgumentError("name a session id or a user");
  if (request->target_case() == pb::DisconnectSessionRequest::kId) {
    command = ParseOcctlCommand("disconnect id", {request->id()});
  } else if (request->target_case() == pb::DisconnectSessionRequest::kUser) {
    command = ParseOcctlCommand("disconnect user", {request->user()});
  }
  if (!command.ok()) return call.Finish(ToGrpcStatus(command.status()));
  gate_.counters().commands_run.fetch_add(1, std::memory_order_relaxed);
  auto result = RunOcctl(ocserv_, *command, kSessionCommandTimeout, clock_);
  if (!result.ok()) return call.Finish(ToGrpcStatus(result.status()));
  if (result->timed_out) gate_.counters().commands_timed_out.fetch_add(1, std::memory_order_relaxed);
  response->set_exit_code(result->exit_code);
  response->set_success(!result->timed_out && result->exit_code == 0);
  response->set_message(result->stdout_text.empty() ? result->stderr_text : result->stdout_text);
  return call.Finish(grpc::Status::OK, absl::StrCat(command->Name(), " \"", AuditText(command->params.front()),
                                                    "\" exit_code=", result->exit_code));
}

}  // namespace oa
