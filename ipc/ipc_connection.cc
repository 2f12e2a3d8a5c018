#include "ipc/ipc_connection.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/ipc_exchange.h"
#include "ipc/ipc_warnings.h"
#include "ipc/wire_codec.h"
#include "ipc/wire_frame.h"

namespace oa {
namespace {

using Ms = std::chrono::milliseconds;

// The authorizer answers by its deadline; the backstop fires this much later so that the two do not race.
constexpr Ms kBackstopGrace{50};
// Kept free of the helper's own deadline, for the reply to travel and the helper to exit.
constexpr Ms kHelperMargin{100};

}  // namespace

IpcConnection::IpcConnection(std::uint64_t id, int fd, uid_t uid, pid_t pid, IpcConnectionShared& shared)
    : shared_(shared), id_(id), fd_(fd), uid_(uid), pid_(pid), accepted_at_(shared.clock.now()) {}

IpcConnection::~IpcConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void IpcConnection::Start() {
  OnReadable();
  if (state_ != State::kReading) return;  // answered (or cut off) already
  if (!Watch(EPOLLIN | EPOLLRDHUP)) {
    shared_.counters.accept_errors.fetch_add(1, std::memory_order_relaxed);
    shared_.warnings.Warn(kWarnAccept, "ipc: epoll_ctl failed: {}", std::strerror(errno));
    return Close();
  }
  SetDeadline(accepted_at_ + shared_.options.read_timeout);
}

void IpcConnection::OnEvents(std::uint32_t epoll_events) {
  switch (state_) {
    case State::kReading: return OnReadable();
    case State::kDeciding:
      // Only hang-up and error are watched while deciding (see OnRequest).
      if (epoll_events & (EPOLLHUP | EPOLLERR)) {
        shared_.counters.peer_gone.fetch_add(1, std::memory_order_relaxed);
        shared_.warnings.Warn(kWarnPeerGone, "ipc: helper pid {} left while request {} (user '{}') was being decided",
                              pid_, request_id_, username());
        Close();
      }
      return;
    case State::kWriting: return OnWritable();
    case State::kClosed: return;
  }
}

// ---- reading ----

void IpcConnection::OnReadable() {
  IpcServerCounters& counters = shared_.counters;
  std::vector<char>& buf = shared_.read_buf;
  for (;;) {
    const ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n > 0) {
      const std::string_view got(buf.data(), static_cast<std::size_t>(n));
      if (!in_.empty()) in_.append(got);
      const std::string_view buffered = in_.empty() ? got : std::string_view(in_);
      const FrameCheck fc = CheckFrame(buffered, shared_.options.max_frame_bytes);
      switch (fc.state) {
        case FrameState::kNeedMore:
          if (in_.empty()) in_.assign(got);
          continue;
        case FrameState::kZeroLength:
          counters.bad_frame_zero_len.fetch_add(1, std::memory_order_relaxed);
          shared_.warnings.Warn(kWarnZeroLen, "ipc: zero-length frame from pid {} uid {}", pid_, uid_);
          return ReplyError("zero-length frame");
        case FrameState::kOversize:
          counters.oversize.fetch_add(1, std::memory_order_relaxed);
          shared_.warnings.Warn(kWarnOversize,
                                "ipc: frame of {} bytes from pid {} uid {} exceeds ipc.max_frame_bytes ({})",
                                fc.body_len, pid_, uid_, shared_.options.max_frame_bytes);
          return ReplyError("frame exceeds ipc.max_frame_bytes");
        case FrameState::kComplete:
          return OnRequest(buffered.substr(kFrameHeaderBytes, fc.body_len));
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF or a reset before a whole frame arrived.
    if (in_.empty() && n == 0) {
      counters.closed_without_request.fetch_add(1, std::memory_order_relaxed);
      shared_.warnings.Warn(kWarnEmpty, "ipc: peer pid {} uid {} closed without sending a request", pid_, uid_);
    } else {
      counters.truncated.fetch_add(1, std::memory_order_relaxed);
      shared_.warnings.Warn(kWarnTruncated, "ipc: truncated frame from pid {} uid {} ({} bytes, then {})", pid_, uid_,
                            in_.size(), n == 0 ? "EOF" : std::strerror(errno));
    }
    return Close();
  }
}

// ---- deciding ----

void IpcConnection::OnRequest(std::string_view body) {
  IpcServerCounters& counters = shared_.counters;
  auto req = std::make_shared<IpcRequest>();
  if (const WireError e = DecodeRequest(body, req.get()); e != WireError::kOk) {
    counters.garbage.fetch_add(1, std::memory_order_relaxed);
    shared_.warnings.Warn(kWarnGarbage, "ipc: malformed request from pid {} uid {}: {}", pid_, uid_,
                          WireErrorName(e));
    return ReplyError(std::string("malformed request: ") + WireErrorName(e));
  }
  request_id_ = req->request_id;
  request_ = req;
  in_ = std::string();  // the request lives on in *req; free the buffer while the decision is pending
  if (req->version != kIpcVersion) {
    counters.bad_version.fetch_add(1, std::memory_order_relaxed);
    shared_.warnings.Warn(kWarnBadVersion, "ipc: request {} from pid {} has IPC version {}, agent speaks {}",
                          req->request_id, pid_, req->version, kIpcVersion);
    return ReplyError("unsupported IPC version " + std::to_string(req->version));
  }
  switch (req->reason) {
    case IpcReason::kConnect: break;
    case IpcReason::kHostUpdate:
    case IpcReason::kDisconnect: {
      counters.session_events.fetch_add(1, std::memory_order_relaxed);
      SendReply(AckReply(req->request_id));  // may close the connection; the event is handed over all the same
      if (shared_.events != nullptr) shared_.events->OnSessionEvent(std::move(req));
      return;
    }
    default:
      counters.bad_request.fetch_add(1, std::memory_order_relaxed);
      shared_.warnings.Warn(kWarnBadRequest, "ipc: request {} from pid {} has unknown reason {}", req->request_id,
                            pid_, static_cast<std::uint32_t>(req->reason));
      return ReplyError("unknown reason");
  }

  state_ = State::kDeciding;
  auto budget = std::chrono::duration_cast<Clock::MonoTime::duration>(shared_.options.decision_timeout);
  if (req->deadline_ms > 0) {
    const auto helper_left = std::max(Ms(req->deadline_ms) - kHelperMargin, Ms(0));
    budget = std::min<Clock::MonoTime::duration>(budget, helper_left);
  }
  const Clock::MonoTime deadline = shared_.clock.now() + budget;
  shared_.authorizer.Authorize(std::move(req), deadline, shared_.loop.DoneFor(*this));
  shared_.loop.DeliverInline();  // a cache hit is answered (and closed) here; the loop keeps *this until we return
  if (state_ == State::kDeciding) {
    // No events: EPOLLHUP/EPOLLERR are always reported, which is how we notice a helper that gives up (or is
    // killed) while we decide. Not EPOLLRDHUP: a peer that merely shut down its write side still waits for its
    // answer. The answer itself comes through the loop's completion queue, not through this fd.
    Watch(0);
    SetDeadline(deadline + kBackstopGrace);
  }
}

void IpcConnection::OnDecision(IpcReply reply) {
  const DecisionSource source = reply.decision.source;
  IpcResponse r = DecisionReply(request_id_, std::move(reply));
  if (r.verdict == WireVerdict::kAllow) admit_ = source;
  if (request_) AuditDecision(*request_, r, shared_.clock.now() - accepted_at_);
  SendReply(std::move(r));
}

// ---- writing ----

void IpcConnection::ReplyError(std::string error) { SendReply(ErrorReply(request_id_, std::move(error))); }

void IpcConnection::SendReply(IpcResponse reply) {
  CountReply(shared_.counters, reply);
  out_.clear();
  EncodeResponseFrame(reply, &out_);
  out_off_ = 0;
  state_ = State::kWriting;
  OnWritable();
}

void IpcConnection::OnWritable() {
  while (out_off_ < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_off_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!write_armed_) {
        write_armed_ = true;
        Watch(EPOLLOUT);
        SetDeadline(shared_.clock.now() + shared_.options.read_timeout);
      }
      return;
    }
    shared_.counters.peer_gone.fetch_add(1, std::memory_order_relaxed);
    shared_.warnings.Warn(kWarnPeerGone, "ipc: peer pid {} (request {}) left before its reply was written: {}", pid_,
                          request_id_, std::strerror(errno));
    return Close();
  }
  if (admit_ && shared_.events != nullptr && request_) shared_.delivered_admits.emplace_back(request_, *admit_);
  Close();
}

// ---- deadlines ----

void IpcConnection::OnDeadline() {
  IpcServerCounters& counters = shared_.counters;
  switch (state_) {
    case State::kReading:
      counters.read_timeout.fetch_add(1, std::memory_order_relaxed);
      shared_.warnings.Warn(kWarnReadTimeout,
                            "ipc: no complete request from pid {} uid {} within {} ms ({} bytes received)", pid_, uid_,
                            shared_.options.read_timeout.count(), in_.size());
      return Close();
    case State::kDeciding:
      counters.backstop_timeouts.fetch_add(1, std::memory_order_relaxed);
      shared_.warnings.Warn(kWarnBackstop, "ipc: no decision for request {} (user '{}') in time: denying (fail_close)",
                            request_id_, username());
      return OnDecision(
          IpcReply::FromDecision(Decision{Verdict::kDeny, DecisionSource::kFailClose, "agent decision timeout"}));
    case State::kWriting:
      counters.write_timeout.fetch_add(1, std::memory_order_relaxed);
      shared_.warnings.Warn(kWarnWriteTimeout, "ipc: peer pid {} did not take its reply to request {} within {} ms",
                            pid_, request_id_, shared_.options.read_timeout.count());
      return Close();
    case State::kClosed: return;
  }
}

bool IpcConnection::Watch(std::uint32_t epoll_events) {
  if (!shared_.loop.Watch(*this, epoll_events, watched_)) return false;
  watched_ = true;
  return true;
}

void IpcConnection::SetDeadline(Clock::MonoTime at) {
  deadline_ = at;
  shared_.loop.ScheduleDeadline(*this, at);
}

void IpcConnection::Close() {
  ::close(fd_);  // also leaves the epoll set: the fd is never dup'ed
  fd_ = -1;
  state_ = State::kClosed;
  shared_.loop.Closed(*this);
}

const std::string& IpcConnection::username() const {
  static const std::string kNone;
  return request_ ? request_->username : kNone;
}

}  // namespace oa
