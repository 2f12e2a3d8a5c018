#include "agent/portal/grpc_portal_client.h"

#include <string>
#include <utility>
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/portal/check_policy_result.h"
#include "agent/portal/in_flight_calls.h"
#include "agent/portal/portal_channel.h"
#include "agent/portal/strict_reply.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "spdlog/spdlog.h"
#include "vpn/v1/auth.grpc.pb.h"

namespace oa {
namespace {

class GrpcPortalClient final : public PortalClient {
 public:
  GrpcPortalClient(std::shared_ptr<grpc::Channel> channel, const Clock& clock, std::string address)
      : channel_(std::move(channel)),
        stub_(channel_),
        clock_(clock),
        address_(std::move(address)) {}

  ~GrpcPortalClient() override { Shutdown(std::chrono::milliseconds(0)); }

  void CheckPolicy(PolicyQuery query, std::chrono::milliseconds timeout, Done done) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    auto call = std::make_unique<Call>();
    if (in_flight_.TryAdd(&call->context) != InFlightCalls::Admit::kAdmitted) {
      refused_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
      errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("portal: CheckPolicy for user '{}' refused: the portal client is shut down", query.request.username);
      PolicyAnswer answer;
      answer.error = absl::UnavailableError("portal client is shut down");
      done(std::move(answer));
      return;
    }
    call->done = std::move(done);
    call->username = query.request.username;
    vpn::v1::CheckPolicyRequest request;
    FillCheckPolicyRequest(query, clock_.wall_now(), &request);
    call->request = SerializeRequest(request);
    // gRPC deadlines are on the real clock; the injected Clock only stamps request_time.
    call->context.set_deadline(std::chrono::system_clock::now() + std::max(timeout, std::chrono::milliseconds(0)));
    Call* raw = call.release();  // owned by the callback from here on
    // Generic call on bytes, parsed strictly in Complete (strict_reply.h says why not the generated stub).
    stub_.UnaryCall(&raw->context, kMethod, grpc::StubOptions(), &raw->request, &raw->reply,
                    [this, raw](grpc::Status status) { Complete(raw, std::move(status)); });
  }

  void Shutdown(std::chrono::milliseconds grace) override {
    if (const std::size_t cancelled = in_flight_.Shutdown(grace); cancelled > 0) {
      spdlog::warn("portal: cancelled {} CheckPolicy call(s) still in flight at shutdown", cancelled);
    }
  }

  PortalClientStatsSnapshot stats() const override {
    PortalClientStatsSnapshot s;
    s.calls = calls_.load(std::memory_order_relaxed);
    s.allowed = allowed_.load(std::memory_order_relaxed);
    s.denied = denied_.load(std::memory_order_relaxed);
    s.errors = errors_.load(std::memory_order_relaxed);
    s.malformed_replies = malformed_.load(std::memory_order_relaxed);
    s.refused_after_shutdown = refused_after_shutdown_.load(std::memory_order_relaxed);
    s.in_flight = in_flight_.pending();
    return s;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer reply;  // stays invalid (!Valid()) when no message arrives
    Done done;
    std::string username;  // for the log line
  };

  void Complete(Call* raw, grpc::Status status) {
    std::unique_ptr<Call> call(raw);
    in_flight_.Forget(&call->context);
    PolicyAnswer answer = MapCheckPolicyReply(status, &call->reply);
    Count(answer, *call);
    Done done = std::move(call->done);
    call.reset();  // before Done(): after that the client (and its channel) may be destroyed
    done(std::move(answer));
    in_flight_.Done();
  }

  void Count(const PolicyAnswer& answer, const Call& call) {
    switch (answer.outcome) {
      case PortalOutcome::kAllow: allowed_.fetch_add(1, std::memory_order_relaxed); return;
      case PortalOutcome::kDeny: denied_.fetch_add(1, std::memory_order_relaxed); return;
      case PortalOutcome::kError: break;
    }
    errors_.fetch_add(1, std::memory_order_relaxed);
    if (answer.malformed_reply) malformed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("portal: CheckPolicy for user '{}' at {} failed: {}", call.username, address_,
                 answer.error.ToString());
  }

  std::shared_ptr<grpc::Channel> channel_;
  inline static const std::string kMethod = MethodPath(vpn::v1::AuthService::service_full_name(), "CheckPolicy");

  grpc::GenericStub stub_;
  const Clock& clock_;
  const std::string address_;

  InFlightCalls in_flight_;

  std::atomic<std::uint64_t> calls_{0}, allowed_{0}, denied_{0}, errors_{0}, malformed_{0},
      refused_after_shutdown_{0};
};

}  // namespace

std::unique_ptr<PortalClient> MakeGrpcPortalClient(std::shared_ptr<grpc::Channel> channel, const Clock& clock,
                                                   std::string address) {
  return std::make_unique<GrpcPortalClient>(std::move(channel), clock, std::move(address));
}

absl::StatusOr<std::unique_ptr<PortalClient>> MakeGrpcPortalClient(const PortalOptions& options, const Clock& clock) {
  auto channel = MakePortalChannel(options);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<PortalClient>(
      std::make_unique<GrpcPortalClient>(*std::move(channel), clock, options.address));
}

}  // namespace oa
