#include "flood_portal.h"

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "harness.h"
#include "ocserv_agent/v1/policy_watch.grpc.pb.h"
#include "vpn/v1/auth.grpc.pb.h"

namespace oa::integration {
namespace {

namespace pw = ocserv_agent::v1;
using Steady = std::chrono::steady_clock;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

grpc::ByteBuffer Bytes(const google::protobuf::MessageLite& m) {
  const std::string s = m.SerializeAsString();
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

class Auth final : public vpn::v1::AuthService::CallbackService {
 public:
  explicit Auth(std::atomic<std::uint64_t>& calls) : calls_(calls) {}
  grpc::ServerUnaryReactor* CheckPolicy(grpc::CallbackServerContext* ctx, const vpn::v1::CheckPolicyRequest*,
                                        vpn::v1::CheckPolicyResponse* response) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    response->set_allowed(true);
    response->set_policy_epoch(1);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::atomic<std::uint64_t>& calls_;
};

}  // namespace

class FloodPortal::Impl final : public pw::PolicyWatch::WithRawCallbackMethod_Watch<pw::PolicyWatch::Service> {
 public:
  explicit Impl(FloodPortalOptions o) : options_(o), auth_(check_policy_calls_) {
    pw::PolicyEvent hb;
    hb.mutable_heartbeat()->set_interval_seconds(o.heartbeat_interval_s);
    heartbeat_ = Bytes(hb);
    // Serialized once, before the flood: the portal's side of the test costs only the writes.
    events_.reserve(o.events);
    for (std::uint64_t v = 1; v <= o.events; ++v) {
      pw::PolicyEvent e;
      e.set_version(v);
      e.mutable_invalidate()->mutable_subject()->set_username(absl::StrCat("u", (v - 1) % o.subjects));
      events_.push_back(Bytes(e));
    }
  }

  // One Watch call: Heartbeat, then idle until StartFlood, then the events; open until the agent or Shutdown ends it.
  class Stream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
   public:
    explicit Stream(Impl* owner) : owner_(owner) { StartWrite(&owner_->heartbeat_); }

    // From StartFlood (the test's thread) or from OnWriteDone (gRPC's).
    void WriteNext() {
      const std::uint64_t i = next_++;
      grpc::WriteOptions o;
      const bool last = i + 1 == owner_->events_.size();
      if (!last && (i + 1) % static_cast<std::uint64_t>(owner_->options_.flush_every) != 0) o.set_buffer_hint();
      StartWrite(&owner_->events_[i], o);
    }
    void OnWriteDone(bool ok) override {
      std::lock_guard lock(owner_->mu_);
      if (!ok || finished_) return;  // the agent went away or the server stops: OnDone follows
      if (!heartbeat_done_) {
        heartbeat_done_ = true;
        owner_->OnStreamReady(this);
        return;
      }
      if (owner_->OnEventWritten(next_)) return;
      WriteNext();
    }
    void OnCancel() override {
      std::lock_guard lock(owner_->mu_);
      finished_ = true;  // no write after Finish
      if (owner_->ready_ == this) owner_->ready_ = nullptr;
      Finish(grpc::Status::CANCELLED);
    }
    void OnDone() override {
      owner_->OnStreamDone(this);
      delete this;
    }

   private:
    Impl* owner_;
    // Guarded by the owner's mu_ (recursive: gRPC may run OnWriteDone inline at the end of a StartWrite).
    bool heartbeat_done_ = false;
    bool finished_ = false;
    std::uint64_t next_ = 0;  // index of the next event to write
  };

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(grpc::CallbackServerContext*,
                                                    const grpc::ByteBuffer* request) override {
    pw::WatchRequest r;
    grpc::ByteBuffer copy(*request);
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (copy.Dump(&slices).ok()) {
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    r.ParseFromString(bytes);
    std::lock_guard lock(mu_);
    ++watch_calls_;
    last_after_version_ = r.after_version();
    return new Stream(this);
  }

  // The stream's callbacks call these with mu_ held.
  void OnStreamReady(Stream* s) {
    ready_ = s;
    cv_.notify_all();
  }
  // True when that was the last event.
  bool OnEventWritten(std::uint64_t written) {
    written_ = written;
    if (written < events_.size()) return false;
    flood_done_ = true;
    flood_end_ = Steady::now();
    return true;
  }
  void OnStreamDone(Stream* s) {
    std::lock_guard lock(mu_);
    if (ready_ == s) ready_ = nullptr;
    cv_.notify_all();
  }

  bool WaitForWatch(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ready_ != nullptr; });
  }
  bool StartFlood() {
    std::lock_guard lock(mu_);  // held across the first write: the stream cannot finish meanwhile
    if (ready_ == nullptr || flood_started_ || events_.empty()) return false;
    flood_started_ = true;
    flood_start_ = Steady::now();
    ready_->WriteNext();
    return true;
  }
  FloodStats Stats() const {
    std::lock_guard lock(mu_);
    FloodStats s;
    s.watch_calls = watch_calls_;
    s.last_after_version = last_after_version_;
    s.check_policy_calls = check_policy_calls_.load();
    s.written = written_;
    s.flood_done = flood_done_;
    if (flood_done_) s.flood_seconds = std::chrono::duration<double>(flood_end_ - flood_start_).count();
    return s;
  }

  const FloodPortalOptions options_;
  std::atomic<std::uint64_t> check_policy_calls_{0};
  Auth auth_;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

 private:
  grpc::ByteBuffer heartbeat_;
  std::vector<grpc::ByteBuffer> events_;
  mutable std::recursive_mutex mu_;
  std::condition_variable_any cv_;
  Stream* ready_ = nullptr;  // the open stream once its heartbeat went out; guarded by mu_
  std::uint64_t watch_calls_ = 0, last_after_version_ = 0, written_ = 0;  // guarded by mu_
  bool flood_started_ = false, flood_done_ = false;                      // guarded by mu_
  Steady::time_point flood_start_, flood_end_;                           // guarded by mu_
};

absl::StatusOr<std::unique_ptr<FloodPortal>> FloodPortal::Start(FloodPortalOptions options) {
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = Slurp(Pki("ca.pem"));
  tls.pem_key_cert_pairs.push_back({Slurp(Pki("portal.key")), Slurp(Pki("portal.pem"))});
  auto impl = std::make_unique<Impl>(options);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &impl->port);
  builder.RegisterService(impl.get());
  builder.RegisterService(&impl->auth_);
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) return absl::UnavailableError("flood portal: cannot listen on 127.0.0.1");
  return std::unique_ptr<FloodPortal>(new FloodPortal(std::move(impl)));
}

FloodPortal::FloodPortal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FloodPortal::~FloodPortal() {
  impl_->server->Shutdown(std::chrono::system_clock::now());  // cancels the open stream now
  impl_->server->Wait();
}

std::string FloodPortal::address() const { return absl::StrCat("127.0.0.1:", impl_->port); }
bool FloodPortal::WaitForWatch(std::chrono::milliseconds timeout) { return impl_->WaitForWatch(timeout); }
bool FloodPortal::StartFlood() { return impl_->StartFlood(); }
FloodStats FloodPortal::Stats() const { return impl_->Stats(); }

}  // namespace oa::integration
