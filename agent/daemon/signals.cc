#include "agent/daemon/signals.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace oa {
namespace {

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignalListener>> SignalListener::Create() {
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set = HandledSignals();
  if (int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) {
    return absl::InternalError(std::string("cannot block signals: ") + std::strerror(err));
  }
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return absl::InternalError(std::string("signalfd: ") + std::strerror(errno));
  return std::unique_ptr<SignalListener>(new SignalListener(fd));
}

SignalListener::~SignalListener() {
  ::close(fd_);
  sigset_t set = HandledSignals();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

SignalEvent SignalListener::Wait(std::chrono::milliseconds timeout) {
  for (;;) {
    signalfd_siginfo info{};
    ssize_t n = ::read(fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGHUP) return SignalEvent::kReload;
      return SignalEvent::kTerminate;
    }
    if (n < 0 && errno == EINTR) continue;
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, timeout.count() < 0 ? -1 : static_cast<int>(timeout.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return SignalEvent::kNone;
  }
}

}  // namespace oa
