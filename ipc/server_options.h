// Options of the IPC server, as the config file's `ipc:` section gives them (config.yaml.example).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

namespace oa {

struct IpcServerOptions {
  std::string socket_path = "/run/ocserv-agent/auth.sock";
  unsigned socket_mode = 0660;
  std::vector<uid_t> allowed_uids{0};
  std::chrono::milliseconds decision_timeout{3000};
  std::chrono::milliseconds read_timeout{1000};
  int max_connections = 4096;
  std::uint32_t max_frame_bytes = 65536;

  bool operator==(const IpcServerOptions&) const = default;
};

}  // namespace oa
