// ListenTcp: "host:port" or "[v6]:port" (port 0 = any free port) -> a bound, listening, non-blocking, close-on-exec
// TCP socket. Errors name `key` (the config key the address came from).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace oa {

absl::StatusOr<int> ListenTcp(const std::string& listen, const std::string& key, int backlog = 64);

// The port a bound socket listens on; 0 if unknown.
int BoundPort(int fd);

}  // namespace oa
