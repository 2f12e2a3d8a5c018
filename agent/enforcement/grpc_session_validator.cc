#include "agent/enforcement/grpc_session_validator.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "agent/portal/check_policy_result.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "vpn/v1/auth.grpc.pb.h"

namespace oa {
namespace {

void SetTime(Clock::WallTime t, google::protobuf::Timestamp* out) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int>(ns % 1'000'000'000));
}

class GrpcSessionValidator final : public SessionValidator {
 public:
  GrpcSessionValidator(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds timeout,
                       std::string agent_id, const Clock& clock)
      : stub_(vpn::v1::AuthService::NewStub(channel)), timeout_(timeout), agent_id_(std::move(agent_id)),
        clock_(clock) {}

  void Validate(const SessionRecord& s, std::function<void(SessionValidation)> done) override {
    if (validate_unimplemented_.load(std::memory_order_relaxed)) {
      CheckPolicy(s, std::move(done));
      return;
    }
    struct Call {
      grpc::ClientContext context;
      vpn::v1::ValidateSessionRequest request;
      vpn::v1::ValidateSessionResponse reply;
    };
    auto call = std::make_shared<Call>();
    call->request.set_username(s.username);
    call->request.set_session_id(s.id);
    call->request.set_client_ip(s.ip_real);
    SetTime(clock_.wall_now(), call->request.mutable_request_time());
    call->context.set_deadline(std::chrono::system_clock::now() + timeout_);
    stub_->async()->ValidateSession(&call->context, &call->request, &call->reply,
                                    [this, call, s, done = std::move(done)](grpc::Status st) mutable {
                                      if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
                                        if (!validate_unimplemented_.exchange(true)) {
                                          spdlog::warn("re-check: the portal does not implement ValidateSession; "
                                                       "using CheckPolicy with the sessions' recorded fields");
                                        }
                                        CheckPolicy(s, std::move(done));
                                        return;
                                      }
                                      if (!st.ok()) {
                                        done({ValidationOutcome::kError, "ValidateSession: " + st.error_message()});
                                        return;
                                      }
                                      if (!call->reply.valid() || call->reply.force_disconnect()) {
                                        done({ValidationOutcome::kInvalid, call->reply.invalid_reason().empty()
                                                                               ? "portal: session no longer valid"
                                                                               : call->reply.invalid_reason()});
                                        return;
                                      }
                                      done({ValidationOutcome::kValid, ""});
                                    });
  }

 private:
  void CheckPolicy(const SessionRecord& s, std::function<void(SessionValidation)> done) {
    struct Call {
      grpc::ClientContext context;
      vpn::v1::CheckPolicyRequest request;
      vpn::v1::CheckPolicyResponse reply;
    };
    auto call = std::make_shared<Call>();
    PolicyQuery q;
    q.request.username = s.username;
    q.request.groupname = s.groupname;
    q.request.ip_real = s.ip_real;
    q.request.ip_remote = s.vpn_ip;
    q.request.id = s.id;
    q.agent_id = agent_id_;
    FillCheckPolicyRequest(q, clock_.wall_now(), &call->request);
    call->context.set_deadline(std::chrono::system_clock::now() + timeout_);
    stub_->async()->CheckPolicy(&call->context, &call->request, &call->reply,
                                [call, done = std::move(done)](grpc::Status st) {
                                  const PolicyAnswer a = MapCheckPolicyResult(st, call->reply);
                                  if (a.outcome == PortalOutcome::kError) {
                                    done({ValidationOutcome::kError, "CheckPolicy: " + a.error.ToString()});
                                  } else if (a.outcome == PortalOutcome::kDeny || call->reply.should_disconnect()) {
                                    done({ValidationOutcome::kInvalid,
                                          a.deny_reason.empty() ? "portal: no longer allowed" : a.deny_reason});
                                  } else {
                                    done({ValidationOutcome::kValid, ""});
                                  }
                                });
  }

  std::unique_ptr<vpn::v1::AuthService::Stub> stub_;
  const std::chrono::milliseconds timeout_;
  const std::string agent_id_;
  const Clock& clock_;
  std::atomic<bool> validate_unimplemented_{false};
};

}  // namespace

std::unique_ptr<SessionValidator> MakeGrpcSessionValidator(std::shared_ptr<grpc::Channel> channel,
                                                           std::chrono::milliseconds timeout, std::string agent_id,
                                                           const Clock& clock) {
  return std::make_unique<GrpcSessionValidator>(std::move(channel), timeout, std::move(agent_id), clock);
}

}  // namespace oa
