// The gRPC EventReporter (event_reporter.h): vpn.v1.EventService over the portal channel, callback API.
#include <atomic>
#include <utility>

#include "agent/portal/event_reporter.h"
#include "agent/portal/in_flight_calls.h"
#include "agent/portal/portal_channel.h"
#include "agent/portal/strict_reply.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "spdlog/spdlog.h"
#include "vpn/v1/events.grpc.pb.h"

namespace oa {
namespace {

// A report's reply is {success, message}: anything this large is not one (strict_reply.h).
constexpr std::size_t kMaxReportReplyBytes = 64 * 1024;

void SetTimestamp(Clock::WallTime when, Clock::WallTime now, google::protobuf::Timestamp* out) {
  if (when == Clock::WallTime{}) when = now;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  if (ns < 0) ns = 0;
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int>(ns % 1'000'000'000));
}

class GrpcEventReporter final : public EventReporter {
 public:
  GrpcEventReporter(std::shared_ptr<grpc::Channel> channel, const Clock& clock, std::chrono::milliseconds timeout,
                    std::size_t max_in_flight, std::string agent_id)
      : stub_(std::move(channel)),
        clock_(clock),
        timeout_(timeout),
        max_in_flight_(max_in_flight),
        agent_id_(std::move(agent_id)) {}

  ~GrpcEventReporter() override { Shutdown(std::chrono::milliseconds(0)); }

  void ReportConnect(ConnectEvent e) override {
    auto call = std::make_unique<Call<vpn::v1::ReportConnectRequest, vpn::v1::ReportConnectResponse>>();
    if (!Admit("ReportConnect", e.username, &call->context)) return;
    auto& r = call->message;
    r.set_username(e.username);
    r.set_session_id(e.session_id);
    r.set_client_ip(e.client_ip);
    r.set_vpn_ip(e.vpn_ip);
    r.set_device(e.device);
    SetTimestamp(e.connected_at, clock_.wall_now(), r.mutable_connected_at());
    r.set_groupname(e.groupname);
    r.mutable_metadata()->insert(e.metadata.begin(), e.metadata.end());
    if (!agent_id_.empty()) (*r.mutable_metadata())["agent_id"] = agent_id_;
    call->what = "ReportConnect";
    call->username = std::move(e.username);
    auto* raw = call.release();
    Start(raw, kReportConnect);
  }

  void ReportDisconnect(DisconnectEvent e) override {
    auto call = std::make_unique<Call<vpn::v1::ReportDisconnectRequest, vpn::v1::ReportDisconnectResponse>>();
    if (!Admit("ReportDisconnect", e.username, &call->context)) return;
    auto& r = call->message;
    r.set_username(e.username);
    r.set_session_id(e.session_id);
    SetTimestamp(e.disconnected_at, clock_.wall_now(), r.mutable_disconnected_at());
    r.set_reason(static_cast<vpn::v1::DisconnectReason>(e.reason));
    r.mutable_stats()->set_duration_seconds(e.duration_seconds);
    r.mutable_stats()->set_bytes_received(e.bytes_received);
    r.mutable_stats()->set_bytes_sent(e.bytes_sent);
    r.mutable_metadata()->insert(e.metadata.begin(), e.metadata.end());
    if (!agent_id_.empty()) (*r.mutable_metadata())["agent_id"] = agent_id_;
    call->what = "ReportDisconnect";
    call->username = std::move(e.username);
    auto* raw = call.release();
    Start(raw, kReportDisconnect);
  }

  void Shutdown(std::chrono::milliseconds grace) override {
    if (const std::size_t cancelled = in_flight_.Shutdown(grace); cancelled > 0) {
      spdlog::warn("portal: cancelled {} session report(s) still in flight at shutdown", cancelled);
    }
  }

  EventReporterStatsSnapshot stats() const override {
    EventReporterStatsSnapshot s;
    s.sent = sent_.load(std::memory_order_relaxed);
    s.succeeded = succeeded_.load(std::memory_order_relaxed);
    s.failed = failed_.load(std::memory_order_relaxed);
    s.dropped = dropped_.load(std::memory_order_relaxed);
    s.malformed_replies = malformed_.load(std::memory_order_relaxed);
    s.in_flight = in_flight_.pending();
    return s;
  }

 private:
  template <class Request, class Reply>
  struct Call {
    using ReplyType = Reply;
    grpc::ClientContext context;
    Request message;          // filled by the caller, serialized by Start
    grpc::ByteBuffer request;
    grpc::ByteBuffer reply;   // stays invalid (!Valid()) when no message arrives
    const char* what = "";
    std::string username;
  };

  bool Admit(const char* what, const std::string& username, grpc::ClientContext* context) {
    const auto admit = in_flight_.TryAdd(context, max_in_flight_);
    if (admit == InFlightCalls::Admit::kAdmitted) {
      sent_.fetch_add(1, std::memory_order_relaxed);
      context->set_deadline(std::chrono::system_clock::now() + timeout_);
      return true;
    }
    dropped_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("portal: {} for user '{}' dropped: {}", what, username,
                 admit == InFlightCalls::Admit::kFull ? "too many reports in flight" : "reporter shut down");
    return false;
  }

  // Generic call on bytes, parsed strictly in Complete (strict_reply.h says why not the generated stub).
  template <class C>
  void Start(C* raw, const std::string& method) {
    raw->request = SerializeRequest(raw->message);
    stub_.UnaryCall(&raw->context, method, grpc::StubOptions(), &raw->request, &raw->reply,
                    [this, raw](grpc::Status s) { Complete(raw, s); });
  }

  template <class C>
  void Complete(C* raw, const grpc::Status& status) {
    std::unique_ptr<C> call(raw);
    in_flight_.Forget(&call->context);
    typename C::ReplyType reply;
    absl::Status parsed = absl::OkStatus();
    if (status.ok()) parsed = ParseReplyStrictly(&call->reply, kMaxReportReplyBytes, &reply);
    if (status.ok() && parsed.ok() && reply.success()) {
      succeeded_.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed_.fetch_add(1, std::memory_order_relaxed);
      if (!parsed.ok()) malformed_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("portal: {} for user '{}' failed: {}", call->what, call->username,
                   !status.ok()   ? status.error_message()
                   : !parsed.ok() ? "malformed reply: " + std::string(parsed.message())
                                  : "the portal answered success=false: " + reply.message());
    }
    call.reset();
    in_flight_.Done();
  }

  inline static const std::string kReportConnect =
      MethodPath(vpn::v1::EventService::service_full_name(), "ReportConnect");
  inline static const std::string kReportDisconnect =
      MethodPath(vpn::v1::EventService::service_full_name(), "ReportDisconnect");

  grpc::GenericStub stub_;
  const Clock& clock_;
  const std::chrono::milliseconds timeout_;
  const std::size_t max_in_flight_;
  const std::string agent_id_;
  InFlightCalls in_flight_;
  std::atomic<std::uint64_t> sent_{0}, succeeded_{0}, failed_{0}, dropped_{0}, malformed_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<EventReporter>> MakeGrpcEventReporter(const PortalOptions& options, const Clock& clock,
                                                                    std::size_t max_in_flight, std::string agent_id) {
  auto channel = MakePortalChannel(options);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<EventReporter>(
      std::make_unique<GrpcEventReporter>(*std::move(channel), clock, options.timeout, max_in_flight,
                                          std::move(agent_id)));
}

}  // namespace oa
