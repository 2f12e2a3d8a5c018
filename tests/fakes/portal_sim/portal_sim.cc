#include "portal_sim.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "delay_queue.h"
#include "policy_watch_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"
#include "ocserv_agent/v1/portal_sim.grpc.pb.h"
#include "sim_policy.h"
#include "spdlog/spdlog.h"
#include "vpn/v1/auth.grpc.pb.h"
#include "vpn/v1/events.grpc.pb.h"

namespace oa::sim {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& what, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is required"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// "host:port" / "[v6]:port" -> host (brackets kept) and port.
absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), port) || *port < 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: expected HOST:PORT, got '", listen, "'"));
  }
  *host = listen.substr(0, colon);
  return absl::OkStatus();
}

// A TCP listener that accepts and closes every connection: a portal whose TLS never comes up.
class RefusingListener {
 public:
  ~RefusingListener() { Stop(); }

  absl::StatusOr<int> Start(const std::string& host, int port) {
    std::string bare = host;
    if (bare.size() > 1 && bare.front() == '[') bare = bare.substr(1, bare.size() - 2);
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, bare.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof(*v6);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--refuse-tls needs a numeric listen address, got ", host));
    }
    fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd_, 128) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || pipe2(wake_, O_CLOEXEC) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", strerror(errno)));
    }
    thread_ = std::thread([this] { Run(); });
    return ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  }

  void Stop() {
    if (thread_.joinable()) {
      (void)!write(wake_[1], "x", 1);
      thread_.join();
    }
    for (int* fd : {&fd_, &wake_[0], &wake_[1]}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

 private:
  void Run() {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    while (poll(fds, 2, -1) >= 0 || errno == EINTR) {
      if (fds[1].revents) return;
      if (fds[0].revents) {
        const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn >= 0) close(conn);
      }
    }
  }

  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace

// One vpn.v1 call in progress. Owns itself (self_) until gRPC is done with it (OnDone); a latency timer holds a second
// reference, so a call cancelled by its client before the timer fires is still alive when the timer runs.
class SimCall final : public grpc::ServerUnaryReactor {
 public:
  static std::shared_ptr<SimCall> Create(PortalSim::Impl* sim);

  void FinishOnce(grpc::Status status) {
    if (!finished_.exchange(true)) Finish(std::move(status));
  }
  void OnCancel() override { FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client")); }
  void OnDone() override;

 private:
  explicit SimCall(PortalSim::Impl* sim) : sim_(sim) {}
  PortalSim::Impl* sim_;
  std::atomic<bool> finished_{false};
  std::shared_ptr<SimCall> self_;
};

class PortalSim::Impl {
 public:
  // What to do with one vpn.v1 call, decided when it arrives.
  struct Plan {
    bool hang = false;
    grpc::Status status;  // not OK: answer with this instead of the policy
    std::chrono::milliseconds delay{0};
  };

  explicit Impl(PortalSimOptions options) : options_(std::move(options)), faults_(options_.faults) {}

  absl::Status Start();
  void Shutdown();

  Plan BeginCall(const std::string& method) {
    std::lock_guard lock(mu_);
    ++stats_.calls_by_method[method];
    Plan plan;
    if (shut_down_) {
      plan.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "portal sim is shutting down");
      return plan;
    }
    if (faults_.hang) {
      ++stats_.hung;
      plan.hang = true;
      return plan;
    }
    plan.delay = std::chrono::milliseconds(faults_.latency_ms);
    if (faults_.error_rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < faults_.error_rate) {
      ++stats_.injected_errors;
      const int code = faults_.error_code == 0 ? grpc::StatusCode::UNAVAILABLE : faults_.error_code;
      plan.status = grpc::Status(static_cast<grpc::StatusCode>(code), "injected by ocserv-portal-sim");
    }
    return plan;
  }

  // Evaluates the policy for a CheckPolicy call that will be answered normally.
  void Decide(const vpn::v1::CheckPolicyRequest& request, vpn::v1::CheckPolicyResponse* reply) {
    std::shared_ptr<const SimPolicy> policy;
    std::uint64_t epoch;
    {
      std::lock_guard lock(mu_);
      policy = policy_;
      epoch = epoch_;
      ++stats_.check_policy_by_user[request.username()];
    }
    const SimRule& rule = policy->Evaluate(request.username(), request.groupname(), request.client_ip());
    reply->set_allowed(rule.allow);
    if (!rule.allow) reply->set_deny_reason(rule.reason);
    if (rule.ttl_seconds) reply->set_cache_ttl_seconds(*rule.ttl_seconds);
    reply->set_policy_epoch(epoch);
    for (const auto& r : rule.routes) reply->add_routes(r);
    for (const auto& d : rule.dns) reply->add_dns_servers(d);
    reply->set_should_disconnect(rule.should_disconnect);
    reply->mutable_metadata()->insert(rule.metadata.begin(), rule.metadata.end());
    std::lock_guard lock(mu_);
    ++(rule.allow ? stats_.allowed : stats_.denied);
  }

  std::shared_ptr<const SimPolicy> policy() const {
    std::lock_guard lock(mu_);
    return policy_;
  }

  // Answers `call` as `plan` says: now, after the added latency, or (hang) never.
  void Dispatch(const std::shared_ptr<SimCall>& call, const Plan& plan) {
    if (plan.hang) {
      std::lock_guard lock(mu_);
      held_.push_back(call);
      return;
    }
    if (plan.delay.count() == 0) {
      call->FinishOnce(plan.status);
      return;
    }
    delays_.Schedule(std::chrono::steady_clock::now() + plan.delay,
                     [call, status = plan.status] { call->FinishOnce(status); });
  }

  void CallStarted() { in_flight_.fetch_add(1); }
  void CallDone() { in_flight_.fetch_sub(1); }

  absl::Status ReloadPolicy() {
    auto loaded = LoadPolicy();
    std::shared_ptr<const SimPolicy> old;
    std::shared_ptr<const SimPolicy> fresh;
    {
      std::lock_guard lock(mu_);
      if (!loaded.ok()) {
        ++stats_.policy_reload_failures;
        spdlog::warn("portal-sim: policy reload refused, the old policy stays: {}", loaded.status().ToString());
        return loaded.status();
      }
      old = policy_;
      InstallLocked(*std::move(loaded));
      fresh = policy_;
      ++stats_.policy_reloads;
      spdlog::info("portal-sim: policy reloaded, epoch {}", epoch_);
    }
    PublishRevocations(*old, *fresh);
    return absl::OkStatus();
  }

  // A user or group that the old policy allowed and the new one denies is revoked at once.
  void PublishRevocations(const SimPolicy& old, const SimPolicy& fresh) {
    if (!watch_) return;
    auto revoke_changed = [&](const std::map<std::string, SimRule>& before, const std::map<std::string, SimRule>& after,
                              bool users) {
      for (const auto& [name, rule] : before) {
        if (!rule.allow) continue;
        auto it = after.find(name);
        const SimRule& now = it != after.end() ? it->second : fresh.default_rule;
        if (now.allow) continue;
        SimEvent e;
        e.kind = SimEvent::Kind::kRevoke;
        (users ? e.username : e.groupname) = name;
        e.reason = now.reason.empty() ? "revoked by policy reload" : now.reason;
        const std::uint64_t v = Publish(e);
        spdlog::info("portal-sim: {} '{}' changed from allow to deny: Revoke published, version {}",
                     users ? "user" : "group", name, v);
      }
    };
    revoke_changed(old.users, fresh.users, true);
    revoke_changed(old.groups, fresh.groups, false);
  }

  std::uint64_t Publish(const SimEvent& e) {
    if (!watch_) return 0;
    ocserv_agent::v1::PolicyEvent event;
    auto fill = [&](ocserv_agent::v1::Subject* s) {
      if (!e.username.empty()) s->set_username(e.username);
      if (!e.groupname.empty()) s->set_groupname(e.groupname);
      if (e.all) s->set_all(true);
    };
    switch (e.kind) {
      case SimEvent::Kind::kRevoke:
        fill(event.mutable_revoke()->mutable_subject());
        event.mutable_revoke()->set_reason(e.reason);
        event.mutable_revoke()->set_disconnect_reason(static_cast<vpn::v1::DisconnectReason>(e.disconnect_reason));
        break;
      case SimEvent::Kind::kRestore: fill(event.mutable_restore()->mutable_subject()); break;
      case SimEvent::Kind::kInvalidate: fill(event.mutable_invalidate()->mutable_subject()); break;
      case SimEvent::Kind::kRecheck: fill(event.mutable_recheck()->mutable_subject()); break;
      case SimEvent::Kind::kResync: event.mutable_resync(); break;
    }
    return watch_->Publish(std::move(event));
  }
  std::uint64_t PublishRaw(ocserv_agent::v1::PolicyEvent event) { return watch_ ? watch_->Publish(std::move(event)) : 0; }
  void SetWatchMuted(bool muted) {
    if (watch_) watch_->SetMuted(muted);
  }
  void ForgetWatchLog() {
    if (watch_) watch_->ForgetLog();
  }

  void SetFaults(const SimFaults& f) {
    std::lock_guard lock(mu_);
    faults_ = f;
  }
  SimFaults faults() const {
    std::lock_guard lock(mu_);
    return faults_;
  }
  void RecordConnect(const vpn::v1::ReportConnectRequest& r) {
    spdlog::info("portal-sim: ReportConnect user={} group={} session={} client_ip={} vpn_ip={}", r.username(),
                 r.groupname(), r.session_id(), r.client_ip(), r.vpn_ip());
    std::lock_guard lock(mu_);
    if (!FirstSightLocked(r.metadata())) return;
    ++stats_.reported_connects_by_user[r.username()];
  }
  void RecordDisconnect(const vpn::v1::ReportDisconnectRequest& r) {
    const auto& st = r.stats();
    spdlog::info("portal-sim: ReportDisconnect user={} session={} bytes_received={} bytes_sent={} duration={}s",
                 r.username(), r.session_id(), st.bytes_received(), st.bytes_sent(), st.duration_seconds());
    std::lock_guard lock(mu_);
    if (!FirstSightLocked(r.metadata())) return;
    stats_.reported_bytes_received += st.bytes_received();
    stats_.reported_bytes_sent += st.bytes_sent();
    stats_.reported_duration_seconds += st.duration_seconds();
  }

  // A portal's dedup by event_id (shared/DESIGN.md "Session records that are never lost"): false for a duplicate.
  template <class Metadata>
  bool FirstSightLocked(const Metadata& metadata) {
    ++stats_.events_received;
    auto it = metadata.find("event_id");
    if (it == metadata.end() || it->second.empty()) {
      ++stats_.events_without_id;
      ++stats_.events_unique;
      return true;
    }
    if (!seen_event_ids_.insert(it->second).second) {
      ++stats_.events_duplicate;
      spdlog::info("portal-sim: duplicate session event {} dropped", it->second);
      return false;
    }
    ++stats_.events_unique;
    return true;
  }

  PortalSimStats Stats() const {
    PortalSimStats s;
    {
      std::lock_guard lock(mu_);
      s = stats_;
      s.policy_epoch = epoch_;
      s.in_flight = in_flight_.load();
    }
    if (watch_) {
      const SimWatchStats w = watch_->Stats();
      s.watch_streams_open = w.streams_open;
      s.watch_events_published = w.published;
      s.watch_last_version = w.last_version;
      s.watch_resyncs_sent = w.resyncs_sent;
      s.watch_last_after_version = w.last_after_version;
    }
    return s;
  }
  PortalSimStats ResetStats() {
    std::lock_guard lock(mu_);
    PortalSimStats old = stats_;
    old.policy_epoch = epoch_;
    old.in_flight = in_flight_.load();
    PortalSimStats fresh;
    fresh.policy_reloads = stats_.policy_reloads;
    fresh.policy_reload_failures = stats_.policy_reload_failures;
    stats_ = fresh;
    return old;
  }

  int port() const { return port_; }
  std::string address() const { return absl::StrCat(host_, ":", port_); }

 private:
  absl::StatusOr<SimPolicy> LoadPolicy() const {
    if (options_.policy_file.empty()) return SimPolicy{};
    return LoadSimPolicyFile(options_.policy_file);
  }
  void InstallLocked(SimPolicy policy) {
    epoch_ = policy.epoch.value_or(epoch_ + 1);
    policy_ = std::make_shared<const SimPolicy>(std::move(policy));
  }

  class AuthService;
  class EventService;
  class ControlService;

  const PortalSimOptions options_;
  mutable std::mutex mu_;
  SimFaults faults_;                                // guarded by mu_
  std::shared_ptr<const SimPolicy> policy_;         // guarded by mu_
  std::uint64_t epoch_ = 0;                         // guarded by mu_
  PortalSimStats stats_;                            // guarded by mu_ (in_flight lives in in_flight_)
  std::unordered_set<std::string> seen_event_ids_;  // guarded by mu_; survives ResetStats, as a portal's would
  std::vector<std::weak_ptr<SimCall>> held_;        // hung calls, finished at shutdown; guarded by mu_
  std::mt19937_64 rng_{0x5eed};                     // guarded by mu_
  bool shut_down_ = false;                          // guarded by mu_
  std::atomic<std::uint64_t> in_flight_{0};
  DelayQueue delays_;

  std::string host_;
  int port_ = 0;
  std::unique_ptr<AuthService> auth_;
  std::unique_ptr<EventService> events_;
  std::unique_ptr<ControlService> control_;
  std::unique_ptr<SimPolicyWatch> watch_;  // null when options_.policy_watch is false
  std::unique_ptr<grpc::Server> server_;
  RefusingListener refusing_;
  std::once_flag shutdown_once_;
};

std::shared_ptr<SimCall> SimCall::Create(PortalSim::Impl* sim) {
  std::shared_ptr<SimCall> call(new SimCall(sim));
  call->self_ = call;
  sim->CallStarted();
  return call;
}

void SimCall::OnDone() {
  sim_->CallDone();
  auto last = std::move(self_);  // may destroy *this when it goes: nothing may follow
}

class PortalSim::Impl::AuthService final : public vpn::v1::AuthService::CallbackService {
 public:
  explicit AuthService(Impl* sim) : sim_(sim) {}

  grpc::ServerUnaryReactor* CheckPolicy(grpc::CallbackServerContext*, const vpn::v1::CheckPolicyRequest* request,
                                        vpn::v1::CheckPolicyResponse* reply) override {
    auto call = SimCall::Create(sim_);
    const Plan plan = sim_->BeginCall("CheckPolicy");
    if (!plan.hang && plan.status.ok()) sim_->Decide(*request, reply);
    sim_->Dispatch(call, plan);
    return call.get();
  }

  grpc::ServerUnaryReactor* ValidateSession(grpc::CallbackServerContext*,
                                            const vpn::v1::ValidateSessionRequest* request,
                                            vpn::v1::ValidateSessionResponse* reply) override {
    auto call = SimCall::Create(sim_);
    const Plan plan = sim_->BeginCall("ValidateSession");
    if (!plan.hang && plan.status.ok()) {
      const SimRule& rule = sim_->policy()->Evaluate(request->username(), "", request->client_ip());
      reply->set_valid(rule.allow);
      if (!rule.allow) reply->set_invalid_reason(rule.reason);
      reply->set_force_disconnect(rule.should_disconnect);
    }
    sim_->Dispatch(call, plan);
    return call.get();
  }

 private:
  Impl* sim_;
};

class PortalSim::Impl::EventService final : public vpn::v1::EventService::CallbackService {
 public:
  explicit EventService(Impl* sim) : sim_(sim) {}

  grpc::ServerUnaryReactor* ReportConnect(grpc::CallbackServerContext*, const vpn::v1::ReportConnectRequest* request,
                                          vpn::v1::ReportConnectResponse* reply) override {
    return Ack("ReportConnect", reply, [&] { sim_->RecordConnect(*request); });
  }
  grpc::ServerUnaryReactor* ReportDisconnect(grpc::CallbackServerContext*,
                                             const vpn::v1::ReportDisconnectRequest* request,
                                             vpn::v1::ReportDisconnectResponse* reply) override {
    return Ack("ReportDisconnect", reply, [&] { sim_->RecordDisconnect(*request); });
  }
  grpc::ServerUnaryReactor* ReportSessionUpdate(grpc::CallbackServerContext*,
                                                const vpn::v1::ReportSessionUpdateRequest*,
                                                vpn::v1::ReportSessionUpdateResponse* reply) override {
    return Ack("ReportSessionUpdate", reply, [] {});
  }

 private:
  // An injected error refuses the report before the portal processes it (nothing is recorded); a report that is
  // recorded and then delayed can still be lost on the way back (the agent killed or timing out meanwhile): that
  // is the redelivery the event_id dedup is for.
  template <class Reply, class RecordFn>
  grpc::ServerUnaryReactor* Ack(const char* method, Reply* reply, RecordFn record) {
    auto call = SimCall::Create(sim_);
    const Plan plan = sim_->BeginCall(method);
    if (!plan.hang && plan.status.ok()) record();
    reply->set_success(true);
    sim_->Dispatch(call, plan);
    return call.get();
  }

  Impl* sim_;
};

class PortalSim::Impl::ControlService final : public ocserv_agent::v1::PortalSimControl::CallbackService {
 public:
  explicit ControlService(Impl* sim) : sim_(sim) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const ocserv_agent::v1::GetPortalSimStatsRequest*,
                                     ocserv_agent::v1::PortalSimStats* reply) override {
    ToProto(sim_->Stats(), reply);
    return Done(context);
  }
  grpc::ServerUnaryReactor* ResetStats(grpc::CallbackServerContext* context,
                                       const ocserv_agent::v1::ResetPortalSimStatsRequest*,
                                       ocserv_agent::v1::PortalSimStats* reply) override {
    ToProto(sim_->ResetStats(), reply);
    return Done(context);
  }
  grpc::ServerUnaryReactor* SetFaults(grpc::CallbackServerContext* context,
                                      const ocserv_agent::v1::PortalSimFaults* request,
                                      ocserv_agent::v1::PortalSimFaults* reply) override {
    const SimFaults old = sim_->faults();
    reply->set_latency_ms(old.latency_ms);
    reply->set_error_rate(old.error_rate);
    reply->set_error_code(old.error_code);
    reply->set_hang(old.hang);
    sim_->SetFaults(SimFaults{.latency_ms = request->latency_ms(),
                              .error_rate = request->error_rate(),
                              .error_code = request->error_code(),
                              .hang = request->hang()});
    return Done(context);
  }
  grpc::ServerUnaryReactor* ReloadPolicy(grpc::CallbackServerContext* context,
                                         const ocserv_agent::v1::ReloadPortalSimPolicyRequest*,
                                         ocserv_agent::v1::ReloadPortalSimPolicyResponse* reply) override {
    const absl::Status status = sim_->ReloadPolicy();
    reply->set_ok(status.ok());
    reply->set_error(std::string(status.message()));
    reply->set_policy_epoch(sim_->Stats().policy_epoch);
    return Done(context);
  }
  grpc::ServerUnaryReactor* PublishPolicyEvent(grpc::CallbackServerContext* context,
                                               const ocserv_agent::v1::PublishPolicyEventRequest* request,
                                               ocserv_agent::v1::PublishPolicyEventResponse* reply) override {
    if (request->set_mute()) {
      sim_->SetWatchMuted(request->mute_watch());
    } else {
      reply->set_version(sim_->PublishRaw(request->event()));
    }
    return Done(context);
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  static void ToProto(const PortalSimStats& s, ocserv_agent::v1::PortalSimStats* out) {
    out->mutable_calls_by_method()->insert(s.calls_by_method.begin(), s.calls_by_method.end());
    out->mutable_check_policy_by_user()->insert(s.check_policy_by_user.begin(), s.check_policy_by_user.end());
    out->set_allowed(s.allowed);
    out->set_denied(s.denied);
    out->set_injected_errors(s.injected_errors);
    out->set_hung(s.hung);
    out->set_policy_reloads(s.policy_reloads);
    out->set_policy_reload_failures(s.policy_reload_failures);
    out->set_policy_epoch(s.policy_epoch);
    out->set_in_flight(s.in_flight);
    out->set_reported_bytes_received(s.reported_bytes_received);
    out->set_reported_bytes_sent(s.reported_bytes_sent);
    out->set_reported_duration_seconds(s.reported_duration_seconds);
    out->mutable_reported_connects_by_user()->insert(s.reported_connects_by_user.begin(),
                                                     s.reported_connects_by_user.end());
    out->set_events_received(s.events_received);
    out->set_events_unique(s.events_unique);
    out->set_events_duplicate(s.events_duplicate);
    out->set_events_without_id(s.events_without_id);
    out->set_watch_streams_open(s.watch_streams_open);
    out->set_watch_events_published(s.watch_events_published);
    out->set_watch_last_version(s.watch_last_version);
    out->set_watch_resyncs_sent(s.watch_resyncs_sent);
    out->set_watch_last_after_version(s.watch_last_after_version);
  }

  Impl* sim_;
};

absl::Status PortalSim::Impl::Start() {
  auto policy = LoadPolicy();
  if (!policy.ok()) return policy.status();
  InstallLocked(*std::move(policy));
  if (auto s = SplitHostPort(options_.listen, &host_, &port_); !s.ok()) return s;

  if (options_.refuse_tls) {
    auto port = refusing_.Start(host_, port_);
    if (!port.ok()) return port.status();
    port_ = *port;
    return absl::OkStatus();
  }

  auto cert = ReadFile("--cert", options_.cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadFile("--key", options_.key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions tls(options_.client_ca_file.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!options_.client_ca_file.empty()) {
    auto ca = ReadFile("--client-ca", options_.client_ca_file);
    if (!ca.ok()) return ca.status();
    tls.pem_root_certs = *std::move(ca);
  }
  tls.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});

  auth_ = std::make_unique<AuthService>(this);
  events_ = std::make_unique<EventService>(this);
  control_ = std::make_unique<ControlService>(this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, grpc::SslServerCredentials(tls), &port_);
  builder.RegisterService(auth_.get());
  builder.RegisterService(events_.get());
  builder.RegisterService(control_.get());
  if (options_.policy_watch) {
    watch_ = std::make_unique<SimPolicyWatch>(SimWatchOptions{.heartbeat_interval = options_.watch_heartbeat_interval,
                                                              .max_log = options_.watch_log_size});
    builder.RegisterService(watch_.get());
  }
  // Agents keep their connection warm with keepalive pings even between calls: allow it.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  return absl::OkStatus();
}

void PortalSim::Impl::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    std::vector<std::shared_ptr<SimCall>> held;
    {
      std::lock_guard lock(mu_);
      shut_down_ = true;
      for (auto& weak : held_) {
        if (auto call = weak.lock()) held.push_back(std::move(call));
      }
      held_.clear();
    }
    for (auto& call : held) call->FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "portal sim shut down"));
    delays_.Stop();  // answers calls still waiting out their latency
    if (watch_) watch_->Stop();  // ends the Watch streams, which never end by themselves
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      server_->Wait();
    }
    refusing_.Stop();
    // Every SimCall calls back into this object from OnDone: wait for the last one before it can go away.
    for (int i = 0; i < 5000 && in_flight_.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
}

PortalSim::PortalSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PortalSim::~PortalSim() { Shutdown(); }

absl::StatusOr<std::unique_ptr<PortalSim>> PortalSim::Start(const PortalSimOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (auto s = impl->Start(); !s.ok()) {
    impl->Shutdown();
    return s;
  }
  return std::unique_ptr<PortalSim>(new PortalSim(std::move(impl)));
}

int PortalSim::port() const { return impl_->port(); }
std::string PortalSim::address() const { return impl_->address(); }
void PortalSim::SetFaults(const SimFaults& faults) { impl_->SetFaults(faults); }
SimFaults PortalSim::faults() const { return impl_->faults(); }
PortalSimStats PortalSim::Stats() const { return impl_->Stats(); }
PortalSimStats PortalSim::ResetStats() { return impl_->ResetStats(); }
absl::Status PortalSim::ReloadPolicy() { return impl_->ReloadPolicy(); }
std::uint64_t PortalSim::Publish(const SimEvent& event) { return impl_->Publish(event); }
void PortalSim::SetWatchMuted(bool muted) { impl_->SetWatchMuted(muted); }
void PortalSim::ForgetWatchLog() { impl_->ForgetWatchLog(); }
void PortalSim::Shutdown() { impl_->Shutdown(); }

}  // namespace oa::sim
