// ocserv-agent-auth: ocserv's connect/host-update/disconnect script. Reads ocserv's environment, makes one framed
// exchange with the agent over its Unix socket, and exits 0 to admit or 1 to reject (docs/ocserv.md#exit-codes).
//
// Why it looks like C: it is statically linked and its whole run is on the path of every VPN connection, so it
// avoids iostream, libprotobuf and anything with static initialisers. It never forks, has one hard deadline (poll
// with timeouts from CLOCK_MONOTONIC), and dies at once on SIGTERM, because ocserv blocks every user while it waits
// for a script the worker gave up on.
#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/helper/helper_config.h"
#include "ipc/wire_codec.h"
#include "ipc/wire_frame.h"

namespace {

using oa::helper::HelperConfig;
using oa::helper::OnAgentFailure;

constexpr int kExitAdmit = 0;
constexpr int kExitReject = 1;
constexpr int kExitSignal = 128 + SIGTERM;
constexpr int kConnectRetryMs = 2;  // backlog full (EAGAIN): retry this often until the deadline

// One line on stderr (ocserv copies it into its log). write(2) only: no stdio buffers, usable anywhere.
void Line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Line(const char* fmt, ...) {
  char buf[1024];
  int n = std::snprintf(buf, sizeof(buf), "ocserv-agent-auth[%d]: ", static_cast<int>(::getpid()));
  va_list ap;
  va_start(ap, fmt);
  const int m = std::vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
  va_end(ap);
  n += m < 0 ? 0 : (m >= static_cast<int>(sizeof(buf)) - n - 1 ? static_cast<int>(sizeof(buf)) - n - 2 : m);
  // One line in ocserv's log, whatever a deny reason or a user name contains: no control characters get through.
  for (int i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(buf[i]);
    if (c < 0x20 || c == 0x7f) buf[i] = '?';
  }
  buf[n++] = '\n';
  [[maybe_unused]] auto w = ::write(STDERR_FILENO, buf, n);
}

void OnSignal(int) {
  static const char msg[] = "ocserv-agent-auth: terminated by signal while waiting for the agent; rejecting\n";
  [[maybe_unused]] auto w = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  ::_exit(kExitSignal);
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
  // A blocked signal mask survives execve: if ocserv (or whatever ran us) had SIGTERM blocked, the handler above
  // would never run and the helper could not be stopped. Unblock the signals we must die on.
  sigset_t dying;
  sigemptyset(&dying);
  sigaddset(&dying, SIGTERM);
  sigaddset(&dying, SIGINT);
  sigaddset(&dying, SIGHUP);
  ::sigprocmask(SIG_UNBLOCK, &dying, nullptr);
}

std::int64_t NowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// kRefused: the agent answered with an error instead of a verdict (it refused us: ipc.max_connections, a uid not in
// ipc.allowed_uids, a frame or version it does not accept). Like kMalformed, never an outage.
enum class Failure { kNone, kUnreachable, kTimeout, kClosed, kIo, kMalformed, kRefused };

struct Exchange {
  explicit Exchange(std::int64_t deadline) : deadline_ms(deadline) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  std::int64_t deadline_ms;
  int fd = -1;
  Failure failure = Failure::kNone;
  std::string detail;

  ~Exchange() {
    if (fd >= 0) ::close(fd);
  }
  int Left() const { return static_cast<int>(std::max<std::int64_t>(deadline_ms - NowMs(), 0)); }

  bool Fail(Failure f, std::string d) {
    failure = f;
    detail = std::move(d);
    return false;
  }

  bool Wait(short events) {
    for (;;) {
      const int left = Left();
      if (left <= 0) return Fail(Failure::kTimeout, "no answer from the agent in time");
      pollfd p{fd, events, 0};
      const int rc = ::poll(&p, 1, left);
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) return Fail(Failure::kIo, std::string("poll: ") + std::strerror(errno));
    }
  }

  bool Connect(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) return Fail(Failure::kUnreachable, "bad socket path");
    std::memcpy(addr.sun_path, path.data(), path.size());
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Fail(Failure::kIo, std::string("socket: ") + std::strerror(errno));
    for (;;) {
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) return true;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        return Fail(Failure::kUnreachable, "cannot connect to " + path + ": " + std::strerror(errno));
      }
      // The agent's backlog is full: it lives but is swamped. Retry until our deadline.
      if (Left() <= 0) return Fail(Failure::kTimeout, "agent backlog full until the deadline");
      ::poll(nullptr, 0, std::min(kConnectRetryMs, Left()));
    }
  }

  bool SendAll(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!Wait(POLLOUT)) return false;
      } else if (n < 0 && errno != EINTR) {
        return Fail(Failure::kIo, std::string("send: ") + std::strerror(errno));
      }
    }
    return true;
  }

  bool RecvExact(char* buf, std::size_t len) {
    std::size_t off = 0;
    while (off < len) {
      const ssize_t n = ::recv(fd, buf + off, len - off, 0);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
      } else if (n == 0) {
        return Fail(Failure::kClosed, "agent closed the connection without a reply");
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!Wait(POLLIN)) return false;
      } else if (errno != EINTR) {
        return Fail(Failure::kIo, std::string("recv: ") + std::strerror(errno));
      }
    }
    return true;
  }

  bool Run(const std::string& path, const std::string& frame, oa::IpcResponse* resp) {
    if (!Connect(path)) return false;
    if (!SendAll(frame)) {
      // An agent that refuses a connection (max_connections, uid) writes its error reply at once and closes; when
      // that happens before our request went out, send fails (EPIPE/ECONNRESET) but the reply is already queued
      // on our side. Read it: a refusal must not pass for an unreachable agent. No reply: the send error stands.
      if (failure != Failure::kIo) return false;
      const std::string send_error = std::move(detail);
      if (ReadReply(resp)) return true;
      return Fail(Failure::kIo, send_error);
    }
    return ReadReply(resp);
  }

  bool ReadReply(oa::IpcResponse* resp) {
    char header[oa::kFrameHeaderBytes];
    if (!RecvExact(header, sizeof(header))) return false;
    const std::uint32_t len = oa::ReadBigEndian32(header);
    if (len == 0 || len > oa::kMaxResponseBodyBytes) {
      return Fail(Failure::kMalformed, "reply frame of " + std::to_string(len) + " bytes");
    }
    std::string body(len, '\0');
    if (!RecvExact(body.data(), len)) return false;
    if (const auto e = oa::DecodeResponse(body, resp); e != oa::WireError::kOk) {
      return Fail(Failure::kMalformed, std::string("malformed reply: ") + oa::WireErrorName(e));
    }
    return true;
  }
};

void Usage() {
  static const char text[] =
      "usage: ocserv-agent-auth [--socket PATH] [--timeout DURATION] [--on-agent-failure deny|allow]\n"
      "ocserv's connect/host-update/disconnect script: asks ocserv-agent whether a VPN connection may proceed.\n"
      "  --socket PATH            agent socket (env OCSERV_AGENT_SOCKET; default /run/ocserv-agent/auth.sock)\n"
      "  --timeout DURATION       whole run deadline, e.g. 5s, 800ms (env OCSERV_AGENT_TIMEOUT; default 5s)\n"
      "  --on-agent-failure MODE  when the agent is unreachable or silent: deny (default) or allow\n"
      "                           (env OCSERV_AGENT_ON_FAILURE); allow still logs a warning line.\n"
      "                           An agent that refuses the connection (error reply) always rejects.\n"
      "Exit status: 0 admit, 1 reject, 143 killed by SIGTERM.\n";
  [[maybe_unused]] auto w = ::write(STDOUT_FILENO, text, sizeof(text) - 1);
}

// "<pid>-<wall seconds, hex><microseconds>": unique per helper run, and it tells ocserv's log which worker asked.
std::string NewRequestId() {
  timespec wall{};
  ::clock_gettime(CLOCK_REALTIME, &wall);
  char request_id[64];
  std::snprintf(request_id, sizeof(request_id), "%d-%llx%06lx", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(wall.tv_sec), static_cast<long>(wall.tv_nsec / 1000));
  return request_id;
}

// Sends `req` and checks that the reply answers it; any failure is recorded in `ex` (ex.failure, ex.detail).
oa::IpcResponse Ask(Exchange& ex, const HelperConfig& cfg, oa::IpcRequest& req) {
  req.deadline_ms = static_cast<std::uint32_t>(ex.Left());
  std::string frame;
  oa::EncodeRequestFrame(req, &frame);

  oa::IpcResponse resp;
  if (ex.Run(cfg.socket_path, frame, &resp)) {
    if (resp.version != oa::kIpcVersion) {
      ex.Fail(Failure::kMalformed, "reply has IPC version " + std::to_string(resp.version));
    } else if (!resp.error.empty()) {
      ex.Fail(Failure::kRefused, "agent refused the request: " + resp.error);
    } else if (resp.request_id != req.request_id) {
      ex.Fail(Failure::kMalformed, "reply is for request '" + resp.request_id + "'");
    } else if (req.reason == oa::IpcReason::kConnect && resp.verdict == oa::WireVerdict::kUnspecified) {
      ex.Fail(Failure::kMalformed, "reply carries no verdict");
    }
  }
  return resp;
}

// The exit status for ocserv (with its log line): the agent's answer, or the helper's fallback when there is none.
int ExitStatus(const HelperConfig& cfg, const oa::IpcRequest& req, const Exchange& ex, const oa::IpcResponse& resp) {
  const bool is_connect = req.reason == oa::IpcReason::kConnect;
  const char* user = req.username.c_str();
  if (ex.failure == Failure::kNone) {
    if (!is_connect) return kExitAdmit;  // acknowledged
    if (resp.verdict == oa::WireVerdict::kAllow) return kExitAdmit;
    Line("deny user=%s id=%s request=%s source=%s reason=%s", user, req.id.c_str(), req.request_id.c_str(),
         oa::SourceName(resp.source), resp.reason.empty() ? "(none)" : resp.reason.c_str());
    return kExitReject;
  }

  if (!is_connect) {
    Line("%s event for user=%s id=%s not recorded: %s", oa::ReasonName(req.reason), user, req.id.c_str(),
         ex.detail.c_str());
    return kExitAdmit;  // ocserv ignores the exit status of these scripts; do not hold it up
  }
  // on-agent-failure=allow covers an agent that cannot be reached or does not answer in time. An agent that answers
  // but refuses the request, or a reply that does not make sense, is not an outage: it always rejects
  // (docs/architecture.md#helper-fallback).
  if (ex.failure == Failure::kRefused) {
    Line("%s: rejecting user=%s id=%s (a refusal always rejects, whatever on-agent-failure says)",
         ex.detail.c_str(), user, req.id.c_str());
    return kExitReject;
  }
  if (cfg.on_agent_failure == OnAgentFailure::kAllow && ex.failure != Failure::kMalformed) {
    Line("agent failure (%s): ADMITTING user=%s id=%s because on-agent-failure=allow", ex.detail.c_str(), user,
         req.id.c_str());
    return kExitAdmit;
  }
  Line("agent failure (%s): rejecting user=%s id=%s (%s)", ex.detail.c_str(), user, req.id.c_str(),
       ex.failure == Failure::kMalformed ? "a bad reply always rejects" : "on-agent-failure=deny");
  return kExitReject;
}

}  // namespace

// The steps: configuration, the request from ocserv's environment, one exchange with the agent, the exit status.
int main(int argc, char** argv) {
  InstallSignalHandlers();
  const std::int64_t start_ms = NowMs();

  HelperConfig cfg;
  std::string error;
  if (!oa::helper::ParseHelperConfig(argc, argv, oa::helper::ProcessEnv, nullptr, &cfg, &error)) {
    Line("%s; rejecting", error.c_str());
    return kExitReject;
  }
  if (cfg.help) {
    Usage();
    return kExitAdmit;
  }

  oa::IpcRequest req;
  oa::helper::BuildRequestFromEnv(oa::helper::ProcessEnv, nullptr, &req);
  if (req.reason == oa::IpcReason::kUnspecified) {
    const char* reason = std::getenv("REASON");
    Line("REASON '%s' is not connect, host-update or disconnect; rejecting", reason ? reason : "(unset)");
    return kExitReject;
  }
  req.request_id = NewRequestId();

  Exchange ex(start_ms + cfg.timeout_ms);
  const oa::IpcResponse resp = Ask(ex, cfg, req);
  return ExitStatus(cfg, req, ex, resp);
}
