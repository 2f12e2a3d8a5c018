// The ocserv-agent process: loads the config, sets up logging, starts the services (services.cc) and then waits in
// its main loop for signals: SIGHUP reloads (a file with problems is refused as a whole and the running config kept),
// SIGTERM/SIGINT stop the services in reverse within agent.shutdown_grace. Reports each step to systemd.
// Thread-safety: Run() on the main thread, once.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace oa {

struct DaemonStats {
  std::atomic<std::uint64_t> reloads_applied{0};
  std::atomic<std::uint64_t> reloads_rejected{0};  // SIGHUP with an invalid file: the old config stays
  std::atomic<std::uint64_t> service_reload_errors{0};
};

// Returns the process exit code: 0 after a graceful stop, 1 when the config is invalid or a service failed to
// start, 2 on an internal setup failure.
int RunDaemon(const std::string& config_path);

}  // namespace oa
