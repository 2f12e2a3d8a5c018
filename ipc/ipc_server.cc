// The IPC server's event loop. One thread, level-triggered epoll: it accepts (refusing peers past the connection
// limit or outside ipc.allowed_uids), waits on the sockets, keeps each connection's one deadline in a min-heap with
// lazy deletion, and brings the authorizer's answers back to the loop thread. The exchange on each connection (read,
// decode, dispatch, reply, close) is IpcConnection's (ipc_connection.cc); what the replies say is ipc_exchange.cc's.
#include "ipc/ipc_server.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "ipc/ipc_connection.h"
#include "ipc/ipc_exchange.h"
#include "ipc/ipc_warnings.h"
#include "ipc/unix_listener.h"

namespace oa {
namespace {

using Ms = std::chrono::milliseconds;

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr std::uint64_t kFirstConnId = 2;
// After accept() fails (fd exhaustion), stop accepting this long instead of spinning on a readable listen socket.
constexpr Ms kAcceptPause{100};
constexpr int kMaxAcceptsPerWakeup = 256;  // so that a connection flood cannot starve connections already open
constexpr std::size_t kReadChunk = 4096;

// Completions from the authorizer. `done` may run on any thread, after the server is gone too: it owns a reference.
struct CompletionQueue {
  std::mutex mu;
  std::vector<std::pair<std::uint64_t, IpcReply>> items;  // guarded by mu
  bool closed = false;                                      // guarded by mu
  int efd = -1;
  std::atomic<std::thread::id> loop_thread{};
  // Completions made on the loop thread itself (inline cache hits): no lock, no wake-up needed.
  std::vector<std::pair<std::uint64_t, IpcReply>> inline_items;

  ~CompletionQueue() {
    if (efd >= 0) ::close(efd);
  }
  void Wake() const {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(efd, &one, sizeof(one));  // EAGAIN only if the counter is already huge
  }
};

}  // namespace

struct IpcServer::Impl final : IpcConnectionLoop {
  Impl(IpcServerOptions o, Authorizer& a, SessionEventSink* e, const Clock& c, IpcServerTuning t)
      : options(std::move(o)), authorizer(a), events(e), clock(c), tuning(t) {}

  const IpcServerOptions options;
  Authorizer& authorizer;
  SessionEventSink* const events;
  const Clock& clock;
  const IpcServerTuning tuning;

  IpcServerCounters counters;
  std::atomic<std::size_t> open_count{0};
  std::atomic<bool> stop_requested{false};
  std::atomic<long long> grace_ms{0};
  std::atomic<bool> running{false};

  UnixListener listener;
  int epfd = -1;
  std::shared_ptr<CompletionQueue> queue;
  std::thread thread;

  // Loop-thread state.
  IpcWarnings warnings{clock};
  IpcConnectionShared shared{options, authorizer, events, clock, counters, warnings, *this,
                             std::vector<char>(kReadChunk), {}};
  std::unordered_map<std::uint64_t, IpcConnection> conns;
  std::vector<std::uint64_t> closed;  // closed connections not yet erased from conns (see Reap)
  using HeapEntry = std::pair<Clock::MonoTime, std::uint64_t>;
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<>> deadlines;
  std::uint64_t next_id = kFirstConnId;
  bool accept_paused = false;
  Clock::MonoTime accept_resume_at{};

  // ---- what connections ask of the loop (IpcConnectionLoop) ----

  bool Watch(const IpcConnection& c, std::uint32_t epoll_events, bool already_watched) override {
    epoll_event ev{};
    ev.events = epoll_events;
    ev.data.u64 = c.id();
    return ::epoll_ctl(epfd, already_watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd(), &ev) == 0;
  }

  void ScheduleDeadline(IpcConnection& c, Clock::MonoTime at) override { deadlines.emplace(at, c.id()); }

  Authorizer::Done DoneFor(const IpcConnection& c) override {
    return [q = queue, id = c.id()](IpcReply reply) {
      if (std::this_thread::get_id() == q->loop_thread.load(std::memory_order_relaxed)) {
        q->inline_items.emplace_back(id, std::move(reply));
        return;
      }
      bool wake = false;
      {
        std::lock_guard<std::mutex> lock(q->mu);
        if (q->closed) return;
        wake = q->items.empty();
        q->items.emplace_back(id, std::move(reply));
      }
      if (wake) q->Wake();
    };
  }

  void DeliverInline() override {
    while (!queue->inline_items.empty()) {
      auto items = std::move(queue->inline_items);
      queue->inline_items.clear();
      for (auto& [id, reply] : items) Deliver(id, std::move(reply));
    }
  }

  void Closed(IpcConnection& c) override {
    closed.push_back(c.id());
    open_count.fetch_sub(1, std::memory_order_relaxed);
  }

  // Erases the connections that closed themselves. Only here, between events, so that no connection is destroyed
  // while one of its own calls is still running (a cache hit closes the connection inside its OnRequest).
  void Reap() {
    for (const std::uint64_t id : closed) conns.erase(id);
    closed.clear();
  }

  // The connection `id` if it is still open: it may have closed while its answer or deadline was on the way.
  IpcConnection* Find(std::uint64_t id) {
    auto it = conns.find(id);
    return it != conns.end() && it->second.state() != IpcConnection::State::kClosed ? &it->second : nullptr;
  }

  void Deliver(std::uint64_t id, IpcReply reply) {
    IpcConnection* c = Find(id);
    if (c == nullptr || c->state() != IpcConnection::State::kDeciding) {
      counters.late_completions.fetch_add(1, std::memory_order_relaxed);
      warnings.Warn(kWarnLate, "ipc: the authorizer answered connection {} after its backstop or after the helper left",
                    id);
      return;
    }
    c->OnDecision(std::move(reply));
  }

  void OnWake() {
    std::uint64_t ignored;
    [[maybe_unused]] auto n = ::read(queue->efd, &ignored, sizeof(ignored));
    std::vector<std::pair<std::uint64_t, IpcReply>> items;
    {
      std::lock_guard<std::mutex> lock(queue->mu);
      items.swap(queue->items);
    }
    for (auto& [id, reply] : items) Deliver(id, std::move(reply));
  }

  // ---- accepting ----

  bool UidAllowed(uid_t uid) const {
    return std::find(options.allowed_uids.begin(), options.allowed_uids.end(), uid) != options.allowed_uids.end();
  }

  // A connection we will not serve gets an error reply before it is closed, so that the helper can tell a refusal
  // from an agent that is down: with --on-agent-failure allow, a bare close would admit the user. One non-blocking
  // send of a frame encoded once: the socket was just accepted, its send buffer is empty and the frame is small, so
  // this costs a flood one syscall per connection. The peer's request is not read; it reads our reply all the same
  // (an AF_UNIX reset reaches it only after the queued reply). If the peer is already gone, the reply is lost and
  // counted; the refusal stands.
  void Refuse(int fd, const std::string& reply_frame) {
    const ssize_t n = ::send(fd, reply_frame.data(), reply_frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != static_cast<ssize_t>(reply_frame.size())) {
      counters.refusal_reply_failed.fetch_add(1, std::memory_order_relaxed);
      warnings.Warn(kWarnRefusalReply, "ipc: could not tell a refused peer why: {}",
                    n < 0 ? std::strerror(errno) : "short write");
    }
    ::close(fd);
  }

  const std::string too_many_reply = ErrorFrame("refused: ipc.max_connections reached, try again");
  const std::string refused_uid_reply = ErrorFrame("refused: peer uid not in ipc.allowed_uids");

  void PauseAccept() {
    ::epoll_ctl(epfd, EPOLL_CTL_DEL, listener.fd, nullptr);
    accept_paused = true;
    accept_resume_at = clock.now() + kAcceptPause;
  }

  void ResumeAccept() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(epfd, EPOLL_CTL_ADD, listener.fd, &ev);
    accept_paused = false;
  }

  void OnAcceptable() {
    for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
      const int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        counters.accept_errors.fetch_add(1, std::memory_order_relaxed);
        warnings.Warn(kWarnAccept, "ipc: accept failed: {}; pausing accepts for {} ms", std::strerror(errno),
                      kAcceptPause.count());
        PauseAccept();
        return;
      }
      Reap();  // so that conns holds only the connections still open
      if (conns.size() >= static_cast<std::size_t>(std::max(options.max_connections, 1))) {
        counters.too_many_connections.fetch_add(1, std::memory_order_relaxed);
        warnings.Warn(kWarnTooMany, "ipc: refusing a connection: ipc.max_connections ({}) already open",
                      options.max_connections);
        Refuse(fd, too_many_reply);
        continue;
      }
      ucred cred{};
      socklen_t len = sizeof(cred);
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || !UidAllowed(cred.uid)) {
        counters.refused_uid.fetch_add(1, std::memory_order_relaxed);
        warnings.Warn(kWarnRefusedUid, "ipc: refusing peer pid {} uid {}: uid not in ipc.allowed_uids", cred.pid,
                      cred.uid);
        Refuse(fd, refused_uid_reply);
        continue;
      }
      if (tuning.send_buffer_bytes > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &tuning.send_buffer_bytes, sizeof(tuning.send_buffer_bytes));
      }
      const std::uint64_t id = next_id++;
      IpcConnection& c = conns.try_emplace(id, id, fd, cred.uid, cred.pid, shared).first->second;
      open_count.fetch_add(1, std::memory_order_relaxed);
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      c.Start();
    }
  }

  // ---- deadlines and the loop ----

  void FireDeadlines() {
    const Clock::MonoTime now = clock.now();
    if (accept_paused && now >= accept_resume_at && listener.fd >= 0) ResumeAccept();
    while (!deadlines.empty() && deadlines.top().first <= now) {
      const auto [t, id] = deadlines.top();
      deadlines.pop();
      IpcConnection* c = Find(id);
      if (c == nullptr || c->deadline() != t) continue;  // stale entry
      c->OnDeadline();
    }
  }

  int NextTimeoutMs(bool stopping, std::chrono::steady_clock::time_point grace_end) const {
    const Clock::MonoTime now = clock.now();
    Clock::MonoTime::duration wait = Clock::MonoTime::duration::max();
    if (!deadlines.empty()) wait = std::max(deadlines.top().first - now, Clock::MonoTime::duration::zero());
    if (accept_paused) wait = std::min(wait, std::max(accept_resume_at - now, Clock::MonoTime::duration::zero()));
    if (stopping) {
      wait = std::min<Clock::MonoTime::duration>(
          wait, std::max(grace_end - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration::zero()));
    }
    if (wait == Clock::MonoTime::duration::max()) return -1;
    // Round up, so that we never wake just before a deadline and spin.
    const auto ms = std::chrono::ceil<Ms>(wait).count();
    return static_cast<int>(std::min<long long>(ms, 60'000));
  }

  void BeginStop() {
    if (accept_paused) accept_paused = false;
    RemoveUnixListenerFile(options.socket_path, listener);
    ::close(listener.fd);  // leaves the epoll set with it
    listener.fd = -1;
  }

  static constexpr std::size_t kMaxDeferredAdmits = 64;

  void RecordDeliveredAdmits() {
    for (auto& [request, source] : shared.delivered_admits) shared.events->OnAdmitDelivered(std::move(request), source);
    shared.delivered_admits.clear();
  }

  void Run() {
    queue->loop_thread.store(std::this_thread::get_id());
    std::vector<epoll_event> evs(256);
    bool stopping = false;
    std::chrono::steady_clock::time_point grace_end{};
    for (;;) {
      Reap();
      if (!stopping && stop_requested.load()) {
        stopping = true;
        BeginStop();
        grace_end = std::chrono::steady_clock::now() + Ms(grace_ms.load());
      }
      if (stopping && (conns.empty() || std::chrono::steady_clock::now() >= grace_end)) break;
      // Delivered admits are recorded once nothing else is ready (or 64 have gathered): the next request first.
      int n = 0;
      if (!shared.delivered_admits.empty()) {
        n = ::epoll_wait(epfd, evs.data(), static_cast<int>(evs.size()), 0);
        if (n == 0 || shared.delivered_admits.size() >= kMaxDeferredAdmits) RecordDeliveredAdmits();
      }
      if (n == 0) {
        n = ::epoll_wait(epfd, evs.data(), static_cast<int>(evs.size()), NextTimeoutMs(stopping, grace_end));
      }
      if (n < 0 && errno != EINTR) {
        spdlog::error("ipc: epoll_wait failed: {}; the IPC server stops", std::strerror(errno));
        break;
      }
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = evs[i].data.u64;
        if (tag == kListenTag) {
          if (listener.fd >= 0) OnAcceptable();
          continue;
        }
        if (tag == kWakeTag) {
          OnWake();
          continue;
        }
        if (IpcConnection* c = Find(tag)) c->OnEvents(evs[i].events);
        DeliverInline();
      }
      FireDeadlines();
    }
    Reap();
    RecordDeliveredAdmits();
    counters.abandoned_at_stop.fetch_add(conns.size(), std::memory_order_relaxed);
    if (!conns.empty()) spdlog::warn("ipc: stopped with {} connections still open", conns.size());
    conns.clear();  // closes their sockets
    open_count.store(0);
    deadlines = {};
    {
      std::lock_guard<std::mutex> lock(queue->mu);
      queue->closed = true;
      queue->items.clear();
    }
    queue->loop_thread.store(std::thread::id());
  }
};

IpcServer::IpcServer(IpcServerOptions options, Authorizer& authorizer, SessionEventSink* events, const Clock& clock,
                     IpcServerTuning tuning)
    : impl_(std::make_unique<Impl>(std::move(options), authorizer, events, clock, tuning)) {}

IpcServer::~IpcServer() { Stop(Ms(0)); }

absl::Status IpcServer::Start() {
  Impl& s = *impl_;
  if (s.running) return absl::FailedPreconditionError("IPC server already running");
  auto listener = OpenUnixListener(s.options.socket_path, s.options.socket_mode, SOMAXCONN);
  if (!listener.ok()) return listener.status();
  s.listener = *listener;
  if (s.listener.replaced_stale) spdlog::warn("ipc: replaced stale socket file {}", s.options.socket_path);

  auto queue = std::make_shared<CompletionQueue>();
  queue->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s.epfd = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.u64 = kListenTag;
  epoll_event wev{};
  wev.events = EPOLLIN;
  wev.data.u64 = kWakeTag;
  if (queue->efd < 0 || s.epfd < 0 || ::epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.listener.fd, &lev) != 0 ||
      ::epoll_ctl(s.epfd, EPOLL_CTL_ADD, queue->efd, &wev) != 0) {
    const int err = errno;
    if (s.epfd >= 0) ::close(s.epfd);
    s.epfd = -1;
    RemoveUnixListenerFile(s.options.socket_path, s.listener);
    ::close(s.listener.fd);
    return absl::InternalError(std::string("ipc: epoll/eventfd setup failed: ") + std::strerror(err));
  }
  s.queue = std::move(queue);
  s.stop_requested.store(false);
  s.running = true;
  s.thread = std::thread([&s] { s.Run(); });
  spdlog::info("ipc: listening on {} (mode {:o}, {} allowed uid(s), max {} connections)", s.options.socket_path,
               s.options.socket_mode, s.options.allowed_uids.size(), s.options.max_connections);
  return absl::OkStatus();
}

void IpcServer::Stop(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  if (!s.running) return;
  s.grace_ms.store(grace.count());
  s.stop_requested.store(true);
  s.queue->Wake();
  s.thread.join();
  ::close(s.epfd);
  s.epfd = -1;
  s.running = false;
}

IpcServerCounters::Snapshot IpcServer::counters() const { return impl_->counters.snapshot(); }

std::size_t IpcServer::open_connections() const { return impl_->open_count.load(std::memory_order_relaxed); }

void IpcServer::WakeLoop() {
  if (impl_->running) impl_->queue->Wake();
}

}  // namespace oa
