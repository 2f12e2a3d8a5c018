#include "agent/metrics/metrics_http_server.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/metrics/prometheus_format.h"
#include "agent/net/tcp_listen.h"
#include "common/warn_limiter.h"

namespace oa {
namespace {

enum WarnKind : std::size_t { kWarnBadRequest, kWarnTimeout, kWarnTooMany, kWarnEvicted, kWarnAccept, kWarnKinds };

// After accept() fails (descriptor exhaustion: EMFILE/ENFILE, or ENOBUFS/ENOMEM), the listen socket stays readable:
// polling it again at once would spin a core. Stop watching it this long instead, like the IPC server does.
constexpr std::chrono::milliseconds kAcceptPause{100};

struct Conn {
  int fd = -1;
  std::string in;
  std::string out;
  std::size_t written = 0;
  bool replying = false;
  Clock::MonoTime deadline{};
  Clock::MonoTime accepted_at{};
};

std::string Reply(std::string_view status, std::string_view content_type, const std::string& body, bool with_body) {
  std::string r = "HTTP/1.1 ";
  r += status;
  r += "\r\nContent-Type: ";
  r += content_type;
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (with_body) r += body;
  return r;
}

}  // namespace

struct MetricsHttpServer::Loop {
  Loop(const MetricsHttpServerOptions& o, const Render& r, const Clock& c) : options(o), render(r), clock(c) {}
  ~Loop() {
    for (auto& c : conns) ::close(c.fd);
    if (listener >= 0) ::close(listener);
    if (wake >= 0) ::close(wake);
  }

  void Run();
  void Accept();
  // At the connection limit: closes the longest-waiting connection that has not sent a whole request yet, so that
  // idle connections cannot keep a scraper out. False when every connection is already being answered.
  bool EvictOldestIdle();
  // Returns false when the connection is finished (closed).
  bool OnReadable(Conn& c);
  bool OnWritable(Conn& c);
  void Handle(Conn& c);
  void Warn(WarnKind kind, std::string_view what);
  void Bump(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

  const MetricsHttpServerOptions& options;
  const Render& render;
  const Clock& clock;
  int listener = -1;
  int wake = -1;
  std::atomic<bool> stopping{false};
  std::vector<Conn> conns;
  WarnLimiter<kWarnKinds> limiter{5};
  std::thread thread;

  bool accept_paused = false;
  Clock::MonoTime accept_resume_at{};

#define OA_X(name) std::atomic<std::uint64_t> name{0};
  OA_METRICS_HTTP_COUNTERS(OA_X)
#undef OA_X
};

void MetricsHttpServer::Loop::Warn(WarnKind kind, std::string_view what) {
  std::uint64_t suppressed = 0;
  if (!limiter.Allow(kind, clock.now(), &suppressed)) return;
  spdlog::warn("metrics endpoint: {}{}", what,
               suppressed > 0 ? absl::StrCat(" (", suppressed, " similar lines suppressed)") : std::string());
}

void MetricsHttpServer::Loop::Accept() {
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
      // Descriptor or memory exhaustion: the connection stays in the backlog; try again after a pause.
      const int err = errno;
      Bump(accept_errors);
      Warn(kWarnAccept, absl::StrCat("accept failed: ", std::strerror(err), "; pausing accepts for ",
                                     kAcceptPause.count(), " ms"));
      accept_paused = true;
      accept_resume_at = clock.now() + kAcceptPause;
      return;
    }
    if (conns.size() >= options.max_connections && !EvictOldestIdle()) {
      Bump(too_many_connections);
      Warn(kWarnTooMany, absl::StrCat("connection refused: already ", conns.size(), " open"));
      ::close(fd);
      continue;
    }
    const auto now = clock.now();
    conns.push_back(Conn{fd, {}, {}, 0, false, now + options.read_timeout, now});
  }
}

bool MetricsHttpServer::Loop::EvictOldestIdle() {
  auto oldest = conns.end();
  for (auto it = conns.begin(); it != conns.end(); ++it) {
    if (it->fd >= 0 && !it->replying && (oldest == conns.end() || it->accepted_at < oldest->accepted_at)) oldest = it;
  }
  if (oldest == conns.end()) return false;
  Bump(idle_evicted);
  Warn(kWarnEvicted, absl::StrCat("connection limit (", options.max_connections,
                                  ") reached: closed the oldest connection without a complete request"));
  ::close(oldest->fd);
  // Marked, not erased: Run() pairs conns with its pollfd array by index; it drops closed entries after the round.
  oldest->fd = -1;
  return true;
}

void MetricsHttpServer::Loop::Handle(Conn& c) {
  const auto line_end = c.in.find_first_of("\r\n");
  const std::string_view line = std::string_view(c.in).substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  std::string_view method, target, version;
  if (sp2 != std::string_view::npos) {
    method = line.substr(0, sp1);
    target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    version = line.substr(sp2 + 1);
  }
  if (method.empty() || target.empty() || version.substr(0, 5) != "HTTP/") {
    Bump(bad_requests);
    Warn(kWarnBadRequest, "malformed request line");
    c.out = Reply("400 Bad Request", "text/plain", "bad request\n", true);
    return;
  }
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    Bump(not_found);
    c.out = Reply("405 Method Not Allowed", "text/plain", "only GET\n", true);
    return;
  }
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") {
    Bump(not_found);
    c.out = Reply("404 Not Found", "text/plain", "not found; metrics are at /metrics\n", !head);
    return;
  }
  Bump(scrapes);
  c.out = Reply("200 OK", kPrometheusContentType, render(), !head);
}

bool MetricsHttpServer::Loop::OnReadable(Conn& c) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n == 0) return false;  // the peer left before a whole request
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.in.append(buf, static_cast<std::size_t>(n));
    const bool complete = c.in.find("\r\n\r\n") != std::string::npos || c.in.find("\n\n") != std::string::npos;
    if (c.in.size() > options.max_request_bytes) {
      Bump(bad_requests);
      Warn(kWarnBadRequest, absl::StrCat("request above ", options.max_request_bytes, " bytes refused"));
      c.out = Reply("431 Request Header Fields Too Large", "text/plain", "request too large\n", true);
    } else if (complete) {
      Handle(c);
    } else {
      continue;
    }
    c.replying = true;
    c.deadline = clock.now() + options.read_timeout;  // the reply, too, must be taken within the timeout
    return OnWritable(c);
  }
}

bool MetricsHttpServer::Loop::OnWritable(Conn& c) {
  while (c.written < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.written += static_cast<std::size_t>(n);
  }
  ::shutdown(c.fd, SHUT_WR);
  return false;
}

void MetricsHttpServer::Loop::Run() {
  std::vector<pollfd> fds;
  while (!stopping.load()) {
    fds.clear();
    fds.push_back({wake, POLLIN, 0});
    auto now = clock.now();
    if (accept_paused && now >= accept_resume_at) accept_paused = false;
    // A negative fd is ignored by poll(): the listener is not watched while accepts are paused.
    fds.push_back({accept_paused ? -1 : listener, POLLIN, 0});
    auto timeout = std::chrono::milliseconds(-1);
    if (accept_paused) {
      timeout = std::max(std::chrono::ceil<std::chrono::milliseconds>(accept_resume_at - now),
                         std::chrono::milliseconds(1));
    }
    for (const auto& c : conns) {
      fds.push_back({c.fd, static_cast<short>(c.replying ? POLLOUT : POLLIN), 0});
      auto left = std::chrono::ceil<std::chrono::milliseconds>(c.deadline - now);
      left = std::max(left, std::chrono::milliseconds(0));
      timeout = timeout.count() < 0 ? left : std::min(timeout, left);
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(timeout.count())) < 0 && errno != EINTR) {
      spdlog::error("metrics endpoint: poll failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) Accept();
    now = clock.now();
    // conns may have grown in Accept(); only the ones polled have an entry in fds (same order, from index 2).
    std::vector<Conn> keep;
    keep.reserve(conns.size());
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (c.fd < 0) continue;  // evicted in Accept(), already closed
      bool open = true;
      const short ev = i + 2 < fds.size() ? fds[i + 2].revents : 0;
      if (ev != 0) open = (ev & (POLLERR | POLLNVAL)) == 0 && (c.replying ? OnWritable(c) : OnReadable(c));
      if (open && now >= c.deadline) {
        Bump(read_timeouts);
        Warn(kWarnTimeout, c.replying ? "reply not taken within the read timeout" : "no complete request within the read timeout");
        open = false;
      }
      if (open) {
        keep.push_back(std::move(c));
      } else {
        ::close(c.fd);
      }
    }
    conns = std::move(keep);
  }
}

MetricsHttpServer::MetricsHttpServer(MetricsHttpServerOptions options, Render render, const Clock& clock)
    : options_(std::move(options)), render_(std::move(render)), clock_(clock) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::Status MetricsHttpServer::Start() {
  if (loop_) return absl::FailedPreconditionError("metrics endpoint already started");
  auto fd = ListenTcp(options_.listen, "metrics.listen");
  if (!fd.ok()) return fd.status();
  auto loop = std::make_unique<Loop>(options_, render_, clock_);
  loop->listener = *fd;
  loop->wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->wake < 0) return absl::InternalError(absl::StrCat("metrics endpoint: eventfd: ", std::strerror(errno)));
  port_ = BoundPort(*fd);
  loop_ = std::move(loop);
  loop_->thread = std::thread([l = loop_.get()] { l->Run(); });
  return absl::OkStatus();
}

void MetricsHttpServer::Stop() {
  if (!loop_ || !loop_->thread.joinable()) return;
  loop_->stopping.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(loop_->wake, &one, sizeof one);
  loop_->thread.join();
  // The counters stay readable; the sockets go now.
  for (auto& c : loop_->conns) ::close(c.fd);
  loop_->conns.clear();
  ::close(loop_->listener);
  loop_->listener = -1;
}

MetricsHttpCountersSnapshot MetricsHttpServer::counters() const {
  if (!loop_) return {};
  MetricsHttpCountersSnapshot s;
#define OA_X(name) s.name = loop_->name.load(std::memory_order_relaxed);
  OA_METRICS_HTTP_COUNTERS(OA_X)
#undef OA_X
  return s;
}

}  // namespace oa
