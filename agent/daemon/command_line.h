// The daemon's command line: -c/--config FILE, --check-config, --version, --help.
// Thread-safety: pure function.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace oa {

inline constexpr const char* kDefaultConfigPath = "/etc/ocserv-agent/config.yaml";

struct CommandLine {
  enum class Action { kRun, kCheckConfig, kVersion, kHelp };
  Action action = Action::kRun;
  std::string config_path = kDefaultConfigPath;
};

// InvalidArgument with a one-line message for unknown options, missing values and stray arguments.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv);

std::string UsageText();
std::string VersionText();  // "ocserv-agent 0.1.0"

}  // namespace oa
