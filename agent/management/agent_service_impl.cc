#include "agent/management/agent_service_impl.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/management/audit_text.h"
#include "agent/management/occtl_runner.h"
#include "agent/management/ocserv_config_writer.h"
#include "ipc/wire_codec.h"

namespace oa {
namespace {

using google::protobuf::util::TimeUtil;

constexpr std::string_view kExecuteCommand = "/agent.v1.AgentService/ExecuteCommand";
constexpr std::string_view kUpdateConfig = "/agent.v1.AgentService/UpdateConfig";
constexpr std::string_view kHealthCheck = "/agent.v1.AgentService/HealthCheck";
constexpr std::string_view kStreamLogs = "/agent.v1.AgentService/StreamLogs";

google::protobuf::Timestamp ToTimestamp(std::chrono::system_clock::time_point t) {
  return TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// A log line may quote anything (a user name from the portal, bytes from ocserv's environment); a proto3 string that
// is not UTF-8 would make the whole stream unparsable for the portal.
void FillEntry(const LogRecord& r, agent::v1::LogEntry* e) {
  *e->mutable_timestamp() = ToTimestamp(r.time);
  e->set_level(r.level);
  e->set_source("agent");
  e->set_message(r.message);
  SanitizeUtf8(e->mutable_message());
  if (!r.logger.empty()) SanitizeUtf8(&((*e->mutable_fields())["logger"] = r.logger));
  (*e->mutable_fields())["seq"] = std::to_string(r.seq);
}

// StreamLogs' start_time as a time_point. A Timestamp outside protobuf's documented range (years 1..9999, nanos
// 0..999999999) is refused; a valid one beyond what system_clock can hold (its nanoseconds overflow int64 past 2262)
// is clamped to the clock's ends, which select the same lines: none after, all before.
absl::StatusOr<std::chrono::system_clock::time_point> LogStartTime(const google::protobuf::Timestamp& t) {
  using Tp = std::chrono::system_clock::time_point;
  if (t.seconds() < TimeUtil::kTimestampMinSeconds || t.seconds() > TimeUtil::kTimestampMaxSeconds ||
      t.nanos() < 0 || t.nanos() > 999'999'999) {
    return absl::InvalidArgumentError("start_time is outside the Timestamp range (years 1 to 9999)");
  }
  constexpr auto kMaxSeconds = std::chrono::duration_cast<std::chrono::seconds>(Tp::duration::max()).count() - 1;
  constexpr auto kMinSeconds = std::chrono::duration_cast<std::chrono::seconds>(Tp::duration::min()).count() + 1;
  if (t.seconds() > kMaxSeconds) return Tp::max();
  if (t.seconds() < kMinSeconds) return Tp::min();
  return Tp(std::chrono::duration_cast<Tp::duration>(std::chrono::seconds(t.seconds()) +
                                                     std::chrono::nanoseconds(t.nanos())));
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
      stopping_(stopping) {}

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

grpc::Status AgentServiceImpl::UpdateConfig(grpc::ServerContext* context,
                                            const agent::v1::ConfigUpdateRequest* request,
                                            agent::v1::ConfigUpdateResponse* response) {
  auto call = gate_.Admit(*context, kUpdateConfig);
  if (!call.admitted()) return call.Finish(call.refusal());
  response->set_request_id(request->request_id());

  std::string directory;
  std::string name = request->config_name();
  absl::StatusOr<std::string> content;
  switch (request->config_type()) {
    case agent::v1::CONFIG_TYPE_PER_USER:
      directory = ocserv_.config_per_user_dir;
      content = ValidatePerEntityConfig(request->config_content());
      break;
    case agent::v1::CONFIG_TYPE_PER_GROUP:
      directory = ocserv_.config_per_group_dir;
      content = ValidatePerEntityConfig(request->config_content());
      break;
    case agent::v1::CONFIG_TYPE_MAIN: {
      if (!management_.allow_main_config_update) {
        return call.Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                        "MAIN config updates are disabled (management.allow_main_config_update)"));
      }
      const auto slash = ocserv_.main_config_path.rfind('/');
      if (slash == std::string::npos) {
        return call.Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "ocserv.main_config_path is not absolute"));
      }
      directory = ocserv_.main_config_path.substr(0, slash);
      name = ocserv_.main_config_path.substr(slash + 1);  // config_name is ignored: there is one main file
      content = ValidateMainConfig(request->config_content());
      break;
    }
    default:
      return call.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "config_type must be set"));
  }
  if (auto st = ValidateConfigName(name); !st.ok()) return call.Finish(ToGrpcStatus(st));
  if (!content.ok()) return call.Finish(ToGrpcStatus(content.status()));

  const std::string detail =
      absl::StrCat("type=", agent::v1::ConfigType_Name(request->config_type()), " name=\"", AuditText(name), "\"");
  if (request->validate_only()) {
    response->set_success(true);
    response->set_validation_result("valid");
    return call.Finish(grpc::Status::OK, absl::StrCat(detail, " validate_only"));
  }
  ConfigWriteRequest write;
  write.directory = directory;
  write.name = name;
  write.content = std::move(*content);
  write.backup = request->create_backup();
  auto written = WriteConfigFile(write, clock_);
  if (!written.ok()) {
    spdlog::warn("management: UpdateConfig {} failed, previous file kept: {}", name, std::string(written.status().message()));
    response->set_success(false);
    response->set_validation_result("valid");
    response->set_error_message(std::string(written.status().message()));
    return call.Finish(ToGrpcStatus(written.status()), detail);
  }
  gate_.counters().config_writes.fetch_add(1, std::memory_order_relaxed);
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

grpc::Status AgentServiceImpl::StreamLogs(grpc::ServerContext* context, const agent::v1::LogStreamRequest* request,
                                          grpc::ServerWriter<agent::v1::LogEntry>* writer) {
  auto call = gate_.Admit(*context, kStreamLogs);
  if (!call.admitted()) return call.Finish(call.refusal());
  // A follow holds its handler thread for as long as it lasts; a one-shot read too, while a client that does not read
  // keeps it waiting on flow control.
  if (!gate_.Reserve(call, request->follow() ? CallGate::Weight::kFollow : CallGate::Weight::kSlow)) {
    return call.Finish(call.refusal());
  }
  const std::string& source = request->log_source();
  if (!source.empty() && source != "agent") {
    return call.Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                    "only log_source \"agent\" (the agent's own recent logs) is served; read ocserv's "
                                    "and the system's logs from journald"));
  }
  std::chrono::system_clock::time_point since{};
  if (request->has_start_time()) {
    auto start = LogStartTime(request->start_time());
    if (!start.ok()) return call.Finish(ToGrpcStatus(start.status()));
    since = *start;
  }
  if (request->follow()) {
    // A follow can last hours: say when it starts, not only when it ends.
    spdlog::info("management audit: identity={} rpc={} result=STARTED follow=true", call.identity(), kStreamLogs);
  }
  std::uint64_t last_seq = 0;
  agent::v1::LogEntry entry;
  for (const auto& r : logs_->Since(since)) {
    FillEntry(r, &entry);
    if (!writer->Write(entry)) return call.Finish(grpc::Status::OK, "client went away");
    last_seq = r.seq;
  }
  if (request->follow()) {
    // Lines older than start_time never reach the ring's tail again, so following from last_seq is enough; when
    // nothing matched, follow from the current tail.
    if (last_seq == 0) {
      const auto all = logs_->Since({});
      if (!all.empty()) last_seq = all.back().seq;
    }
    while (!context->IsCancelled() && !stopping_.load()) {
      for (const auto& r : logs_->After(last_seq, std::chrono::milliseconds(200))) {
        FillEntry(r, &entry);
        if (!writer->Write(entry)) return call.Finish(grpc::Status::OK, "follow ended by client");
        last_seq = r.seq;
      }
    }
  }
  return call.Finish(grpc::Status::OK, request->follow() ? "follow ended" : "");
}

}  // namespace oa
