// IPC path benchmark: the agent's IpcServer (one epoll thread, instant authorizer) against a bare Unix-socket echo
// server (the floor: accept, read one frame, write it back, close), side by side in one run. Each request is its
// own connection, as with the helper. Clients: 1 and 32 threads. Prints p50/p99 latency, requests/s and ratios.
// Usage: oa_ipc_bench [requests_per_client_1=20000] [requests_per_client_32=1500] [rounds=3]
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "ipc/ipc_server.h"
#include "ipc/wire_frame.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

// The floor: the least a Unix-socket request/response server can do per connection, with the same epoll shape and
// the same "read right after accept" shortcut as IpcServer.
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
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    ::close(lfd_);
    ::close(epfd_);
  }

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
  std::unordered_map<int, std::string> bufs_;
  std::thread thread_;
};

bool OneRequest(const std::string& path, const std::string& frame) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size());
  char header[4];
  ok = ok && ::recv(fd, header, 4, MSG_WAITALL) == 4;
  if (ok) {
    std::string body(oa::ReadBigEndian32(header), '\0');
    ok = ::recv(fd, body.data(), body.size(), MSG_WAITALL) == static_cast<ssize_t>(body.size());
  }
  ::close(fd);
  return ok;
}

struct Result {
  std::vector<std::int64_t> ns;
  double seconds = 0;
  int failures = 0;
};

Result Load(const std::string& path, const std::string& frame, int clients, int per_client) {
  Result r;
  std::vector<std::vector<std::int64_t>> lat(clients);
  std::atomic<int> failures{0};
  const auto start = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      lat[c].reserve(per_client);
      for (int i = 0; i < per_client; ++i) {
        const auto t0 = SteadyClock::now();
        if (!OneRequest(path, frame)) failures.fetch_add(1);
        lat[c].push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  r.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  for (auto& v : lat) r.ns.insert(r.ns.end(), v.begin(), v.end());
  r.failures = failures.load();
  return r;
}

void Report(const char* name, int clients, const Result& r) {
  std::printf("  %-6s clients=%-2d  requests=%-7zu  p50=%7.1f us  p99=%7.1f us  %9.0f req/s  failures=%d\n", name,
              clients, r.ns.size(), oa::bench::PercentileUs(r.ns, 50), oa::bench::PercentileUs(r.ns, 99),
              static_cast<double>(r.ns.size()) / r.seconds, r.failures);
}

}  // namespace

int main(int argc, char** argv) {
  const int per_client_1 = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int per_client_32 = argc > 2 ? std::atoi(argv[2]) : 1500;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  spdlog::set_level(spdlog::level::warn);

  char dir_tmpl[] = "/tmp/oa-ipc-bench-XXXXXX";
  const std::string dir = ::mkdtemp(dir_tmpl);
  const std::string agent_path = dir + "/agent.sock";
  const std::string echo_path = dir + "/echo.sock";

  oa::bench::InstantAuthorizer authorizer;
  oa::IpcServerOptions options;
  options.socket_path = agent_path;
  options.allowed_uids = {::getuid()};
  oa::IpcServer server(options, authorizer, nullptr, oa::SystemClock::instance());
  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  EchoServer echo(echo_path);

  // A realistic connect request (what the helper sends on a typical connection).
  oa::IpcRequest q;
  q.request_id = "12345-6b0000000000";
  q.reason = oa::IpcReason::kConnect;
  q.deadline_ms = 4999;
  q.id = "12345";
  q.username = "alice";
  q.groupname = "staff";
  q.vhost = "default";
  q.device = "vpns0";
  q.user_agent = "Open AnyConnect VPN Agent v9.01";
  q.ip_real = "192.0.2.10";
  q.ip_real_local = "192.0.2.1";
  q.ip_local = "10.10.0.1";
  q.ip_remote = "10.10.0.2";
  q.routes = {"10.0.0.0/255.0.0.0", "172.16.0.0/255.240.0.0"};
  q.dns = {"10.0.0.53"};
  std::string frame;
  oa::EncodeRequestFrame(q, &frame);
  std::printf("IPC bench: request frame %zu bytes, %d rounds alternating floor/agent, %u cores\n", frame.size(),
              rounds, std::thread::hardware_concurrency());

  Load(echo_path, frame, 1, 2000);  // warm-up
  Load(agent_path, frame, 1, 2000);
  for (const int clients : {1, 32}) {
    const int per_client = clients == 1 ? per_client_1 : per_client_32;
    Result floor, agent;
    for (int round = 0; round < rounds; ++round) {
      // Alternate which goes first, so that neither always runs right after the other's teardown.
      Result f, a;
      if (round % 2 == 0) {
        f = Load(echo_path, frame, clients, per_client);
        a = Load(agent_path, frame, clients, per_client);
      } else {
        a = Load(agent_path, frame, clients, per_client);
        f = Load(echo_path, frame, clients, per_client);
      }
      floor.ns.insert(floor.ns.end(), f.ns.begin(), f.ns.end());
      floor.seconds += f.seconds;
      floor.failures += f.failures;
      agent.ns.insert(agent.ns.end(), a.ns.begin(), a.ns.end());
      agent.seconds += a.seconds;
      agent.failures += a.failures;
    }
    std::printf("clients=%d\n", clients);
    Report("floor", clients, floor);
    Report("agent", clients, agent);
    std::printf("  ratio agent/floor: p50 %.2fx  p99 %.2fx  throughput %.2fx\n",
                oa::bench::PercentileUs(agent.ns, 50) / oa::bench::PercentileUs(floor.ns, 50),
                oa::bench::PercentileUs(agent.ns, 99) / oa::bench::PercentileUs(floor.ns, 99),
                (static_cast<double>(agent.ns.size()) / agent.seconds) /
                    (static_cast<double>(floor.ns.size()) / floor.seconds));
  }
  const auto c = server.counters();
  std::printf("agent counters: accepted=%llu replies_allow=%llu too_many_connections=%llu\n",
              static_cast<unsigned long long>(c.accepted), static_cast<unsigned long long>(c.replies_allow),
              static_cast<unsigned long long>(c.too_many_connections));
  server.Stop(std::chrono::seconds(1));
  ::rmdir(dir.c_str());
  return 0;
}
