// The agent's whole configuration: one immutable object built from the YAML file (config_loader.h) and shared as a
// std::shared_ptr<const Config> (config_store.h). Plain data with the documented defaults (shared/DESIGN.md "Key
// names"); every section reuses the option struct of the component that reads it. Certificate paths are absolute
// once loaded (relative ones are resolved against the config file's directory).
//
// Thread-safety: immutable after loading, so any number of threads may read one Config at once.
#pragma once

#include <chrono>
#include <string>

#include "agent/config/management_options.h"
#include "agent/config/portal_options.h"
#include "ipc/server_options.h"
#include "resilience/options.h"

namespace oa {

struct AgentOptions {
  std::string id;  // "" in the file = the host name; the loader fills it in, so a loaded Config never has ""
  std::chrono::milliseconds shutdown_grace{10'000};  // SIGTERM: how long stopping services may take in total
};

struct ResilienceOptions {
  FailModeOptions fail;  // `fail_mode` and `stale_fallback` sit directly under `resilience:` in the file
  CircuitBreakerOptions circuit_breaker;
  DecisionCacheOptions cache;
};

struct MetricsOptions {
  bool enabled = true;
  std::string listen = "127.0.0.1:9102";
};

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };
enum class LogFormat { kText, kJson };

struct LoggingOptions {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
};

struct Config {
  std::string source_path;  // the file it was loaded from ("" when loaded from a string)
  AgentOptions agent;
  IpcServerOptions ipc;
  PortalOptions portal;
  ResilienceOptions resilience;
  ManagementOptions management;
  OcservOptions ocserv;
  EnforcementOptions enforcement;
  MetricsOptions metrics;
  LoggingOptions logging;
};

}  // namespace oa
