// IpcConnection: one helper exchange on the IPC server's socket, as a small state machine
//   kReading --complete frame--> kDeciding --authorizer done / backstop--> kWriting --all sent--> kClosed
// It reads one frame, decodes it, hands a connect to the Authorizer (or acknowledges a host-update / disconnect and
// hands it to the SessionEventSink), writes the reply and closes. Every kind of bad input is cut off with a counter
// and a rate-limited warning. One deadline at a time (read, backstop or write). What the replies say and the audit
// line are in ipc_exchange.h; epoll, the deadline heap and the authorizer's completion queue belong to the loop that
// owns the connection (ipc_server.cc), reached through IpcConnectionLoop.
//
// Thread-safety: none; every call happens on the server's loop thread, and none blocks (non-blocking socket).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "ipc/authorizer.h"
#include "ipc/ipc_server_counters.h"
#include "ipc/ipc_types.h"
#include "ipc/server_options.h"
#include "resilience/clock.h"

namespace oa {

class IpcConnection;
class IpcWarnings;

// What a connection asks of the loop that owns it.
class IpcConnectionLoop {
 public:
  // Waits for `epoll_events` on c's socket (0: only hang-up and error, which epoll always reports), adding it to
  // the epoll set unless `already_watched`. False if epoll_ctl failed.
  virtual bool Watch(const IpcConnection& c, std::uint32_t epoll_events, bool already_watched) = 0;
  // Calls c.OnDeadline() once `at` has passed, unless c has set another deadline (or closed) by then.
  virtual void ScheduleDeadline(IpcConnection& c, Clock::MonoTime at) = 0;
  // The authorizer's `done` for c: delivers the reply to c.OnDecision on the loop thread, or counts it late.
  virtual Authorizer::Done DoneFor(const IpcConnection& c) = 0;
  // Delivers the replies the authorizer gave inline, on the loop thread (cache hits), before Authorize returned.
  virtual void DeliverInline() = 0;
  // c has closed its socket. The loop forgets c once the event it is handling is done, never while c is running.
  virtual void Closed(IpcConnection& c) = 0;

 protected:
  ~IpcConnectionLoop() = default;
};

// What every connection of one server shares. Owned by the server, which outlives its connections.
struct IpcConnectionShared {
  const IpcServerOptions& options;
  Authorizer& authorizer;
  SessionEventSink* events;  // may be null: session events are then only counted
  const Clock& clock;
  IpcServerCounters& counters;
  IpcWarnings& warnings;
  IpcConnectionLoop& loop;
  // The loop's one read buffer: only a request that arrives in pieces is kept per connection, so the usual request
  // (whole in the first read) costs no allocation and no copy before it is decoded.
  std::vector<char> read_buf;
  // Admits written in full, not yet given to `events`: the loop records them when it has nothing else ready
  // (IpcServer), so that building the session event never stands between a reply and the next request.
  std::vector<std::pair<std::shared_ptr<const IpcRequest>, DecisionSource>> delivered_admits;
};

class IpcConnection {
 public:
  enum class State : std::uint8_t { kReading, kDeciding, kWriting, kClosed };

  // Takes ownership of `fd`, an accepted non-blocking socket whose peer passed the uid check.
  IpcConnection(std::uint64_t id, int fd, uid_t uid, pid_t pid, IpcConnectionShared& shared);
  ~IpcConnection();  // closes the socket if still open (the server stopping)
  IpcConnection(const IpcConnection&) = delete;
  IpcConnection& operator=(const IpcConnection&) = delete;

  // Right after accept: reads at once (the request has usually arrived with the connection, saving an epoll
  // round), then waits for the rest within ipc.read_timeout.
  void Start();
  // epoll reported `epoll_events` on the socket.
  void OnEvents(std::uint32_t epoll_events);
  // The authorizer's reply; the connection is kDeciding (the loop counts any other reply as late).
  void OnDecision(IpcReply reply);
  // The deadline the connection last scheduled has passed.
  void OnDeadline();

  std::uint64_t id() const { return id_; }
  int fd() const { return fd_; }
  State state() const { return state_; }
  Clock::MonoTime deadline() const { return deadline_; }

 private:
  void OnReadable();
  void OnRequest(std::string_view body);
  void OnWritable();
  bool Watch(std::uint32_t epoll_events);
  void ReplyError(std::string error);
  void SendReply(IpcResponse reply);
  void SetDeadline(Clock::MonoTime at);
  void Close();
  const std::string& username() const;

  IpcConnectionShared& shared_;
  const std::uint64_t id_;
  int fd_;
  const uid_t uid_;
  const pid_t pid_;
  State state_ = State::kReading;
  bool write_armed_ = false;
  bool watched_ = false;  // a connection answered straight after accept never enters the epoll set
  Clock::MonoTime deadline_{};
  const Clock::MonoTime accepted_at_;
  std::string in_;
  std::string out_;
  std::size_t out_off_ = 0;
  std::string request_id_;
  std::shared_ptr<const IpcRequest> request_;  // set once decoded: for the audit line and warnings
  // An allow is being written: SessionEventSink::OnAdmitDelivered once it is sent in full.
  std::optional<DecisionSource> admit_;
};

}  // namespace oa
