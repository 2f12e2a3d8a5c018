// The ocserv-agent process: loads the config, sets up logging, starts the services (services.cc) and then waits in
// its main loop for signals: SIGHUP reloads (a file with problems is refused as a whole and the running config kept),
// SIGTERM/SIGINT stop the services in reverse within agent.shutdown_grace. Reports each step to systemd.
// Thread-safety: Run() on the main thread, once.
#pragma once

#include <string>

namespace oa {

// Returns the process exit code: 0 after a graceful stop, 1 when the config is invalid or a service failed to
// start, 2 on an internal setup failure.
int RunDaemon(const std::string& config_path);

}  // namespace oa
