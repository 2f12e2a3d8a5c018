// Parses `occtl -j show users` output into AgentControl Session messages. Internal (protobuf types).
//
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "ocserv_agent/v1/control.pb.h"

namespace oa {

absl::Status ParseOcctlUsersJson(std::string_view json, ocserv_agent::v1::ListSessionsResponse* out);

}  // namespace oa
