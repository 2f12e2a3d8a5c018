// Load generators of the IPC bench: see load_client.h.
#include "load_client.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>

#include "ipc/wire_frame.h"
#include "thread_util.h"

namespace oa::bench {
namespace {

constexpr std::int64_t kStallNs = 10'000'000'000;  // no progress this long: the requests in flight have failed

std::int64_t NowNs(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

struct Target {
  sockaddr_un addr{};
  explicit Target(const std::string& path) {
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&addr); }
  static constexpr socklen_t len() { return sizeof(sockaddr_un); }
};

// What one client thread did; its latencies are in its own slice of the output array.
struct ThreadResult {
  long long ok = 0, failures = 0, connect_eagain = 0;
  int first_errno = 0;
  std::int64_t cpu_ns = 0;
  void Fail(int err) {
    ++failures;
    if (first_errno == 0) first_errno = err != 0 ? err : EIO;
  }
};

// ---- kEpoll ----

class EpollClient {
 public:
  EpollClient(const Target& target, const std::string& frame, int connections, long long requests, std::int64_t* lat)
      : target_(target), frame_(frame), requests_(requests), lat_(lat), slots_(static_cast<std::size_t>(connections)) {}

  ThreadResult Run() {
    const std::int64_t cpu0 = NowNs(CLOCK_THREAD_CPUTIME_ID);
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
      std::perror("client epoll_create1");
      std::exit(1);
    }
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      slots_[i].buf.resize(kBufBytes);
      to_start_.push_back(i);
    }
    std::vector<epoll_event> evs(std::max<std::size_t>(slots_.size(), 1));
    std::int64_t last_progress = NowNs();
    StartPending();
    while (finished_ < requests_) {
      const int n = ::epoll_wait(epfd_, evs.data(), static_cast<int>(evs.size()), to_retry_.empty() ? 1000 : 0);
      if (n < 0 && errno != EINTR) {
        std::perror("client epoll_wait");
        std::exit(1);
      }
      for (int i = 0; i < n; ++i) {
        const auto idx = static_cast<std::uint32_t>(evs[i].data.u64);
        Slot& s = slots_[idx];
        if (s.state == State::kWrite) {
          Write(idx);
        } else if (s.state == State::kRead) {
          Read(idx);
        }
      }
      if (!to_retry_.empty()) {
        std::vector<std::uint32_t> retry;
        retry.swap(to_retry_);
        for (const auto idx : retry) Connect(idx);
      }
      StartPending();
      const std::int64_t now = NowNs();
      if (n > 0) {
        last_progress = now;
      } else if (now - last_progress > kStallNs) {
        // The server stopped answering: fail what is in flight and what was not issued yet.
        for (auto& s : slots_) {
          if (s.fd >= 0) ::close(s.fd);
          s.fd = -1;
        }
        for (long long k = finished_; k < requests_; ++k) result_.Fail(ETIMEDOUT);
        break;
      }
    }
    ::close(epfd_);
    result_.cpu_ns = NowNs(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    return result_;
  }

 private:
  // The largest reply the helper accepts, plus one byte to notice a server that sends more than one frame.
  static constexpr std::size_t kBufBytes = kFrameHeaderBytes + kMaxResponseBodyBytes + 1;
  enum class State : std::uint8_t { kIdle, kConnect, kWrite, kRead };
  struct Slot {
    int fd = -1;
    State state = State::kIdle;
    bool in_epoll = false;
    std::int64_t t0 = 0;
    std::size_t sent = 0, got = 0;
    std::vector<char> buf;
  };

  // Slots are (re)started from the main loop, never from a completion, so that a server that refuses every
  // connection makes a loop rather than a recursion.
  void StartPending() {
    while (!to_start_.empty()) {
      const std::uint32_t idx = to_start_.back();
      to_start_.pop_back();
      if (issued_ >= requests_) continue;
      ++issued_;
      Slot& s = slots_[idx];
      s.sent = s.got = 0;
      s.in_epoll = false;
      s.t0 = NowNs();
      s.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s.fd < 0) {
        Finish(idx, false, errno);
        continue;
      }
      Connect(idx);
    }
  }

  // A Unix stream connect completes at once or fails; EAGAIN means the listen backlog is full: retry the same
  // socket after the next epoll round (polling an unconnected socket would only report HUP).
  void Connect(std::uint32_t idx) {
    Slot& s = slots_[idx];
    if (::connect(s.fd, target_.sa(), Target::len()) == 0) {
      Write(idx);
    } else if (errno == EAGAIN) {
      ++result_.connect_eagain;
      s.state = State::kConnect;
      to_retry_.push_back(idx);
    } else {
      Finish(idx, false, errno);
    }
  }

  void Write(std::uint32_t idx) {
    Slot& s = slots_[idx];
    const ssize_t n = ::send(s.fd, frame_.data() + s.sent, frame_.size() - s.sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) {
      Finish(idx, false, errno);
      return;
    }
    if (n > 0) s.sent += static_cast<std::size_t>(n);
    s.state = s.sent == frame_.size() ? State::kRead : State::kWrite;
    Arm(idx, s.state == State::kRead ? EPOLLIN : EPOLLOUT);
  }

  void Read(std::uint32_t idx) {
    Slot& s = slots_[idx];
    const ssize_t n = ::read(s.fd, s.buf.data() + s.got, s.buf.size() - s.got);
    if (n < 0) {
      if (errno != EAGAIN) Finish(idx, false, errno);
      return;
    }
    if (n == 0) {
      Finish(idx, false, ENODATA);  // closed before the whole reply
      return;
    }
    s.got += static_cast<std::size_t>(n);
    if (s.got < kFrameHeaderBytes) return;
    const std::uint32_t body = ReadBigEndian32(s.buf.data());
    if (body > kMaxResponseBodyBytes) {
      Finish(idx, false, EMSGSIZE);
    } else if (s.got > kFrameHeaderBytes + body) {
      Finish(idx, false, EPROTO);  // more than one frame
    } else if (s.got == kFrameHeaderBytes + body) {
      Finish(idx, true, 0);
    }  // else: the rest of the reply comes with a later EPOLLIN
  }

  void Arm(std::uint32_t idx, std::uint32_t events) {
    Slot& s = slots_[idx];
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = idx;
    if (::epoll_ctl(epfd_, s.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s.fd, &ev) != 0) {
      Finish(idx, false, errno);
      return;
    }
    s.in_epoll = true;
  }

  void Finish(std::uint32_t idx, bool ok, int err) {
    Slot& s = slots_[idx];
    if (ok) {
      lat_[result_.ok++] = NowNs() - s.t0;
    } else {
      result_.Fail(err);
    }
    if (s.fd >= 0) ::close(s.fd);  // also leaves the epoll set
    s.fd = -1;
    s.state = State::kIdle;
    ++finished_;
    to_start_.push_back(idx);
  }

  const Target& target_;
  const std::string& frame_;
  const long long requests_;
  std::int64_t* const lat_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> to_start_, to_retry_;
  int epfd_ = -1;
  long long issued_ = 0, finished_ = 0;
  ThreadResult result_;
};

// ---- kBlockingThreads (the original client) ----

bool BlockingRequest(const Target& target, const std::string& frame) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = fd >= 0 && ::connect(fd, target.sa(), Target::len()) == 0 &&
            ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size());
  char header[4];
  ok = ok && ::recv(fd, header, 4, MSG_WAITALL) == 4;
  if (ok) {
    std::string body(ReadBigEndian32(header), '\0');
    ok = ::recv(fd, body.data(), body.size(), MSG_WAITALL) == static_cast<ssize_t>(body.size());
  }
  if (fd >= 0) ::close(fd);
  return ok;
}

ThreadResult BlockingClient(const Target& target, const std::string& frame, long long requests, std::int64_t* lat) {
  ThreadResult r;
  const std::int64_t cpu0 = NowNs(CLOCK_THREAD_CPUTIME_ID);
  for (long long i = 0; i < requests; ++i) {
    const std::int64_t t0 = NowNs();
    errno = 0;
    if (BlockingRequest(target, frame)) {
      lat[r.ok++] = NowNs() - t0;
    } else {
      r.Fail(errno);
    }
  }
  r.cpu_ns = NowNs(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  return r;
}

bool ReadFull(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const void* p, std::size_t n) {
  const auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t r = ::write(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

struct Command {
  int target = 0;
  LoadSpec spec;
};
static_assert(std::is_trivially_copyable_v<Command> && std::is_trivially_copyable_v<LoadStats>);

}  // namespace

LoadStats RunLoad(const std::string& path, const std::string& frame, const LoadSpec& spec, std::int64_t* lat) {
  const Target target(path);
  const int conns = std::max(spec.connections, 1);
  // One worker per thread, each with a share of the connections and of the requests, writing latencies into its
  // own slice of `lat` (compacted afterwards).
  const int workers = spec.kind == ClientKind::kBlockingThreads ? conns : std::clamp(spec.threads, 1, conns);
  std::vector<long long> first(static_cast<std::size_t>(workers) + 1, 0);
  std::vector<int> worker_conns(static_cast<std::size_t>(workers));
  for (int w = 0, c_before = 0; w < workers; ++w) {
    worker_conns[w] = conns / workers + (w < conns % workers ? 1 : 0);
    c_before += worker_conns[w];
    first[w + 1] = spec.requests * c_before / conns;
  }
  std::vector<ThreadResult> results(static_cast<std::size_t>(workers));
  auto work = [&](int w) {
    const long long n = first[w + 1] - first[w];
    std::int64_t* out = lat + first[w];
    results[w] = spec.kind == ClientKind::kBlockingThreads
                     ? BlockingClient(target, frame, n, out)
                     : EpollClient(target, frame, worker_conns[w], n, out).Run();
  };

  const std::int64_t t0 = NowNs();
  if (workers == 1) {
    work(0);
  } else {
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back(work, w);
    for (auto& t : threads) t.join();
  }
  LoadStats s;
  s.seconds = static_cast<double>(NowNs() - t0) / 1e9;
  for (int w = 0; w < workers; ++w) {
    const ThreadResult& r = results[w];
    if (lat + s.ok != lat + first[w]) std::copy_n(lat + first[w], r.ok, lat + s.ok);
    s.ok += r.ok;
    s.failures += r.failures;
    s.connect_eagain += r.connect_eagain;
    s.client_cpu_ns += r.cpu_ns;
    if (s.first_errno == 0) s.first_errno = r.first_errno;
  }
  return s;
}

LoadChild::LoadChild(const std::vector<std::string>& paths, const std::string& frame, long long capacity, int cpu)
    : capacity_(std::max(capacity, 1LL)) {
  void* shm = ::mmap(nullptr, static_cast<std::size_t>(capacity_) * sizeof(std::int64_t), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int cmd[2], res[2];
  if (shm == MAP_FAILED || ::pipe2(cmd, O_CLOEXEC) != 0 || ::pipe2(res, O_CLOEXEC) != 0) {
    std::perror("load child setup");
    std::exit(1);
  }
  shm_ = static_cast<std::int64_t*>(shm);
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::close(cmd[1]);
    ::close(res[0]);
    if (cpu >= 0 && !PinToCpu(0, cpu)) std::perror("load child: sched_setaffinity");
    Command c;
    while (ReadFull(cmd[0], &c, sizeof(c))) {
      const LoadStats s = RunLoad(paths[static_cast<std::size_t>(c.target)], frame, c.spec, shm_);
      if (!WriteFull(res[1], &s, sizeof(s))) break;
    }
    ::_exit(0);  // no destructors or atexit handlers of the parent's objects
  }
  ::close(cmd[0]);
  ::close(res[1]);
  cmd_fd_ = cmd[1];
  res_fd_ = res[0];
}

LoadChild::~LoadChild() {
  ::close(cmd_fd_);  // the child sees EOF and exits
  int status = 0;
  ::waitpid(pid_, &status, 0);
  ::close(res_fd_);
  ::munmap(shm_, static_cast<std::size_t>(capacity_) * sizeof(std::int64_t));
}

LoadStats LoadChild::Run(int target, const LoadSpec& spec, std::vector<std::int64_t>* lat) {
  if (spec.requests > capacity_) {
    std::fprintf(stderr, "load child: %lld requests above the capacity of %lld\n", spec.requests, capacity_);
    std::exit(1);
  }
  const Command c{target, spec};
  LoadStats s;
  if (!WriteFull(cmd_fd_, &c, sizeof(c)) || !ReadFull(res_fd_, &s, sizeof(s))) {
    std::fprintf(stderr, "load child (pid %d) is gone\n", static_cast<int>(pid_));
    std::exit(1);
  }
  lat->assign(shm_, shm_ + s.ok);
  return s;
}

}  // namespace oa::bench
