// Test access to IpcServer's private test hook, kept out of the production API.
#pragma once

#include "ipc/ipc_server.h"

namespace oa::testing {

class IpcServerPeer {
 public:
  // Makes the server's loop re-check its deadlines now, after the test moved its FakeClock.
  static void WakeLoop(IpcServer& server) { server.WakeLoop(); }
};

}  // namespace oa::testing
