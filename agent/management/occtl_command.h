// The occtl commands the management API may run, and the validation of their arguments. Pure: builds an argv (never
// a shell line) or refuses; agent/management/process_runner runs it.
//
// A request names the command either the way existing portals do (command_type "occtl", args ["show", "user",
// "alice"]) or with the words in command_type (command_type "show user", args ["alice"]). Every token must pass a
// generic check (<= 256 bytes, no control characters, no shell metacharacters, no leading '-', no "..") and the
// command's parameters a strict per-kind pattern (username, numeric id, session id, IP address, fixed keyword).
//
// Thread-safety: stateless functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/config/management_options.h"

namespace oa {

inline constexpr std::size_t kMaxOcctlArgBytes = 256;

struct OcctlCommand {
  std::vector<std::string> words;   // the command itself, e.g. {"show", "user"}
  std::vector<std::string> params;  // its validated parameters, e.g. {"alice"}
  bool json = false;                // ask occtl for JSON (-j): the show commands

  std::string Name() const;         // "show user"
};

// Parses and validates a request. InvalidArgument (naming the problem, never echoing a 10 KB argument) if the command
// is not on the allow-list or any token is unsafe.
absl::StatusOr<OcctlCommand> ParseOcctlCommand(std::string_view command_type, const std::vector<std::string>& args);

// The argv to exec: {occtl_path, "-s", occtl_socket, ["-j"], words..., params...}.
std::vector<std::string> OcctlArgv(const OcservOptions& options, const OcctlCommand& command);

// The per-kind validators, exposed for tests and for other callers (DisconnectSession).
absl::Status ValidateOcctlUsername(std::string_view s);
absl::Status ValidateOcctlId(std::string_view s);
absl::Status ValidateOcctlSessionId(std::string_view s);
absl::Status ValidateOcctlIp(std::string_view s);

}  // namespace oa
