// Test helpers for the IPC tests: a temp directory, a raw Unix-socket client, and waiting for an asynchronous
// condition (a counter the loop thread bumps) with a real-time bound — never a fixed sleep.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "ipc/ipc_types.h"

namespace oa::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Blocking connect; -1 on failure.
int ConnectUnix(const std::string& path);
bool SendAll(int fd, const std::string& data);
// Reads one response frame within `timeout`; nullopt on EOF, timeout or a bad frame.
std::optional<IpcResponse> ReadResponse(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// connect + request + response + close.
std::optional<IpcResponse> RoundTrip(const std::string& path, const IpcRequest& req);
// True if the peer closed the connection (EOF or reset) within `timeout`.
bool WaitForEof(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5));

IpcRequest ConnectRequest(const std::string& user = "alice");

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace oa::testing
