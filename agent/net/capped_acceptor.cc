#include "agent/net/capped_acceptor.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "common/warn_limiter.h"

namespace oa {
namespace {

enum WarnKind : std::size_t { kWarnAtCap, kWarnAccept, kWarnKinds };

constexpr int kMaxAcceptsPerWakeup = 64;
constexpr std::chrono::milliseconds kRecheckEvery{1000};

std::uint64_t SocketCookie(int fd) {
  std::uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) return 0;
  return cookie;
}

}  // namespace

struct CappedAcceptor::Loop {
  Loop(int fd, CappedAcceptorOptions o, HandOff h, const Clock& c)
      : listener(fd), options(std::move(o)), hand_off(std::move(h)), clock(c) {}
  ~Loop() {
    if (listener >= 0) ::close(listener);
    if (wake >= 0) ::close(wake);
  }

  void Run();
  void Accept();
  // Forgets the connections the server has closed since the last check.
  void Recheck();
  void Warn(WarnKind kind, const std::string& what) {
    std::uint64_t suppressed = 0;
    if (!limiter.Allow(kind, clock.now(), &suppressed)) return;
    spdlog::warn("{}: {}{}", options.name, what,
                 suppressed > 0 ? absl::StrCat(" (", suppressed, " similar lines suppressed)") : std::string());
  }

  int listener;
  const CappedAcceptorOptions options;
  const HandOff hand_off;
  const Clock& clock;
  int wake = -1;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::unordered_map<int, std::uint64_t> open;  // fd -> socket cookie; only the loop thread touches it
  bool paused = false;
  Clock::MonoTime resume_at{};
  Clock::MonoTime next_recheck{};
  WarnLimiter<kWarnKinds> limiter{5};
  std::atomic<std::uint64_t> accepted{0}, refused_at_cap{0}, accept_errors{0}, open_count{0};
};

void CappedAcceptor::Loop::Recheck() {
  for (auto it = open.begin(); it != open.end();) {
    // Gone (EBADF), or the number now names another socket (or not a socket): the server closed ours.
    it = SocketCookie(it->first) == it->second ? std::next(it) : open.erase(it);
  }
  open_count.store(open.size(), std::memory_order_relaxed);
  next_recheck = clock.now() + kRecheckEvery;
}

void CappedAcceptor::Loop::Accept() {
  for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      const int err = errno;
      accept_errors.fetch_add(1, std::memory_order_relaxed);
      Warn(kWarnAccept, absl::StrCat("accept failed: ", std::strerror(err), "; pausing accepts for ",
                                     options.accept_pause.count(), " ms"));
      paused = true;
      resume_at = clock.now() + options.accept_pause;
      return;
    }
    if (open.size() >= options.max_connections) Recheck();
    if (open.size() >= options.max_connections) {
      refused_at_cap.fetch_add(1, std::memory_order_relaxed);
      Warn(kWarnAtCap, absl::StrCat("refusing a connection: ", options.max_connections, " already open"));
      ::close(fd);
      continue;
    }
    open[fd] = SocketCookie(fd);
    open_count.store(open.size(), std::memory_order_relaxed);
    accepted.fetch_add(1, std::memory_order_relaxed);
    hand_off(listener, fd);
  }
}

void CappedAcceptor::Loop::Run() {
  while (!stopping.load()) {
    auto now = clock.now();
    if (paused && now >= resume_at) paused = false;
    if (!open.empty() && now >= next_recheck) Recheck();
    pollfd fds[2] = {{wake, POLLIN, 0}, {paused ? -1 : listener, POLLIN, 0}};
    auto wait = std::chrono::milliseconds(-1);
    if (!open.empty()) wait = std::chrono::ceil<std::chrono::milliseconds>(next_recheck - now);
    if (paused) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(resume_at - now);
      wait = wait.count() < 0 ? left : std::min(wait, left);
    }
    if (wait.count() >= 0) wait = std::max(wait, std::chrono::milliseconds(1));  // never a busy zero timeout
    if (::poll(fds, 2, static_cast<int>(wait.count())) < 0 && errno != EINTR) {
      spdlog::error("{}: poll failed: {}", options.name, std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) Accept();
  }
}

CappedAcceptor::CappedAcceptor(int listener_fd, CappedAcceptorOptions options, HandOff hand_off, const Clock& clock)
    : loop_(std::make_unique<Loop>(listener_fd, std::move(options), std::move(hand_off), clock)) {}

CappedAcceptor::~CappedAcceptor() { Stop(); }

absl::Status CappedAcceptor::Start() {
  if (loop_->thread.joinable()) return absl::FailedPreconditionError("acceptor already started");
  loop_->wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop_->wake < 0) return absl::InternalError(absl::StrCat(loop_->options.name, ": eventfd: ", std::strerror(errno)));
  loop_->thread = std::thread([l = loop_.get()] { l->Run(); });
  return absl::OkStatus();
}

void CappedAcceptor::Stop() {
  if (!loop_->thread.joinable()) return;
  loop_->stopping.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(loop_->wake, &one, sizeof one);
  loop_->thread.join();
  ::close(loop_->listener);
  loop_->listener = -1;
}

CappedAcceptorCounters CappedAcceptor::counters() const {
  auto r = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return {r(loop_->accepted), r(loop_->refused_at_cap), r(loop_->accept_errors), r(loop_->open_count)};
}

}  // namespace oa
