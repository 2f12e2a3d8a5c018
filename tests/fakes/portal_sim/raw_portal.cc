#include "raw_portal.h"

#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace oa::sim {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Valid() || !buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace

class RawPortal::Impl final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override {
    return new Reactor(this, context->method());
  }

  void SetReply(RawReply reply) {
    std::lock_guard lock(mu_);
    reply_ = std::move(reply);
  }
  RawReply reply() const {
    std::lock_guard lock(mu_);
    return reply_;
  }
  void Record(RawCall call) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(call));
  }
  std::vector<RawCall> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

  std::unique_ptr<grpc::Server> server;
  int port = 0;

 private:
  // Reads the one request message, then answers with the configured bytes (or with trailers only) and OK.
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    Reactor(Impl* owner, std::string method) : owner_(owner), method_(std::move(method)) { StartRead(&request_); }

    void OnReadDone(bool ok) override {
      owner_->Record({method_, ok ? Flatten(request_) : std::string()});
      const RawReply reply = owner_->reply();
      if (!reply.send_message) {
        Finish(grpc::Status::OK);
        return;
      }
      grpc::Slice slice(reply.bytes);
      response_ = grpc::ByteBuffer(&slice, 1);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    Impl* owner_;
    const std::string method_;
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
  };

  mutable std::mutex mu_;
  RawReply reply_;              // guarded by mu_
  std::vector<RawCall> calls_;  // guarded by mu_
};

absl::StatusOr<std::unique_ptr<RawPortal>> RawPortal::Start(const std::string& cert_file, const std::string& key_file,
                                                            const std::string& client_ca_file) {
  auto cert = ReadFile(cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(key_file);
  if (!key.ok()) return key.status();
  auto ca = ReadFile(client_ca_file);
  if (!ca.ok()) return ca.status();
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = *std::move(ca);
  tls.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});

  auto impl = std::make_unique<Impl>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &impl->port);
  builder.RegisterCallbackGenericService(impl.get());
  // A reply bigger than gRPC's default 4 MiB receive limit is not what these tests are about: allow large requests
  // and replies alike on the server side.
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  builder.SetMaxSendMessageSize(64 * 1024 * 1024);
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) return absl::UnavailableError("raw portal: cannot listen on 127.0.0.1");
  return std::unique_ptr<RawPortal>(new RawPortal(std::move(impl)));
}

RawPortal::RawPortal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RawPortal::~RawPortal() {
  impl_->server->Shutdown();
  impl_->server->Wait();
}

std::string RawPortal::address() const { return absl::StrCat("127.0.0.1:", impl_->port); }
void RawPortal::SetReply(RawReply reply) { impl_->SetReply(std::move(reply)); }
std::vector<RawCall> RawPortal::calls() const { return impl_->calls(); }

}  // namespace oa::sim
