// The agent's whole configuration: one immutable object built from the YAML file (config_loader.h) and shared as a
// std::shared_ptr<const Config> (config_store.h). Plain data with the defaults config.yaml.example documents; every
// section reuses the option struct of the component that reads it. Certificate paths are absolute once loaded
// (relative ones are resolved against the config file's directory).
//
// Thread-safety: immutable after loading, so any number of threads may read one Config at once.
#pragma once

#include <chrono>
#include <string>

#include "agent/config/management_options.h"
#include "agent/config/portal_options.h"
#include "events/outbox_options.h"
#include "ipc/server_options.h"
#include "resilience/options.h"

namespace oa {

struct AgentOptions {
  std::string id;  // "" in the file = the host name; the loader fills it in, so a loaded Config never has ""
  std::chrono::milliseconds shutdown_grace{10'000};  // SIGTERM: how long stopping services may take in total

  bool operator==(const AgentOptions&) const = default;
};

struct ResilienceOptions {
  FailModeOptions fail;  // `fail_mode` and `stale_fallback` sit directly under `resilience:` in the file
  CircuitBreakerOptions circuit_breaker;
  DecisionCacheOptions cache;

  bool operator==(const ResilienceOptions&) const = default;
};

// `events:` — the session-event outbox (events/outbox.h) and its delivery.
struct EventsOptions {
  OutboxOptions outbox;  // outbox_path, durability, max_outbox_events
  // ReportSessionUpdate for live sessions every interval (0 = off), with occtl's byte counts, through the outbox;
  // a should_disconnect answer ends the session (SessionEnforcer::DisconnectRequested).
  std::chrono::milliseconds session_update_interval{0};
  // While connects keep coming, how long a new event may be held back so that its delivery does not take CPU from
  // the next decision (events/event_sender.h "Decisions first"); 0 = send at once.
  std::chrono::milliseconds max_delivery_delay{1000};

  bool operator==(const EventsOptions&) const = default;
};

struct MetricsOptions {
  bool enabled = true;
  std::string listen = "127.0.0.1:9102";

  bool operator==(const MetricsOptions&) const = default;
};

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };
enum class LogFormat { kText, kJson };

struct LoggingOptions {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;

  bool operator==(const LoggingOptions&) const = default;
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
  EventsOptions events;
  MetricsOptions metrics;
  LoggingOptions logging;

  bool operator==(const Config&) const = default;
};

}  // namespace oa
