// The checks behind agent.v1.AgentService/HealthCheck, by tier:
//   1  alive
//   2  + IPC socket listening, portal breaker state (open = unhealthy), ocserv's occtl socket accepts a connection
//   3  + `occtl show status` exits 0, config-per-user and config-per-group directories are writable (a file is
//      really created and removed there)
// Each check appears in `checks` by name with "ok" or what failed.
//
// Thread-safety: immutable after construction; Run may be called concurrently.
#pragma once

#include <map>
#include <string>

#include "agent/config/management_options.h"
#include "agent/management/control_plane.h"
#include "resilience/clock.h"

namespace oa {

struct HealthReport {
  bool healthy = true;
  std::string message;
  std::map<std::string, std::string> checks;
};

class HealthChecker {
 public:
  HealthChecker(ControlPlane& control, OcservOptions ocserv, const Clock& clock);

  // tier < 1 is treated as 1, > 3 as 3.
  HealthReport Run(int tier) const;

 private:
  ControlPlane& control_;
  const OcservOptions ocserv_;
  const Clock& clock_;
};

}  // namespace oa
