#include "agent/management/agent_service_impl.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/management/audit_text.h"
#include "agent/management/occtl_runner.h"
#include "agent/management/ocserv_config_writer.h"

namespace oa {
namespace {

using google::protobuf::util::TimeUtil;

constexpr std::string_view kExecuteCommand = "/agent.v1.AgentService/ExecuteCommand";
constexpr std::string_view kUpdateConfig = "/agent.v1.AgentService/UpdateConfig";
constexpr std::string_view kHealthCheck = "/agent.v1.AgentService/HealthCheck";

google::protobuf::Timestamp ToTimestamp(std::chrono::system_clock::time_point t) {
  return TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Where an UpdateConfig request writes: the directory and file name its type implies, and its content checked for
// that type (kept as a status: the name is checked first).
struct ConfigTarget {
  std::string directory;
  std::string name;
  absl::StatusOr<std::string> content;
};

// An error here is the call's answer.
absl::StatusOr<ConfigTarget> ConfigTargetOf(const agent::v1::ConfigUpdateRequest& request, const OcservOptions& ocserv,
                                            const ManagementOptions& management) {
  switch (request.config_type()) {
    case agent::v1::CONFIG_TYPE_PER_USER:
      return ConfigTarget{ocserv.config_per_user_dir, request.config_name(),
                          ValidatePerEntityConfig(request.config_content())};
    case agent::v1::CONFIG_TYPE_PER_GROUP:
      return ConfigTarget{ocserv.config_per_group_dir, request.config_name(),
                          ValidatePerEntityConfig(request.config_content())};
    case agent::v1::CONFIG_TYPE_MAIN: {
      if (!management.allow_main_config_update) {
        return absl::FailedPreconditionError("MAIN config updates are disabled (management.allow_main_config_update)");
      }
      const auto slash = ocserv.main_config_path.rfind('/');
      if (slash == std::string::npos) return absl::FailedPreconditionError("ocserv.main_config_path is not absolute");
      // config_name is ignored: there is one main file.
      return ConfigTarget{ocserv.main_config_path.substr(0, slash), ocserv.main_config_path.substr(slash + 1),
                          ValidateMainConfig(request.config_content())};
    }
    default:
      return absl::InvalidArgumentError("config_type must be set");
  }
}

// Writes a checked target (the previous file is kept when the write fails) and answers the call.
grpc::Status WriteConfigAndAnswer(CallGate::Call& call, const CallGate& gate, const Clock& clock, ConfigTarget target,
                                  bool backup, const std::string& detail, agent::v1::ConfigUpdateResponse* response) {
  const std::string& name = target.name;
  ConfigWriteRequest write;
  write.directory = std::move(target.directory);
  write.name = name;
  write.content = std::move(*target.content);
  write.backup = backup;
  auto written = WriteConfigFile(write, clock);
  if (!written.ok()) {
    spdlog::warn("management: UpdateConfig {} failed, previous file kept: {}", name, std::string(written.status().message()));
    response->set_success(false);
    response->set_validation_result("valid");
    response->set_error_message(std::string(written.status().message()));
    return call.Finish(ToGrpcStatus(written.status()), detail);
  }
  gate.counters().config_writes.fetch_add(1, std::memory_order_relaxed);
  response->set_success(true);
  response->set_backup_path(written->backup_path);
  if (written->warning.empty()) {
    response->set_validation_result("valid");
  } else {
    response->set_validation_result(absl::StrCat("valid; warning: ", written->warning));
    spdlog::warn("management: UpdateConfig {}: {}", name, written->warning);
  }
  return call.Finish(grpc::Status::OK, absl::StrCat(detail, " backup=", written->backup_path,
                                                    written->warning.empty() ? "" : " not_durable"));
}

}  // namespace

AgentServiceImpl::AgentServiceImpl(const CallGate& gate, const ManagementOptions& management,
                                   const OcservOptions& ocserv, const HealthChecker& health,
                                   std::shared_ptr<LogRing> logs, const Clock& clock,
                                   const std::atomic<bool>& stopping)
    : gate_(gate),
      management_(management),
      ocserv_(ocserv),
      health_(health),
      logs_(std::move(logs)),
      clock_(clock),
      log_streams_(stopping) {}

grpc::Status AgentServiceImpl::ExecuteCommand(grpc::ServerContext* context, const agent::v1::CommandRequest* request,
                                              agent::v1::CommandResponse* response) {
  auto call = gate_.Admit(*context, kExecuteCommand);
  if (!call.admitted() || !gate_.Reserve(call, CallGate::Weight::kSlow)) return call.Finish(call.refusal());
  response->set_request_id(request->request_id());
  const std::vector<std::string> args(request->args().begin(), request->args().end());
  auto command = ParseOcctlCommand(request->command_type(), args);
  if (!command.ok()) {
    return call.Finish(ToGrpcStatus(command.status()),
                       absl::StrCat("request_id=\"", AuditText(request->request_id(), 64), "\""));
  }
  const auto timeout = ClampOcctlTimeout(ocserv_, std::chrono::seconds(request->timeout_seconds()));
  gate_.counters().commands_run.fetch_add(1, std::memory_order_relaxed);
  auto result = RunOcctl(ocserv_, *command, timeout, clock_);
  const std::string detail = absl::StrCat("command=\"", command->Name(), "\"");
  if (!result.ok()) {
    response->set_success(false);
    response->set_exit_code(-1);
    response->set_error_message(std::string(result.status().message()));
    return call.Finish(grpc::Status::OK, absl::StrCat(detail, " start_failed"));
  }
  response->set_stdout(std::move(result->stdout_text));
  response->set_stderr(std::move(result->stderr_text));
  response->set_exit_code(result->exit_code);
  response->set_success(!result->timed_out && result->exit_code == 0);
  if (result->timed_out) {
    gate_.counters().commands_timed_out.fetch_add(1, std::memory_order_relaxed);
    response->set_error_message(absl::StrCat("occtl did not finish within ", timeout.count(), " ms and was killed"));
    spdlog::warn("management: occtl '{}' killed after {} ms", command->Name(), timeout.count());
  } else if (result->exit_code != 0) {
    response->set_error_message(absl::StrCat("occtl exited with code ", result->exit_code));
  }
  if (result->output_truncated) response->set_error_message(response->error_message() + " (output truncated)");
  return call.Finish(grpc::Status::OK, absl::StrCat(detail, " exit_code=", result->exit_code,
                                                    result->timed_out ? " timed_out" : ""));
}

// UpdateConfig as steps: where the request writes (ConfigTargetOf), the checks (name, then content), then either a
// validate-only answer or the write (WriteConfigAndAnswer).
grpc::Status AgentServiceImpl::UpdateConfig(grpc::ServerContext* context,
                                            const agent::v1::ConfigUpdateRequest* request,
                                            agent::v1::ConfigUpdateResponse* response) {
  auto call = gate_.Admit(*context, kUpdateConfig);
  if (!call.admitted()) return call.Finish(call.refusal());
  response->set_request_id(request->request_id());

  absl::StatusOr<ConfigTarget> target = ConfigTargetOf(*request, ocserv_, management_);
  if (!target.ok()) return call.Finish(ToGrpcStatus(target.status()));
  if (auto st = ValidateConfigName(target->name); !st.ok()) return call.Finish(ToGrpcStatus(st));
  if (!target->content.ok()) return call.Finish(ToGrpcStatus(target->content.status()));

  const std::string detail = absl::StrCat("type=", agent::v1::ConfigType_Name(request->config_type()), " name=\"",
                                          AuditText(target->name), "\"");
  if (request->validate_only()) {
    response->set_success(true);
    response->set_validation_result("valid");
    return call.Finish(grpc::Status::OK, absl::StrCat(detail, " validate_only"));
  }
  return WriteConfigAndAnswer(call, gate_, clock_, std::move(*target), request->create_backup(), detail, response);
}

grpc::Status AgentServiceImpl::HealthCheck(grpc::ServerContext* context, const agent::v1::HealthCheckRequest* request,
                                           agent::v1::HealthCheckResponse* response) {
  auto call = gate_.Admit(*context, kHealthCheck);
  if (!call.admitted()) return call.Finish(call.refusal());
  // Tier 3 runs occtl (up to 5 s): a slow call. Tiers 1 and 2 answer at once and always find a thread.
  if (request->tier() >= 3 && !gate_.Reserve(call, CallGate::Weight::kSlow)) return call.Finish(call.refusal());
  const HealthReport report = health_.Run(request->tier());
  response->set_healthy(report.healthy);
  response->set_status_message(report.message);
  for (const auto& [name, result] : report.checks) (*response->mutable_checks())[name] = result;
  *response->mutable_timestamp() = ToTimestamp(clock_.wall_now());
  return call.Finish(grpc::Status::OK, absl::StrCat("tier=", request->tier(), " healthy=", report.healthy));
}

grpc::ServerWriteReactor<agent::v1::LogEntry>* AgentServiceImpl::StreamLogs(
    grpc::CallbackServerContext* context, const agent::v1::LogStreamRequest* request) {
  return StartLogStream(gate_, logs_, log_streams_, context, *request);
}

}  // namespace oa
