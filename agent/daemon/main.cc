// ocserv-agent: see daemon.h for what the process does and command_line.h for its options.
#include <cstdio>


#include "agent/daemon/check_config.h"
#include "agent/daemon/command_line.h"
#include "agent/daemon/daemon.h"
#include "agent/portal/grpc_process_setup.h"

int main(int argc, char** argv) {
  auto cl = oa::ParseCommandLine(argc, argv);
  if (!cl.ok()) {
    std::fprintf(stderr, "ocserv-agent: %s\nTry 'ocserv-agent --help'.\n", std::string(cl.status().message()).c_str());
    return 2;
  }
  switch (cl->action) {
    case oa::CommandLine::Action::kHelp:
      std::fputs(oa::UsageText().c_str(), stdout);
      return 0;
    case oa::CommandLine::Action::kVersion:
      std::puts(oa::VersionText().c_str());
      return 0;
    case oa::CommandLine::Action::kCheckConfig:
      return oa::CheckConfigCommand(cl->config_path, stdout, stderr);
    case oa::CommandLine::Action::kRun:
      break;
  }
  oa::SetUpGrpcProcess();
  return oa::RunDaemon(cl->config_path);
}
