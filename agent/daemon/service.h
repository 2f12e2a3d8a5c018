// A long-running part of the daemon as the Lifecycle (lifecycle.h) drives it: started in dependency order, stopped
// in reverse, told about reloads. Today there are three (services.cc): the decision path (IPC server, authorizer,
// breaker, cache, portal client as one unit, decision_path.h), the management API and the metrics endpoint.
// Thread-safety: the Lifecycle calls these from the main thread only, never two at once.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "agent/config/config.h"
#include "resilience/clock.h"

namespace oa {

class Service {
 public:
  virtual ~Service() = default;

  // Short name for logs and errors: "ipc-server", "management".
  virtual std::string_view name() const = 0;

  // Brings the service up. On error it must have released whatever it acquired: Stop() is not called for it, but
  // the services started before it are stopped in reverse.
  virtual absl::Status Start(const Config& config) = 0;

  // Drains and stops, returning by `deadline` (it may drop what is still in flight then). Called once, only after
  // a successful Start().
  virtual void Stop(Clock::MonoTime deadline) = 0;

  // A validated new config is now current (the ConfigStore already holds it). Apply what can change at run time;
  // what cannot is named once for the whole daemon (reload_plan.h), not here. An error is logged and counted; it
  // does not undo the reload for the other services.
  virtual absl::Status Reload(const Config& config) {
    (void)config;
    return absl::OkStatus();
  }
};

}  // namespace oa
