#include "agent/management/management_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/server_builder_option.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/management/access_policy.h"
#include "agent/management/agent_control_impl.h"
#include "agent/management/agent_service_impl.h"
#include "agent/management/call_gate.h"
#include "agent/management/health_checks.h"
#include "agent/management/management_auth_processor.h"
#include "agent/management/slow_call_limiter.h"
#include "agent/net/capped_acceptor.h"
#include "agent/net/tcp_listen.h"

namespace oa {
namespace {

constexpr int kMaxHandlerThreads = 32;
// Slow calls of all roles together leave this many handler threads for fast calls (slow_call_limiter.h).
constexpr SlowCallLimits kSlowCallLimits{8, 4};
static_assert(kSlowCallLimits.per_role * 3 + 8 <= kMaxHandlerThreads);

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& key) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(key, " is not set"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(key, ": cannot read ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return absl::InvalidArgumentError(absl::StrCat(key, ": ", path, " is empty"));
  return ss.str();
}

// Server reflection per server, as configured. Linking grpc++_reflection registers its plugin for *every*
// ServerBuilder in the process (a static initialiser in the library), so this option removes it when reflection is
// off and adds it when on.
class ReflectionOption final : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool enabled) : enabled_(enabled) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    const std::string name = grpc::reflection::ProtoServerReflectionPlugin().name();
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [&](const auto& p) { return p && p->name() == name; }),
                   plugins->end());
    if (enabled_) plugins->push_back(std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>());
  }

 private:
  bool enabled_;
};

}  // namespace

struct ManagementServer::Impl {
  Impl(ManagementOptions m, OcservOptions o, ControlPlane& c, const Clock& clk, std::shared_ptr<LogRing> l)
      : management(std::move(m)),
        ocserv(std::move(o)),
        control(c),
        clock(clk),
        logs(l ? std::move(l) : std::make_shared<LogRing>(1024)),
        policy(management.clients),
        limiter(kSlowCallLimits, counters),
        gate(policy, counters, limiter),
        health(control, ocserv, clock),
        agent_service(gate, management, ocserv, health, logs, clock, stopping),
        control_service(gate, ocserv, control, clock) {}

  const ManagementOptions management;
  const OcservOptions ocserv;
  ControlPlane& control;
  const Clock& clock;
  std::shared_ptr<LogRing> logs;
  ManagementCounters counters;
  std::atomic<bool> stopping{false};
  const AccessPolicy policy;
  SlowCallLimiter limiter;
  const CallGate gate;
  const HealthChecker health;
  AgentServiceImpl agent_service;
  AgentControlImpl control_service;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc_acceptor;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<CappedAcceptor> acceptor;
  int port = 0;
};

ManagementServer::ManagementServer(ManagementOptions management, OcservOptions ocserv, ControlPlane& control,
                                   const Clock& clock, std::shared_ptr<LogRing> logs)
    : impl_(std::make_unique<Impl>(std::move(management), std::move(ocserv), control, clock, std::move(logs))) {}

ManagementServer::~ManagementServer() { Stop(std::chrono::milliseconds(0)); }

absl::Status ManagementServer::Start() {
  if (impl_->server) return absl::FailedPreconditionError("management server already started");
  const auto& m = impl_->management;
  auto cert = ReadFile(m.cert_file, "management.cert_file");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(m.key_file, "management.key_file");
  if (!key.ok()) return key.status();
  auto ca = ReadFile(m.client_ca, "management.client_ca");
  if (!ca.ok()) return ca.status();

  // A client certificate is required and must chain to client_ca: anyone else fails the TLS handshake. gRPC's
  // SSL server credentials negotiate TLS 1.2 to 1.3 (its built-in minimum and maximum; the 1.51 C++ API has no knob
  // for them, and tests/agent/management verify that TLS 1.1 is refused and 1.3 negotiated).
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = *ca;
  ssl.pem_key_cert_pairs.push_back(grpc::SslServerCredentialsOptions::PemKeyCertPair{*key, *cert});

  auto credentials = grpc::SslServerCredentials(ssl);
  // Every call, reflection's included, needs a listed identity; see management_auth_processor.h.
  credentials->SetAuthMetadataProcessor(std::make_shared<ManagementAuthProcessor>(impl_->gate));

  // We accept the connections ourselves and hand them to gRPC (an external connection acceptor): gRPC 1.51 cannot
  // cap its connections, and every one it holds is a descriptor taken from the table the IPC listener needs.
  auto listener = ListenTcp(m.listen, "management.listen", 128);
  if (!listener.ok()) return listener.status();
  impl_->port = BoundPort(*listener);

  grpc::ServerBuilder builder;
  builder.SetOption(std::make_unique<ReflectionOption>(m.reflection));
  impl_->grpc_acceptor = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, credentials);
  builder.RegisterService(&impl_->agent_service);
  builder.RegisterService(&impl_->control_service);
  builder.SetMaxReceiveMessageSize(1 << 20);
  // A peer that connects and never completes the TLS handshake is dropped after this, not gRPC's default 120 s.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, static_cast<int>(m.handshake_timeout.count()));
  // Handlers are synchronous (a command may run for command_timeout_max, a log follow for hours): bound the threads
  // so that a busy or hostile authenticated client gets RESOURCE_EXHAUSTED instead of exhausting the agent, and
  // bound each role's slow calls below that (SlowCallLimiter) so that fast calls always find a thread.
  grpc::ResourceQuota quota("oa-management");
  quota.SetMaxThreads(kMaxHandlerThreads);
  builder.SetResourceQuota(quota);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || impl_->port == 0) {
    ::close(*listener);
    impl_->server.reset();
    impl_->grpc_acceptor.reset();
    return absl::UnavailableError(absl::StrCat("management.listen: cannot listen on ", m.listen));
  }
  CappedAcceptorOptions accept_options;
  accept_options.name = "management";
  accept_options.max_connections = m.max_connections;
  impl_->acceptor = std::make_unique<CappedAcceptor>(
      *listener, accept_options,
      [a = impl_->grpc_acceptor.get()](int listener_fd, int fd) {
        grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
        p.listener_fd = listener_fd;
        p.fd = fd;
        a->HandleNewConnection(&p);
      },
      impl_->clock);
  if (absl::Status st = impl_->acceptor->Start(); !st.ok()) {
    Stop(std::chrono::milliseconds(0));
    return st;
  }
  spdlog::info(
      "management: listening on {} (port {}), {} client identities, reflection {}, at most {} connections, TLS "
      "handshake within {} ms",
      m.listen, impl_->port, m.clients.size(), m.reflection ? "on" : "off", m.max_connections,
      m.handshake_timeout.count());
  return absl::OkStatus();
}

int ManagementServer::port() const { return impl_->port; }

void ManagementServer::Stop(std::chrono::milliseconds grace) {
  if (!impl_->server) return;
  if (impl_->acceptor) impl_->acceptor->Stop();  // no new connections from here on
  impl_->stopping = true;  // StreamLogs followers leave their loop
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  impl_->server.reset();
  impl_->grpc_acceptor.reset();
  spdlog::info("management: stopped");
}

ManagementCounters::Snapshot ManagementServer::counters() const {
  auto s = impl_->counters.snapshot();
  if (impl_->acceptor) {
    const auto c = impl_->acceptor->counters();
    s.connections_accepted = c.accepted;
    s.connections_refused_at_cap = c.refused_at_cap;
    s.accept_errors = c.accept_errors;
    s.connections_open = c.open;
  }
  return s;
}

}  // namespace oa
