// Creating the agent's listening Unix socket safely: parent directory (0755) if missing, refusal when a live agent
// already answers on the path, replacement of a stale socket file, mode set before listen() so that no peer can
// connect while the file still has umask permissions. Not thread-safe (called once, at start).
#pragma once

#include <string>

#include <sys/types.h>

#include "absl/status/statusor.h"

namespace oa {

struct UnixListener {
  int fd = -1;       // non-blocking, close-on-exec, listening
  dev_t dev = 0;     // identity of the socket file we bound, so that we only ever unlink our own
  ino_t ino = 0;
  bool replaced_stale = false;
};

absl::StatusOr<UnixListener> OpenUnixListener(const std::string& path, unsigned mode, int backlog);

// Unlinks `path` if it is still the socket file `l` bound (a newer agent may have replaced it).
void RemoveUnixListenerFile(const std::string& path, const UnixListener& l);

}  // namespace oa
