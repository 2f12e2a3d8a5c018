#include "agent/daemon/services.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <string>

#include "agent/daemon/decision_control_plane.h"
#include "agent/daemon/decision_path.h"
#include "agent/management/management_server.h"
#include "agent/metrics/certificate_expiry.h"
#include "agent/metrics/metrics_http_server.h"
#include "agent/metrics/process_metrics.h"
#include "agent/metrics/prometheus_format.h"

namespace oa {
namespace {

DecisionControlPlane::Parts PartsOf(DecisionPath& p) {
  return {p.authorizer(),
          p.cache(),
          p.breaker(),
          p.counters(),
          &p.sessions(),
          &p.portal(),
          &p.ipc(),
          [&p] { return p.ipc_listening(); },
          p.outbox(),
          p.event_sender(),
          &p.revocations(),
          &p.policy_enforcer(),
          &p.session_enforcer(),
          [&p]() -> std::optional<WatchStatus> {
            if (p.watch() == nullptr) return std::nullopt;
            return p.watch()->status();
          }};
}

// The connect path: portal client, breaker, cache, authorizer and the IPC server, as one unit (decision_path.h),
// and the control plane the management API and the metrics endpoint read it through.
class DecisionPathService final : public Service {
 public:
  explicit DecisionPathService(std::shared_ptr<DecisionPathHandle> handle) : handle_(std::move(handle)) {}

  std::string_view name() const override { return "decision-path"; }

  absl::Status Start(const Config& config) override {
    auto path = DecisionPath::Create(config, SystemClock::instance());
    if (!path.ok()) return path.status();
    if (absl::Status s = (*path)->Start(); !s.ok()) return s;
    handle_->path = std::move(*path);
    handle_->control =
        std::make_unique<DecisionControlPlane>(PartsOf(*handle_->path), OA_VERSION, SystemClock::instance());
    return absl::OkStatus();
  }

  void Stop(Clock::MonoTime deadline) override { handle_->path->Stop(deadline); }

  absl::Status Reload(const Config& config) override {
    handle_->path->Reload(config);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<DecisionPathHandle> handle_;
};

// The management gRPC API (agent/management) over the decision path's control plane.
class ManagementService final : public Service {
 public:
  ManagementService(std::shared_ptr<DecisionPathHandle> handle, std::shared_ptr<LogRing> logs)
      : handle_(std::move(handle)), logs_(std::move(logs)) {}

  std::string_view name() const override { return "management"; }

  absl::Status Start(const Config& config) override {
    server_ = std::make_unique<ManagementServer>(config.management, config.ocserv, *handle_->control,
                                                 SystemClock::instance(), logs_);
    if (absl::Status s = server_->Start(); !s.ok()) {
      server_.reset();
      return s;
    }
    handle_->management = server_.get();
    return absl::OkStatus();
  }

  void Stop(Clock::MonoTime deadline) override {
    handle_->management = nullptr;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SystemClock::instance().now());
    server_->Stop(std::max(left, std::chrono::milliseconds(0)));
    server_.reset();
  }

  // The server keeps its options from start; reload_plan.cc names the management and ocserv keys as needing a
  // restart.

 private:
  std::shared_ptr<DecisionPathHandle> handle_;
  std::shared_ptr<LogRing> logs_;
  std::unique_ptr<ManagementServer> server_;
};

// GET /metrics on metrics.listen (agent/metrics).
class MetricsService final : public Service {
 public:
  MetricsService(std::shared_ptr<DecisionPathHandle> handle, const ConfigStore& store)
      : handle_(std::move(handle)), store_(store) {}

  std::string_view name() const override { return "metrics"; }

  absl::Status Start(const Config& config) override {
    ReadCertificates(config);
    MetricsHttpServerOptions options;
    options.listen = config.metrics.listen;
    // Runs on the server's thread. `handle_->management` is only changed while this service is stopped (the
    // management service starts before it and stops after it), so reading it here needs no lock.
    server_ = std::make_unique<MetricsHttpServer>(
        options,
        [this] {
          AgentSnapshot s = handle_->control->Collect();
          if (handle_->management != nullptr) s.management = handle_->management->counters();
          s.metrics_http = server_->counters();
          s.process = ReadProcessSnapshot();
          const ConfigLoadRecord load = store_.load_record();
          s.config = ConfigReloadSnapshot{
              load.last_successful,
              std::chrono::duration_cast<std::chrono::seconds>(load.last_success.time_since_epoch()).count(),
              load.applied, load.rejected};
          {
            const std::lock_guard lock(certificates_mu_);
            s.certificates = certificates_;
          }
          return FormatPrometheus(s);
        },
        SystemClock::instance());
    if (absl::Status s = server_->Start(); !s.ok()) {
      server_.reset();
      return s;
    }
    spdlog::info("metrics: listening on {} (port {}), GET /metrics", config.metrics.listen, server_->port());
    return absl::OkStatus();
  }

  void Stop(Clock::MonoTime) override {
    server_->Stop();
    server_.reset();
  }

  // metrics.* is fixed at start (reload_plan.cc); the certificates are read again (they may have been renewed).
  absl::Status Reload(const Config& config) override {
    ReadCertificates(config);
    return absl::OkStatus();
  }

 private:
  // The not-after times of the certificates the agent presents, for certificate_expiry_timestamp_seconds. One that
  // cannot be read is left out of the metrics and logged (the TLS setup reports the real error where it matters).
  void ReadCertificates(const Config& config) {
    std::vector<CertificateExpirySnapshot> read;
    auto add = [&read](std::string_view which, const std::string& path) {
      if (path.empty()) return;
      auto not_after = CertificateNotAfter(path);
      if (!not_after.ok()) {
        spdlog::warn("metrics: {} certificate expiry not exported: {}", which,
                     std::string(not_after.status().message()));
        return;
      }
      read.push_back({std::string(which), *not_after});
    };
    add("portal_client", config.portal.cert_file);
    if (config.management.enabled) add("management", config.management.cert_file);
    const std::lock_guard lock(certificates_mu_);
    certificates_ = std::move(read);
  }

  std::shared_ptr<DecisionPathHandle> handle_;
  const ConfigStore& store_;
  std::unique_ptr<MetricsHttpServer> server_;
  std::mutex certificates_mu_;
  std::vector<CertificateExpirySnapshot> certificates_;
};

}  // namespace

DecisionPathHandle::~DecisionPathHandle() = default;

std::vector<std::unique_ptr<Service>> BuildServices(ConfigStore& store, std::shared_ptr<LogRing> logs) {
  const auto config = store.Current();
  auto decision_path = std::make_shared<DecisionPathHandle>();
  std::vector<std::unique_ptr<Service>> services;
  // Start order = dependency order; the Lifecycle stops them in reverse. Enabling or disabling management or
  // metrics needs a restart (reload_plan.cc says so).
  services.push_back(std::make_unique<DecisionPathService>(decision_path));
  if (config->management.enabled) {
    services.push_back(std::make_unique<ManagementService>(decision_path, std::move(logs)));
  } else {
    spdlog::info("management API disabled (management.enabled: false)");
  }
  if (config->metrics.enabled) {
    services.push_back(std::make_unique<MetricsService>(decision_path, store));
  } else {
    spdlog::info("metrics endpoint disabled (metrics.enabled: false)");
  }
  return services;
}

}  // namespace oa
