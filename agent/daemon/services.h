// The daemon's services, in start order: the decision path, then the management API and the metrics endpoint that
// read it. The one place where services are wired into the daemon; a new one goes here, after those it reads.
#pragma once

#include <memory>
#include <vector>

#include "agent/config/config_store.h"
#include "agent/daemon/service.h"
#include "common/log_ring.h"

namespace oa {

class DecisionPath;
class DecisionControlPlane;
class ManagementServer;

// Filled as services start; the services started later (management, metrics) read what the earlier ones put here.
// Written and read on the daemon's main thread (Start/Stop); the objects themselves are thread-safe.
struct DecisionPathHandle {
  std::unique_ptr<DecisionPath> path;             // by the decision-path service
  std::unique_ptr<DecisionControlPlane> control;  // by the decision-path service, over `path`
  ManagementServer* management = nullptr;         // by the management service while it runs (for its counters)
  ~DecisionPathHandle();
};

// `logs` is the ring the default logger copies its lines into (StreamLogs serves it); may be null.
std::vector<std::unique_ptr<Service>> BuildServices(ConfigStore& store, std::shared_ptr<LogRing> logs);

}  // namespace oa
