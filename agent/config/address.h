// Syntax checks for the network addresses the config file names: "host:port", "[v6-address]:port". Only syntax:
// nothing is resolved at load time (a name that does not resolve yet must not stop the agent from starting).
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace oa {

// A listen address: host or IP literal, port 0..65535 (0 = any free port, for tests).
absl::Status CheckListenAddress(std::string_view address);

// A gRPC target the agent dials: "host:port" or "dns:///host:port", port 1..65535.
absl::Status CheckDialAddress(std::string_view address);

}  // namespace oa
