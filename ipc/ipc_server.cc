// The IPC server's event loop. One thread, level-triggered epoll, one small state machine per connection:
//   kReading --complete frame--> kDeciding --authorizer done / backstop--> kWriting --all sent--> closed
// with a single deadline per connection (read, backstop or write) kept in a min-heap with lazy deletion. What the
// replies say, the counter each bumps and the audit line are in ipc_exchange.cc; this file moves bytes and time.
#include "ipc/ipc_server.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
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

#include "common/warn_limiter.h"
#include "ipc/ipc_exchange.h"
#include "ipc/unix_listener.h"
#include "ipc/wire_codec.h"
#include "ipc/wire_frame.h"

namespace oa {
namespace {

using Ms = std::chrono::milliseconds;

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr std::uint64_t kFirstConnId = 2;
// The authorizer answers by its deadline; the backstop fires this much later so that the two do not race.
constexpr Ms kBackstopGrace{50};
// Kept free of the helper's own deadline, for the reply to travel and the helper to exit.
constexpr Ms kHelperMargin{100};
// After accept() fails (fd exhaustion), stop accepting this long instead of spinning on a readable listen socket.
constexpr Ms kAcceptPause{100};
constexpr int kMaxAcceptsPerWakeup = 256;  // so that a connection flood cannot starve connections already open
constexpr std::size_t kReadChunk = 4096;

enum WarnKind : std::size_t {
  kWarnRefusedUid, kWarnTooMany, kWarnAccept, kWarnZeroLen, kWarnOversize, kWarnTruncated, kWarnEmpty, kWarnGarbage,
  kWarnBadVersion, kWarnBadRequest, kWarnReadTimeout, kWarnWriteTimeout, kWarnPeerGone, kWarnBackstop, kWarnLate,
  kWarnRefusalReply, kWarnKinds
};

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

struct Conn {
  enum class State : std::uint8_t { kReading, kDeciding, kWriting };
  int fd = -1;
  State state = State::kReading;
  bool write_armed = false;
  bool in_epoll = false;  // a connection answered straight after accept never enters the epoll set
  uid_t uid = 0;
  pid_t pid = 0;
  Clock::MonoTime deadline{};
  std::string in;
  std::string out;
  std::size_t out_off = 0;
  Clock::MonoTime accepted_at{};
  std::string request_id;
  std::shared_ptr<const IpcRequest> request;  // set once decoded: for the audit line and warnings
  std::optional<DecisionSource> admit;        // an allow is being written: SessionEventSink::OnAdmitDelivered once sent
  const std::string& username() const {
    static const std::string kNone;
    return request ? request->username : kNone;
  }
};

}  // namespace

struct IpcServer::Impl {
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
  std::unordered_map<std::uint64_t, Conn> conns;
  using HeapEntry = std::pair<Clock::MonoTime, std::uint64_t>;
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<>> deadlines;
  std::uint64_t next_id = kFirstConnId;
  bool accept_paused = false;
  Clock::MonoTime accept_resume_at{};
  WarnLimiter<kWarnKinds> limiter;
  std::vector<char> read_buf = std::vector<char>(kReadChunk);

  template <class... Args>
  void Warn(WarnKind kind, spdlog::format_string_t<Args...> fmt, Args&&... args) {
    std::uint64_t suppressed = 0;
    if (!limiter.Allow(kind, clock.now(), &suppressed)) return;
    std::string line = fmt::format(fmt, std::forward<Args>(args)...);
    if (suppressed > 0) {
      spdlog::warn("{} ({} similar lines suppressed)", line, suppressed);
    } else {
      spdlog::warn("{}", line);
    }
  }

  void SetDeadline(std::uint64_t id, Conn& c, Clock::MonoTime t) {
    c.deadline = t;
    deadlines.emplace(t, id);
  }

  // Sets what the loop waits for on `c`, adding it to the epoll set the first time. A connection whose request
  // arrives with it and is answered at once (a cache hit) is never added: two epoll_ctl calls saved per request.
  bool Watch(std::uint64_t id, Conn& c, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    if (::epoll_ctl(epfd, c.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &ev) != 0) return false;
    c.in_epoll = true;
    return true;
  }

  // The connection `id` if it is still open and in `state`: handlers may have closed it.
  Conn* StillIn(std::uint64_t id, Conn::State state) {
    auto it = conns.find(id);
    return it != conns.end() && it->second.state == state ? &it->second : nullptr;
  }

  void CloseConn(std::uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    ::close(it->second.fd);  // also leaves the epoll set: the fd is never dup'ed
    conns.erase(it);
    open_count.fetch_sub(1, std::memory_order_relaxed);
  }

  bool UidAllowed(uid_t uid) const {
    return std::find(options.allowed_uids.begin(), options.allowed_uids.end(), uid) != options.allowed_uids.end();
  }

  // ---- accepting ----

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
      Warn(kWarnRefusalReply, "ipc: could not tell a refused peer why: {}",
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
        Warn(kWarnAccept, "ipc: accept failed: {}; pausing accepts for {} ms", std::strerror(errno),
             kAcceptPause.count());
        PauseAccept();
        return;
      }
      if (conns.size() >= static_cast<std::size_t>(std::max(options.max_connections, 1))) {
        counters.too_many_connections.fetch_add(1, std::memory_order_relaxed);
        Warn(kWarnTooMany, "ipc: refusing a connection: ipc.max_connections ({}) already open",
             options.max_connections);
        Refuse(fd, too_many_reply);
        continue;
      }
      ucred cred{};
      socklen_t len = sizeof(cred);
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || !UidAllowed(cred.uid)) {
        counters.refused_uid.fetch_add(1, std::memory_order_relaxed);
        Warn(kWarnRefusedUid, "ipc: refusing peer pid {} uid {}: uid not in ipc.allowed_uids", cred.pid, cred.uid);
        Refuse(fd, refused_uid_reply);
        continue;
      }
      if (tuning.send_buffer_bytes > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &tuning.send_buffer_bytes, sizeof(tuning.send_buffer_bytes));
      }
      const std::uint64_t id = next_id++;
      Conn& c = conns[id];
      c.fd = fd;
      c.uid = cred.uid;
      c.pid = cred.pid;
      c.accepted_at = clock.now();
      open_count.fetch_add(1, std::memory_order_relaxed);
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      OnReadable(id, c);  // the request has usually arrived with the connection: save an epoll round
      if (Conn* waiting = StillIn(id, Conn::State::kReading)) {  // not all of it yet: wait for the rest
        if (!Watch(id, *waiting, EPOLLIN | EPOLLRDHUP)) {
          counters.accept_errors.fetch_add(1, std::memory_order_relaxed);
          Warn(kWarnAccept, "ipc: epoll_ctl failed: {}", std::strerror(errno));
          CloseConn(id);
          continue;
        }
        SetDeadline(id, *waiting, waiting->accepted_at + options.read_timeout);
      }
    }
  }

  // ---- reading ----

  // Reads into the loop's one buffer; only a request that arrives in pieces is kept per connection, so the usual
  // request (whole in the first read) costs no allocation and no copy before it is decoded.
  void OnReadable(std::uint64_t id, Conn& c) {
    for (;;) {
      const ssize_t n = ::read(c.fd, read_buf.data(), read_buf.size());
      if (n > 0) {
        const std::string_view got(read_buf.data(), static_cast<std::size_t>(n));
        if (!c.in.empty()) c.in.append(got);
        const std::string_view buffered = c.in.empty() ? got : std::string_view(c.in);
        const FrameCheck fc = CheckFrame(buffered, options.max_frame_bytes);
        switch (fc.state) {
          case FrameState::kNeedMore:
            if (c.in.empty()) c.in.assign(got);
            continue;
          case FrameState::kZeroLength:
            counters.bad_frame_zero_len.fetch_add(1, std::memory_order_relaxed);
            Warn(kWarnZeroLen, "ipc: zero-length frame from pid {} uid {}", c.pid, c.uid);
            return ReplyError(id, c, "zero-length frame");
          case FrameState::kOversize:
            counters.oversize.fetch_add(1, std::memory_order_relaxed);
            Warn(kWarnOversize, "ipc: frame of {} bytes from pid {} uid {} exceeds ipc.max_frame_bytes ({})",
                 fc.body_len, c.pid, c.uid, options.max_frame_bytes);
            return ReplyError(id, c, "frame exceeds ipc.max_frame_bytes");
          case FrameState::kComplete:
            return OnRequest(id, c, buffered.substr(kFrameHeaderBytes, fc.body_len));
        }
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // EOF or a reset before a whole frame arrived.
      if (c.in.empty() && n == 0) {
        counters.closed_without_request.fetch_add(1, std::memory_order_relaxed);
        Warn(kWarnEmpty, "ipc: peer pid {} uid {} closed without sending a request", c.pid, c.uid);
      } else {
        counters.truncated.fetch_add(1, std::memory_order_relaxed);
        Warn(kWarnTruncated, "ipc: truncated frame from pid {} uid {} ({} bytes, then {})", c.pid, c.uid,
             c.in.size(), n == 0 ? "EOF" : std::strerror(errno));
      }
      return CloseConn(id);
    }
  }

  void OnRequest(std::uint64_t id, Conn& c, std::string_view body) {
    auto req = std::make_shared<IpcRequest>();
    if (const WireError e = DecodeRequest(body, req.get()); e != WireError::kOk) {
      counters.garbage.fetch_add(1, std::memory_order_relaxed);
      Warn(kWarnGarbage, "ipc: malformed request from pid {} uid {}: {}", c.pid, c.uid, WireErrorName(e));
      return ReplyError(id, c, std::string("malformed request: ") + WireErrorName(e));
    }
    c.request_id = req->request_id;
    c.request = req;
    c.in = std::string();  // the request lives on in *req; free the buffer while the decision is pending
    if (req->version != kIpcVersion) {
      counters.bad_version.fetch_add(1, std::memory_order_relaxed);
      Warn(kWarnBadVersion, "ipc: request {} from pid {} has IPC version {}, agent speaks {}", req->request_id,
           c.pid, req->version, kIpcVersion);
      return ReplyError(id, c, "unsupported IPC version " + std::to_string(req->version));
    }
    switch (req->reason) {
      case IpcReason::kConnect: break;
      case IpcReason::kHostUpdate:
      case IpcReason::kDisconnect: {
        counters.session_events.fetch_add(1, std::memory_order_relaxed);
        SendReply(id, c, AckReply(req->request_id));  // may close c
        if (events != nullptr) events->OnSessionEvent(std::move(req));
        return;
      }
      default:
        counters.bad_request.fetch_add(1, std::memory_order_relaxed);
        Warn(kWarnBadRequest, "ipc: request {} from pid {} has unknown reason {}", req->request_id, c.pid,
             static_cast<std::uint32_t>(req->reason));
        return ReplyError(id, c, "unknown reason");
    }

    c.state = Conn::State::kDeciding;
    auto budget = std::chrono::duration_cast<Clock::MonoTime::duration>(options.decision_timeout);
    if (req->deadline_ms > 0) {
      const auto helper_left = std::max(Ms(req->deadline_ms) - kHelperMargin, Ms(0));
      budget = std::min<Clock::MonoTime::duration>(budget, helper_left);
    }
    const Clock::MonoTime deadline = clock.now() + budget;
    authorizer.Authorize(std::move(req), deadline, MakeDone(id));
    DrainInline();  // c may be gone after this: a cache hit is answered (and closed) inline
    if (Conn* waiting = StillIn(id, Conn::State::kDeciding)) {
      // No events: EPOLLHUP/EPOLLERR are always reported, which is how we notice a helper that gives up (or is
      // killed) while we decide. Not EPOLLRDHUP: a peer that merely shut down its write side still waits for its
      // answer. The answer itself comes through the completion queue, not through this fd.
      Watch(id, *waiting, 0);
      SetDeadline(id, *waiting, deadline + kBackstopGrace);
    }
  }

  Authorizer::Done MakeDone(std::uint64_t id) {
    return [q = queue, id](IpcReply reply) {
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

  void DrainInline() {
    while (!queue->inline_items.empty()) {
      auto items = std::move(queue->inline_items);
      queue->inline_items.clear();
      for (auto& [id, reply] : items) OnDecision(id, std::move(reply));
    }
  }

  void OnWake() {
    std::uint64_t ignored;
    [[maybe_unused]] auto n = ::read(queue->efd, &ignored, sizeof(ignored));
    std::vector<std::pair<std::uint64_t, IpcReply>> items;
    {
      std::lock_guard<std::mutex> lock(queue->mu);
      items.swap(queue->items);
    }
    for (auto& [id, reply] : items) OnDecision(id, std::move(reply));
  }

  void OnDecision(std::uint64_t id, IpcReply reply) {
    auto it = conns.find(id);
    if (it == conns.end() || it->second.state != Conn::State::kDeciding) {
      counters.late_completions.fetch_add(1, std::memory_order_relaxed);
      Warn(kWarnLate, "ipc: the authorizer answered connection {} after its backstop or after the helper left", id);
      return;
    }
    Conn& c = it->second;
    const DecisionSource source = reply.decision.source;
    IpcResponse r = DecisionReply(c.request_id, std::move(reply));
    if (r.verdict == WireVerdict::kAllow) c.admit = source;
    if (c.request) AuditDecision(*c.request, r, clock.now() - c.accepted_at);
    SendReply(id, c, std::move(r));
  }

  // ---- writing ----

  void ReplyError(std::uint64_t id, Conn& c, std::string error) {
    SendReply(id, c, ErrorReply(c.request_id, std::move(error)));
  }

  void SendReply(std::uint64_t id, Conn& c, IpcResponse r) {
    CountReply(counters, r);
    c.out.clear();
    EncodeResponseFrame(r, &c.out);
    c.out_off = 0;
    c.state = Conn::State::kWriting;
    OnWritable(id, c);
  }

  void OnWritable(std::uint64_t id, Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c.out_off += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.write_armed) {
          c.write_armed = true;
          Watch(id, c, EPOLLOUT);
          SetDeadline(id, c, clock.now() + options.read_timeout);
        }
        return;
      }
      counters.peer_gone.fetch_add(1, std::memory_order_relaxed);
      Warn(kWarnPeerGone, "ipc: peer pid {} (request {}) left before its reply was written: {}", c.pid,
           c.request_id, std::strerror(errno));
      return CloseConn(id);
    }
    if (c.admit && events != nullptr && c.request) events->OnAdmitDelivered(c.request, *c.admit);
    CloseConn(id);
  }

  // ---- deadlines and the loop ----

  void FireDeadlines() {
    const Clock::MonoTime now = clock.now();
    if (accept_paused && now >= accept_resume_at && listener.fd >= 0) ResumeAccept();
    while (!deadlines.empty() && deadlines.top().first <= now) {
      const auto [t, id] = deadlines.top();
      deadlines.pop();
      auto it = conns.find(id);
      if (it == conns.end() || it->second.deadline != t) continue;  // stale entry
      Conn& c = it->second;
      switch (c.state) {
        case Conn::State::kReading:
          counters.read_timeout.fetch_add(1, std::memory_order_relaxed);
          Warn(kWarnReadTimeout, "ipc: no complete request from pid {} uid {} within {} ms ({} bytes received)",
               c.pid, c.uid, options.read_timeout.count(), c.in.size());
          CloseConn(id);
          break;
        case Conn::State::kDeciding: {
          counters.backstop_timeouts.fetch_add(1, std::memory_order_relaxed);
          Warn(kWarnBackstop, "ipc: no decision for request {} (user '{}') in time: denying (fail_close)",
               c.request_id, c.username());
          OnDecision(id, IpcReply::FromDecision(
                             Decision{Verdict::kDeny, DecisionSource::kFailClose, "agent decision timeout"}));
          break;
        }
        case Conn::State::kWriting:
          counters.write_timeout.fetch_add(1, std::memory_order_relaxed);
          Warn(kWarnWriteTimeout, "ipc: peer pid {} did not take its reply to request {} within {} ms", c.pid,
               c.request_id, options.read_timeout.count());
          CloseConn(id);
          break;
      }
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

  void Run() {
    queue->loop_thread.store(std::this_thread::get_id());
    std::vector<epoll_event> evs(256);
    bool stopping = false;
    std::chrono::steady_clock::time_point grace_end{};
    for (;;) {
      if (!stopping && stop_requested.load()) {
        stopping = true;
        BeginStop();
        grace_end = std::chrono::steady_clock::now() + Ms(grace_ms.load());
      }
      if (stopping && (conns.empty() || std::chrono::steady_clock::now() >= grace_end)) break;
      const int n = ::epoll_wait(epfd, evs.data(), static_cast<int>(evs.size()), NextTimeoutMs(stopping, grace_end));
      if (n < 0 && errno != EINTR) {
        spdlog::error("ipc: epoll_wait failed: {}; the IPC server stops", std::strerror(errno));
        break;
      }
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = evs[i].data.u64;
        const std::uint32_t ev = evs[i].events;
        if (tag == kListenTag) {
          if (listener.fd >= 0) OnAcceptable();
          continue;
        }
        if (tag == kWakeTag) {
          OnWake();
          continue;
        }
        auto it = conns.find(tag);
        if (it == conns.end()) continue;
        Conn& c = it->second;
        switch (c.state) {
          case Conn::State::kReading: OnReadable(tag, c); break;
          case Conn::State::kDeciding:
            if (ev & (EPOLLHUP | EPOLLERR)) {
              counters.peer_gone.fetch_add(1, std::memory_order_relaxed);
              Warn(kWarnPeerGone, "ipc: helper pid {} left while request {} (user '{}') was being decided", c.pid,
                   c.request_id, c.username());
              CloseConn(tag);
            }
            break;
          case Conn::State::kWriting: OnWritable(tag, c); break;
        }
        DrainInline();
      }
      FireDeadlines();
    }
    for (auto& [id, c] : conns) {
      counters.abandoned_at_stop.fetch_add(1, std::memory_order_relaxed);
      ::close(c.fd);
    }
    if (!conns.empty()) spdlog::warn("ipc: stopped with {} connections still open", conns.size());
    conns.clear();
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

void IpcServer::Poke() {
  if (impl_->running) impl_->queue->Wake();
}

}  // namespace oa
