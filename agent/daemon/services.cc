#include "agent/daemon/services.h"

namespace oa {

std::vector<std::unique_ptr<Service>> BuildServices(ConfigStore& store) {
  (void)store;
  std::vector<std::unique_ptr<Service>> services;
  // Start order = dependency order; the Lifecycle stops them in reverse. For example:
  //   services.push_back(MakePortalClientService(store));   // what the authorizer calls
  //   services.push_back(MakeAuthorizerService(store));     // what the IPC server calls
  //   services.push_back(MakeIpcServerService(store));      // accepts helper connections: last, once all is ready
  return services;
}

}  // namespace oa
