#include "agent/daemon/command_line.h"

#include <string_view>

namespace oa {

absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv) {
  // Hand-rolled rather than getopt_long: no global state, so it is trivially testable and re-entrant.
  CommandLine cl;
  bool version = false, help = false, check = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-c" || arg == "--config") {
      if (i + 1 >= argc) return absl::InvalidArgumentError(std::string(arg) + " needs a FILE");
      cl.config_path = argv[++i];
    } else if (arg.substr(0, 9) == "--config=") {
      cl.config_path = std::string(arg.substr(9));
    } else if (arg == "--check-config" || arg == "-t") {
      check = true;
    } else if (arg == "--version" || arg == "-V") {
      version = true;
    } else if (arg == "--help" || arg == "-h") {
      help = true;
    } else {
      return absl::InvalidArgumentError("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (cl.config_path.empty()) return absl::InvalidArgumentError("the config file name is empty");
  if (help) cl.action = CommandLine::Action::kHelp;
  else if (version) cl.action = CommandLine::Action::kVersion;
  else if (check) cl.action = CommandLine::Action::kCheckConfig;
  return cl;
}

std::string UsageText() {
  return std::string("Usage: ocserv-agent [-c FILE] [--check-config]\n"
                     "Decides, for every connection to ocserv, whether it may proceed (asking the portal).\n"
                     "\n"
                     "  -c, --config FILE    configuration file (default ") +
         kDefaultConfigPath +
         ")\n"
         "  -t, --check-config   validate the configuration, print every problem, exit 0 (valid) or 1\n"
         "  -V, --version        print the version and exit\n"
         "  -h, --help           print this help and exit\n"
         "\n"
         "Signals: SIGHUP reloads the configuration (an invalid file is refused and the running one kept);\n"
         "SIGTERM or SIGINT stop gracefully. Under systemd (Type=notify) it reports READY/RELOADING/STOPPING.\n"
         "Exit status 2: the command line itself was wrong (unknown option, missing FILE).\n";
}

std::string VersionText() { return std::string("ocserv-agent ") + OA_VERSION; }

}  // namespace oa
