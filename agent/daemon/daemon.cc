#include "agent/daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "agent/config/config_loader.h"
#include "agent/config/config_store.h"
#include "agent/config/duration.h"
#include "agent/daemon/command_line.h"
#include "agent/daemon/lifecycle.h"
#include "agent/daemon/logging.h"
#include "agent/daemon/reload_plan.h"
#include "agent/daemon/services.h"
#include "agent/daemon/signals.h"
#include "agent/daemon/systemd_notify.h"
#include "agent/net/descriptor_limit.h"
#include "common/log_ring.h"
#include "common/log_ring_sink.h"

namespace oa {
namespace {

// Lines kept for the management API's StreamLogs (oldest dropped first).
constexpr std::size_t kLogRingLines = 4096;

// Counted so that STATUS= (and later the metrics) show how reloads went.
struct DaemonStats {
  std::atomic<std::uint64_t> reloads_applied{0};
  std::atomic<std::uint64_t> reloads_rejected{0};  // SIGHUP with an invalid file: the old config stays
  std::atomic<std::uint64_t> service_reload_errors{0};
};

// Descriptors the listeners may take at most, plus room for the rest (portal channels, log files, gRPC's own).
constexpr std::uint64_t kDescriptorHeadroom = 256;
constexpr std::uint64_t kMetricsMaxConnections = 16;  // MetricsHttpServerOptions::max_connections

// Raises the soft descriptor limit to the hard one and says whether every listener's cap fits in it, so that the
// IPC listener (VPN logins) can always accept (agent/net/descriptor_limit.h).
void RaiseAndCheckDescriptorLimit(const Config& config) {
  auto limit = RaiseDescriptorLimit();
  if (!limit.ok()) {
    spdlog::warn("{}", std::string(limit.status().message()));
    return;
  }
  const std::uint64_t needed = static_cast<std::uint64_t>(std::max(config.ipc.max_connections, 0)) +
                               (config.management.enabled ? config.management.max_connections : 0) +
                               kMetricsMaxConnections + kDescriptorHeadroom;
  if (limit->soft < needed) {
    spdlog::warn(
        "descriptor limit {} (hard {}) is below what ipc.max_connections ({}), the management connection limit "
        "({}) and the metrics endpoint need ({}): under a flood the IPC listener may fail to accept; raise "
        "LimitNOFILE or lower ipc.max_connections",
        limit->soft, limit->hard, config.ipc.max_connections, config.management.max_connections, needed);
  } else {
    spdlog::info("descriptor limit {}{} (listeners need at most {})", limit->soft,
                 limit->raised ? " (soft limit raised to the hard limit)" : "", needed);
  }
}

class Daemon {
 public:
  explicit Daemon(std::string path) : path_(std::move(path)) {}
  int Run();

 private:
  void Reload();
  std::string ReadyStatus() const;

  const std::string path_;
  SystemdNotifier notifier_;
  DaemonStats stats_;
  std::unique_ptr<ConfigStore> store_;
  std::shared_ptr<const Config> started_with_;  // what the services started with: a reload compares against it
};

std::string Daemon::ReadyStatus() const {
  auto config = store_->Current();
  return absl::StrCat("ready; agent id ", config->agent.id, "; config generation ", store_->generation(), " from ",
                      path_, "; reloads applied ", stats_.reloads_applied.load(), ", rejected ",
                      stats_.reloads_rejected.load());
}

int Daemon::Run() {
  InitBootstrapLogging();
  // Before any other thread exists (spdlog's sink list is not guarded): every line from now on also goes to the
  // ring that StreamLogs serves.
  auto log_ring = std::make_shared<LogRing>(kLogRingLines);
  spdlog::default_logger()->sinks().push_back(MakeLogRingSink(log_ring));
  // Before anything can start a thread: every thread must inherit the blocked signal mask.
  auto signals = SignalListener::Create();
  if (!signals.ok()) {
    spdlog::critical("{}", std::string(signals.status().message()));
    return 2;
  }

  ConfigLoadResult loaded = LoadConfigFile(path_);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) spdlog::error("{}: {}", path_, FormatConfigError(e));
    spdlog::critical("not starting: {} problem(s) in {} (ocserv-agent --check-config -c {} lists them)",
                     loaded.errors.size(), path_, path_);
    notifier_.Status(absl::StrCat("failed: invalid configuration ", path_));
    return 1;
  }
  ConfigureLogging(loaded.config->logging);
  store_ = std::make_unique<ConfigStore>(loaded.config);
  started_with_ = loaded.config;
  spdlog::info("{} starting: agent id {}, config {}", VersionText(), loaded.config->agent.id, path_);
  RaiseAndCheckDescriptorLimit(*loaded.config);

  Lifecycle lifecycle(SystemClock::instance());
  for (auto& service : BuildServices(*store_, log_ring)) lifecycle.Add(std::move(service));
  if (absl::Status st = lifecycle.StartAll(*store_->Current()); !st.ok()) {
    spdlog::critical("not starting: {}", std::string(st.message()));
    notifier_.Status(absl::StrCat("failed: ", std::string(st.message())));
    return 1;
  }
  notifier_.Ready(ReadyStatus());
  spdlog::info("ready ({} service(s) running)", lifecycle.running());

  for (;;) {
    SignalEvent event = (*signals)->Wait(std::chrono::milliseconds(-1));
    if (event == SignalEvent::kTerminate) break;
    if (event == SignalEvent::kReload) {
      Reload();
      for (const auto& st : lifecycle.ReloadAll(*store_->Current())) {
        stats_.service_reload_errors.fetch_add(1);
        spdlog::warn("reload: {}", std::string(st.message()));
      }
      notifier_.Ready(ReadyStatus());
    }
  }

  const auto grace = store_->Current()->agent.shutdown_grace;
  notifier_.Stopping();
  spdlog::info("stopping (grace {})", FormatDuration(grace));
  lifecycle.StopAll(grace);
  spdlog::info("stopped");
  return 0;
}

// Swaps in the new config only when the whole file is valid; otherwise every problem is logged and nothing changes.
void Daemon::Reload() {
  notifier_.Reloading();
  spdlog::info("SIGHUP: reloading {}", path_);
  ConfigLoadResult loaded = LoadConfigFile(path_);
  if (!loaded.ok()) {
    stats_.reloads_rejected.fetch_add(1);
    store_->RecordRejectedReload();
    for (const auto& e : loaded.errors) spdlog::error("reload rejected: {}: {}", path_, FormatConfigError(e));
    spdlog::warn("reload rejected: {} problem(s) in {}; still running config generation {}", loaded.errors.size(),
                 path_, store_->generation());
    return;
  }
  ConfigureLogging(loaded.config->logging);
  std::uint64_t generation = store_->Replace(loaded.config);
  stats_.reloads_applied.fetch_add(1);
  spdlog::info("reloaded {}: config generation {}, agent id {}", path_, generation, loaded.config->agent.id);
  for (std::string_view what : ChangesNeedingRestart(*started_with_, *loaded.config)) {
    spdlog::warn("config reload: {} changed; it takes effect after a restart", what);
  }
}

}  // namespace

int RunDaemon(const std::string& config_path) { return Daemon(config_path).Run(); }

}  // namespace oa
