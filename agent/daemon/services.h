// The daemon's services, in start order. This is the one place where components are wired into the daemon: each
// later component (IPC server, authorizer, portal client, management server, metrics) adds its Service here, after
// the ones it depends on.
#pragma once

#include <memory>
#include <vector>

#include "agent/config/config_store.h"
#include "agent/daemon/service.h"

namespace oa {

class DecisionPath;

// Filled when the decision-path service starts; the services started after it (management, metrics) read it.
struct DecisionPathHandle {
  std::unique_ptr<DecisionPath> path;
  ~DecisionPathHandle();
};

std::vector<std::unique_ptr<Service>> BuildServices(ConfigStore& store);

}  // namespace oa
