#include "ipc_test_client.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/wire_codec.h"
#include "ipc/wire_frame.h"

namespace oa::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/oa-ipc-XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  path_ = p != nullptr ? p : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

int ConnectUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

namespace {
bool ReadExact(int fd, char* buf, std::size_t len, std::chrono::steady_clock::time_point deadline) {
  std::size_t off = 0;
  while (off < len) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    const ssize_t n = ::recv(fd, buf + off, len - off, 0);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}
}  // namespace

std::optional<IpcResponse> ReadResponse(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char header[kFrameHeaderBytes];
  if (!ReadExact(fd, header, sizeof(header), deadline)) return std::nullopt;
  const std::uint32_t len = ReadBigEndian32(header);
  if (len == 0 || len > (1u << 24)) return std::nullopt;
  std::string body(len, '\0');
  if (!ReadExact(fd, body.data(), len, deadline)) return std::nullopt;
  IpcResponse r;
  if (DecodeResponse(body, &r) != WireError::kOk) return std::nullopt;
  return r;
}

std::optional<IpcResponse> RoundTrip(const std::string& path, const IpcRequest& req) {
  const int fd = ConnectUnix(path);
  if (fd < 0) return std::nullopt;
  std::string frame;
  EncodeRequestFrame(req, &frame);
  std::optional<IpcResponse> r;
  if (SendAll(fd, frame)) r = ReadResponse(fd);
  ::close(fd);
  return r;
}

bool WaitForEof(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return true;  // EOF or reset
  }
}

IpcRequest ConnectRequest(const std::string& user) {
  IpcRequest q;
  q.request_id = "test-" + user;
  q.reason = IpcReason::kConnect;
  q.deadline_ms = 5000;
  q.id = "1234";
  q.username = user;
  q.groupname = "staff";
  q.ip_real = "192.0.2.1";
  q.routes = {"10.0.0.0/255.0.0.0"};
  return q;
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace oa::testing
