// The gRPC EventDelivery (grpc_event_delivery.h): vpn.v1.EventService over a connection of its own, with a completion
// queue and one thread of its own (niced like the outbox's threads): the reports' completions never queue on gRPC's
// shared callback threads ahead of a decision's CheckPolicy answer.
#include "agent/portal/grpc_event_delivery.h"

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/portal/in_flight_calls.h"
#include "agent/portal/portal_channel.h"
#include "agent/portal/strict_reply.h"
#include "common/thread_priority.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "spdlog/spdlog.h"
#include "vpn/v1/events.grpc.pb.h"

namespace oa {
namespace {

// A report's reply is {success, message, ...}: anything this large is not one (strict_reply.h).
constexpr std::size_t kMaxReportReplyBytes = 64 * 1024;

void SetTimestamp(Clock::WallTime when, Clock::WallTime now, google::protobuf::Timestamp* out) {
  if (when == Clock::WallTime{}) when = now;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  if (ns < 0) ns = 0;
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int>(ns % 1'000'000'000));
}

absl::Status ToAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

class GrpcEventDelivery final : public EventDelivery {
 public:
  GrpcEventDelivery(std::shared_ptr<grpc::Channel> channel, const Clock& clock, std::chrono::milliseconds timeout,
                    std::string agent_id, std::size_t max_in_flight, int thread_nice)
      : stub_(std::move(channel)),
        clock_(clock),
        timeout_(timeout),
        agent_id_(std::move(agent_id)),
        max_in_flight_(max_in_flight),
        completions_([this, thread_nice] { RunCompletions(thread_nice); }) {}

  ~GrpcEventDelivery() override { Shutdown(std::chrono::milliseconds(0)); }

  void Deliver(const StoredEvent& stored, Done done) override {
    const SessionEvent& e = stored.event;
    switch (e.kind) {
      case SessionEventKind::kConnect: {
        auto call = Start<vpn::v1::ReportConnectRequest, vpn::v1::ReportConnectResponse>(std::move(done));
        if (!call) return;
        auto& r = call->request;
        r.set_username(e.username);
        r.set_session_id(e.session_id);
        r.set_client_ip(e.client_ip);
        r.set_vpn_ip(e.vpn_ip);
        r.set_device(e.device);
        SetTimestamp(e.at, clock_.wall_now(), r.mutable_connected_at());
        r.set_groupname(e.groupname);
        FillMetadata(stored, r.mutable_metadata());
        Send(call.release(), kReportConnect);
        return;
      }
      case SessionEventKind::kDisconnect: {
        auto call = Start<vpn::v1::ReportDisconnectRequest, vpn::v1::ReportDisconnectResponse>(std::move(done));
        if (!call) return;
        auto& r = call->request;
        r.set_username(e.username);
        r.set_session_id(e.session_id);
        SetTimestamp(e.at, clock_.wall_now(), r.mutable_disconnected_at());
        r.set_reason(static_cast<vpn::v1::DisconnectReason>(e.reason));
        r.mutable_stats()->set_duration_seconds(e.duration_seconds);
        r.mutable_stats()->set_bytes_received(e.bytes_received);
        r.mutable_stats()->set_bytes_sent(e.bytes_sent);
        FillMetadata(stored, r.mutable_metadata());
        Send(call.release(), kReportDisconnect);
        return;
      }
      case SessionEventKind::kHostUpdate: {
        auto call =
            Start<vpn::v1::ReportSessionUpdateRequest, vpn::v1::ReportSessionUpdateResponse>(std::move(done));
        if (!call) return;
        auto& r = call->request;
        r.set_username(e.username);
        r.set_session_id(e.session_id);
        SetTimestamp(e.at, clock_.wall_now(), r.mutable_update_time());
        r.set_status(vpn::v1::SESSION_STATUS_ACTIVE);
        // Periodic updates carry occtl's counters (events.session_update_interval); ocserv's host-update has none.
        if (e.duration_seconds != 0 || e.bytes_received != 0 || e.bytes_sent != 0) {
          r.mutable_current_stats()->set_duration_seconds(e.duration_seconds);
          r.mutable_current_stats()->set_bytes_received(e.bytes_received);
          r.mutable_current_stats()->set_bytes_sent(e.bytes_sent);
        }
        Send(call.release(), kReportSessionUpdate);
        return;
      }
    }
    done(absl::InvalidArgumentError("unknown session event kind"));
  }

  std::uint64_t malformed_replies() const override { return malformed_replies_.load(std::memory_order_relaxed); }
  void SetOnDisconnectRequested(DisconnectRequested handler) override { on_disconnect_requested_ = std::move(handler); }

  // Not from a completion (it waits for them). Every admitted call finishes through the queue before it shuts down.
  void Shutdown(std::chrono::milliseconds grace) override {
    if (const std::size_t cancelled = in_flight_.Shutdown(grace); cancelled > 0) {
      spdlog::warn("events: cancelled {} session event delivery(ies) still in flight at shutdown; they stay in the "
                   "outbox",
                   cancelled);
    }
    std::call_once(cq_shut_down_, [this] {
      cq_.Shutdown();
      completions_.join();
    });
  }

 private:
  // What the completion queue hands back: the call whose Finish came.
  struct Finishable {
    virtual ~Finishable() = default;
    virtual void Finished(GrpcEventDelivery& owner) = 0;
  };

  template <class Request, class Reply>
  struct Call final : Finishable {
    void Finished(GrpcEventDelivery& owner) override { owner.Complete(this, status); }
    grpc::ClientContext context;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
    grpc::Status status;
    Request request;           // filled by Deliver, serialized by Send
    Reply reply;               // parsed strictly from `received` in Complete
    grpc::ByteBuffer sent;
    grpc::ByteBuffer received;  // stays invalid (!Valid()) when no message arrives
    Done done;
  };

  // Generic call on bytes, parsed strictly in Complete (strict_reply.h says why not the generated stub); its Finish
  // comes on cq_, to RunCompletions.
  template <class C>
  void Send(C* raw, const std::string& method) {
    raw->sent = SerializeRequest(raw->request);
    raw->reader = stub_.PrepareUnaryCall(&raw->context, method, raw->sent, &cq_);
    raw->reader->StartCall();
    raw->reader->Finish(&raw->received, &raw->status, static_cast<Finishable*>(raw));
  }

  void RunCompletions(int nice) {
    ::pthread_setname_np(::pthread_self(), "oa-reports");
    if (nice != 0 && !NiceThisThread(nice)) {
      spdlog::warn("events: could not lower the report completion thread's priority (nice {})", nice);
    }
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) static_cast<Finishable*>(tag)->Finished(*this);  // a unary Finish always comes
  }

  template <class Request, class Reply>
  std::unique_ptr<Call<Request, Reply>> Start(Done done) {
    auto call = std::make_unique<Call<Request, Reply>>();
    const auto admit = in_flight_.TryAdd(&call->context, max_in_flight_);
    if (admit != InFlightCalls::Admit::kAdmitted) {
      done(admit == InFlightCalls::Admit::kFull ? absl::ResourceExhaustedError("too many deliveries in flight")
                                                : absl::CancelledError("event delivery shut down"));
      return nullptr;
    }
    call->context.set_deadline(std::chrono::system_clock::now() + timeout_);
    call->done = std::move(done);
    return call;
  }

  template <class Map>
  void FillMetadata(const StoredEvent& stored, Map* m) const {
    m->insert(stored.event.metadata.begin(), stored.event.metadata.end());
    (*m)["event_id"] = stored.event_id;
    if (!agent_id_.empty()) (*m)["agent_id"] = agent_id_;
  }

  template <class C>
  void Complete(C* raw, const grpc::Status& status) {
    std::unique_ptr<C> call(raw);
    in_flight_.Forget(&call->context);
    absl::Status result = ToAbsl(status);
    if (status.ok()) {
      // A reply that cannot be believed is a failure to retry (the event_id makes a repeat harmless), never a
      // success that would delete the event.
      if (absl::Status parsed = ParseReplyStrictly(&call->received, kMaxReportReplyBytes, &call->reply);
          !parsed.ok()) {
        malformed_replies_.fetch_add(1, std::memory_order_relaxed);
        result = absl::InternalError(absl::StrCat("malformed reply: ", parsed.message()));
      }
    }
    if constexpr (requires { call->reply.should_disconnect(); }) {
      // Enforced by live enforcement (the handler); a believed reply only.
      if (result.ok() && call->reply.should_disconnect()) {
        if (on_disconnect_requested_) {
          on_disconnect_requested_(call->request.session_id(), call->request.username(),
                                   call->reply.disconnect_reason());
        } else {
          spdlog::warn("events: the portal asked to disconnect session {} of user '{}' ({}); live enforcement is not "
                       "wired, not enforced",
                       call->request.session_id(), call->request.username(), call->reply.disconnect_reason());
        }
      }
    }
    if (result.ok() && !call->reply.success()) {
      std::string message;
      if constexpr (requires { call->reply.message(); }) message = call->reply.message();
      result = absl::FailedPreconditionError("the portal answered success=false" +
                                             (message.empty() ? std::string() : ": " + message));
    }
    Done done = std::move(call->done);
    call.reset();
    done(std::move(result));
    in_flight_.Done();
  }

  inline static const std::string kReportConnect =
      MethodPath(vpn::v1::EventService::service_full_name(), "ReportConnect");
  inline static const std::string kReportDisconnect =
      MethodPath(vpn::v1::EventService::service_full_name(), "ReportDisconnect");
  inline static const std::string kReportSessionUpdate =
      MethodPath(vpn::v1::EventService::service_full_name(), "ReportSessionUpdate");

  grpc::GenericStub stub_;
  const Clock& clock_;
  const std::chrono::milliseconds timeout_;
  const std::string agent_id_;
  const std::size_t max_in_flight_;
  InFlightCalls in_flight_;
  std::atomic<std::uint64_t> malformed_replies_{0};
  DisconnectRequested on_disconnect_requested_;  // set before the first Deliver
  grpc::CompletionQueue cq_;
  std::once_flag cq_shut_down_;
  std::thread completions_;  // last: starts once everything it uses exists
};

}  // namespace

absl::StatusOr<std::unique_ptr<EventDelivery>> MakeGrpcEventDelivery(const PortalOptions& options, const Clock& clock,
                                                                     std::string agent_id, std::size_t max_in_flight,
                                                                     int thread_nice) {
  // Its own connection, deliberately (decision_path.cc says why); the same channel recipe as the portal client.
  auto channel = MakePortalChannel(options);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<EventDelivery>(std::make_unique<GrpcEventDelivery>(
      *std::move(channel), clock, options.timeout, std::move(agent_id), max_in_flight, thread_nice));
}

}  // namespace oa
