// The IPC bench's floor: the least a Unix-socket request/response server can do per connection, with the same epoll
// shape and the same "read right after accept" shortcut as IpcServer (accept, read one frame, write it back, close).
// One thread, named "oa-echo-loop"; tid() gives its kernel thread id (for pinning and CPU accounting).
#pragma once

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>

#include "ipc/wire_frame.h"

namespace oa::bench {

class EchoServer {
 public:
  explicit EchoServer(const std::string& path) {
    ::unlink(path.c_str());
    lfd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(lfd_, SOMAXCONN) != 0) {
      std::perror("echo bind");
      std::exit(1);
    }
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd_;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, lfd_, &ev);
    thread_ = std::thread([this] { Run(); });
    while (tid_.load() == 0) std::this_thread::yield();
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    ::close(lfd_);
    ::close(epfd_);
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  pid_t tid() const { return tid_.load(); }

 private:
  // True when the connection is finished (echoed or dead).
  bool OnReadable(int fd) {
    std::string& buf = bufs_[fd];
    char tmp[4096];
    for (;;) {
      const ssize_t n = ::read(fd, tmp, sizeof(tmp));
      if (n > 0) {
        buf.append(tmp, static_cast<std::size_t>(n));
        if (buf.size() >= 4 && buf.size() >= 4 + oa::ReadBigEndian32(buf.data())) {
          [[maybe_unused]] auto w = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          return true;
        }
        continue;
      }
      return !(n < 0 && errno == EAGAIN);
    }
  }
  void Finish(int fd) {
    bufs_.erase(fd);
    ::close(fd);
  }
  void Run() {
    ::pthread_setname_np(::pthread_self(), "oa-echo-loop");
    tid_.store(::gettid());
    epoll_event evs[256];
    while (!stop_) {
      const int n = ::epoll_wait(epfd_, evs, 256, 50);
      for (int i = 0; i < n; ++i) {
        const int fd = evs[i].data.fd;
        if (fd == lfd_) {
          for (;;) {
            const int c = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) break;
            if (OnReadable(c)) {
              Finish(c);
              continue;
            }
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = c;
            ::epoll_ctl(epfd_, EPOLL_CTL_ADD, c, &ev);
          }
        } else if (OnReadable(fd)) {
          Finish(fd);
        }
      }
    }
  }
  int lfd_ = -1, epfd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<pid_t> tid_{0};
  std::unordered_map<int, std::string> bufs_;
  std::thread thread_;
};

}  // namespace oa::bench
