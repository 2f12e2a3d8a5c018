#include "agent/portal/grpc_portal_client.h"

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_set>
#include <utility>
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/portal/check_policy_result.h"
#include "grpc/grpc.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "spdlog/spdlog.h"
#include "vpn/v1/auth.grpc.pb.h"

namespace oa {
namespace {

// How long the channel waits at most between reconnect attempts to a portal that is down. gRPC's default (120 s)
// would keep failing calls fast long after the portal is back, and the breaker's half-open probes would see a dead
// channel instead of the portal.
constexpr int kMaxReconnectBackoffMs = 5000;
constexpr int kMinReconnectBackoffMs = 500;

absl::StatusOr<std::string> ReadPem(const std::string& key, const std::string& path, const char* marker) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("portal.", key, " is required (mutual TLS)"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("portal.", key, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("portal.", key, ": error reading ", path));
  std::string pem = std::move(text).str();
  if (pem.empty()) return absl::InvalidArgumentError(absl::StrCat("portal.", key, ": ", path, " is empty"));
  if (pem.find(marker) == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("portal.", key, ": ", path, " holds no PEM ", marker));
  }
  return pem;
}

class GrpcPortalClient final : public PortalClient {
 public:
  GrpcPortalClient(std::shared_ptr<grpc::Channel> channel, const Clock& clock, std::string address)
      : channel_(std::move(channel)),
        stub_(vpn::v1::AuthService::NewStub(channel_)),
        clock_(clock),
        address_(std::move(address)) {}

  ~GrpcPortalClient() override { Shutdown(std::chrono::milliseconds(0)); }

  void CheckPolicy(PolicyQuery query, std::chrono::milliseconds timeout, Done done) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    auto call = std::make_unique<Call>();
    {
      std::lock_guard lock(mu_);
      if (!shut_down_) {
        in_flight_calls_.insert(call.get());
        ++pending_;
      } else {
        call.reset();
      }
    }
    if (!call) {
      refused_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
      errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("portal: CheckPolicy for user '{}' refused: the portal client is shut down", query.username);
      PolicyAnswer answer;
      answer.error = absl::UnavailableError("portal client is shut down");
      done(std::move(answer));
      return;
    }
    call->done = std::move(done);
    call->username = query.username;
    FillCheckPolicyRequest(query, clock_.wall_now(), &call->request);
    // gRPC deadlines are on the real clock; the injected Clock only stamps request_time.
    call->context.set_deadline(std::chrono::system_clock::now() + std::max(timeout, std::chrono::milliseconds(0)));
    Call* raw = call.release();  // owned by the callback from here on
    stub_->async()->CheckPolicy(&raw->context, &raw->request, &raw->reply,
                                [this, raw](grpc::Status status) { Complete(raw, std::move(status)); });
  }

  void Shutdown(std::chrono::milliseconds grace) override {
    std::unique_lock lock(mu_);
    shut_down_ = true;
    if (!idle_.wait_for(lock, grace, [this] { return pending_ == 0; })) {
      spdlog::warn("portal: cancelling {} CheckPolicy call(s) still in flight at shutdown", in_flight_calls_.size());
      // Complete() takes mu_ before it forgets a call, so every call in the set is still alive here.
      for (Call* call : in_flight_calls_) call->context.TryCancel();
      idle_.wait(lock, [this] { return pending_ == 0; });
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
    std::lock_guard lock(mu_);
    s.in_flight = pending_;
    return s;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    vpn::v1::CheckPolicyRequest request;
    vpn::v1::CheckPolicyResponse reply;
    Done done;
    std::string username;  // for the log line
  };

  void Complete(Call* raw, grpc::Status status) {
    std::unique_ptr<Call> call(raw);
    {
      std::lock_guard lock(mu_);
      in_flight_calls_.erase(raw);
    }
    PolicyAnswer answer = MapCheckPolicyResult(status, call->reply);
    Count(answer, *call);
    Done done = std::move(call->done);
    call.reset();  // before `pending_` drops: after that the client (and its channel) may be destroyed
    done(std::move(answer));
    std::lock_guard lock(mu_);
    if (--pending_ == 0) idle_.notify_all();
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
  std::unique_ptr<vpn::v1::AuthService::Stub> stub_;
  const Clock& clock_;
  const std::string address_;

  mutable std::mutex mu_;
  std::condition_variable idle_;
  bool shut_down_ = false;                    // guarded by mu_
  std::unordered_set<Call*> in_flight_calls_;  // for TryCancel at shutdown; guarded by mu_
  std::uint64_t pending_ = 0;                 // started and `done` not yet returned; guarded by mu_

  std::atomic<std::uint64_t> calls_{0}, allowed_{0}, denied_{0}, errors_{0}, malformed_{0},
      refused_after_shutdown_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<PortalClient>> MakeGrpcPortalClient(const PortalOptions& options, const Clock& clock) {
  if (options.address.empty()) return absl::InvalidArgumentError("portal.address is required");
  auto ca = ReadPem("ca_file", options.ca_file, "CERTIFICATE");
  if (!ca.ok()) return ca.status();
  auto cert = ReadPem("cert_file", options.cert_file, "CERTIFICATE");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("key_file", options.key_file, "PRIVATE KEY");
  if (!key.ok()) return key.status();

  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = *std::move(ca);
  tls.pem_cert_chain = *std::move(cert);
  tls.pem_private_key = *std::move(key);

  grpc::ChannelArguments args;
  if (!options.server_name.empty()) args.SetSslTargetNameOverride(options.server_name);
  const auto keepalive_ms = static_cast<int>(options.keepalive_time.count());
  if (keepalive_ms > 0) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
    // A ping unanswered for this long means the portal (or the path to it) is gone: fail calls now rather than at
    // their deadline, and reconnect.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(std::min<long long>(options.timeout.count(), 20000)));
    // Keep pinging between connects, which can be minutes apart, so the first call after a quiet spell does not
    // find a half-dead connection. The portal must allow pings this often (gRPC servers refuse pings more often
    // than every 5 minutes by default; the client then backs its keepalive off by itself).
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kMinReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kMinReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);

  auto channel = grpc::CreateCustomChannel(options.address, grpc::SslCredentials(tls), args);
  if (!channel) return absl::InternalError(absl::StrCat("portal: cannot create a channel to ", options.address));
  return std::unique_ptr<PortalClient>(std::make_unique<GrpcPortalClient>(std::move(channel), clock, options.address));
}

}  // namespace oa
