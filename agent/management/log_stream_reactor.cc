#include "agent/management/log_stream_reactor.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/utf8.h"

namespace oa {
namespace {

using google::protobuf::util::TimeUtil;

constexpr std::string_view kStreamLogs = "/agent.v1.AgentService/StreamLogs";

// A log line may quote anything (a user name from the portal, bytes from ocserv's environment); a proto3 string that
// is not UTF-8 would make the whole stream unparsable for the portal.
void FillEntry(const LogRecord& r, agent::v1::LogEntry* e) {
  e->Clear();
  *e->mutable_timestamp() = TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(r.time.time_since_epoch()).count());
  e->set_level(r.level);
  e->set_source("agent");
  e->set_message(r.message);
  SanitizeUtf8(e->mutable_message());
  if (!r.logger.empty()) SanitizeUtf8(&((*e->mutable_fields())["logger"] = r.logger));
  (*e->mutable_fields())["seq"] = std::to_string(r.seq);
}

// StreamLogs' start_time as a time_point. A Timestamp outside protobuf's documented range (years 1..9999, nanos
// 0..999999999) is refused; a valid one beyond what system_clock can hold (its nanoseconds overflow int64 past 2262)
// is clamped to the clock's ends, which select the same lines: none after, all before.
absl::StatusOr<std::chrono::system_clock::time_point> LogStartTime(const google::protobuf::Timestamp& t) {
  using Tp = std::chrono::system_clock::time_point;
  if (t.seconds() < TimeUtil::kTimestampMinSeconds || t.seconds() > TimeUtil::kTimestampMaxSeconds ||
      t.nanos() < 0 || t.nanos() > 999'999'999) {
    return absl::InvalidArgumentError("start_time is outside the Timestamp range (years 1 to 9999)");
  }
  constexpr auto kMaxSeconds = std::chrono::duration_cast<std::chrono::seconds>(Tp::duration::max()).count() - 1;
  constexpr auto kMinSeconds = std::chrono::duration_cast<std::chrono::seconds>(Tp::duration::min()).count() + 1;
  if (t.seconds() > kMaxSeconds) return Tp::max();
  if (t.seconds() < kMinSeconds) return Tp::min();
  return Tp(std::chrono::duration_cast<Tp::duration>(std::chrono::seconds(t.seconds()) +
                                                     std::chrono::nanoseconds(t.nanos())));
}

}  // namespace

class LogStreamReactor final : public grpc::ServerWriteReactor<agent::v1::LogEntry> {
 public:
  LogStreamReactor(CallGate::Call call, std::shared_ptr<LogRing> logs, LogStreams& streams)
      : call_(std::move(call)), logs_(std::move(logs)), streams_(streams) {}

  // Called once, right after construction, on the thread that gRPC gave the method.
  void Start(const CallGate& gate, const agent::v1::LogStreamRequest& request) {
    streams_.Add(this);
    if (!call_.admitted()) return FinishOnce(call_.refusal());
    // A follow, or a one-shot read from a client that does not read, can last: both count against the caller's
    // budgets (slow_call_limiter.h) until OnDone, although no thread waits for them any more.
    if (!gate.Reserve(call_, request.follow() ? CallGate::Weight::kFollow : CallGate::Weight::kSlow)) {
      return FinishOnce(call_.refusal());
    }
    const std::string& source = request.log_source();
    if (!source.empty() && source != "agent") {
      return FinishOnce(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                     "only log_source \"agent\" (the agent's own recent logs) is served; read "
                                     "ocserv's and the system's logs from journald"));
    }
    std::chrono::system_clock::time_point since{};
    if (request.has_start_time()) {
      auto start = LogStartTime(request.start_time());
      if (!start.ok()) return FinishOnce(ToGrpcStatus(start.status()));
      since = *start;
    }
    follow_ = request.follow();
    if (follow_) {
      // A follow can last hours: say when it starts, not only when it ends.
      spdlog::info("management audit: identity={} rpc={} result=STARTED follow=true", call_.identity(), kStreamLogs);
    }
    {
      const std::lock_guard lock(mu_);
      // Lines older than start_time never reach the ring's tail again, so following from the last line sent is
      // enough; when nothing matched, from the tail as it was before the backlog was read.
      last_seq_ = logs_->last_seq();
      pending_ = logs_->Since(since);
      if (!pending_.empty()) last_seq_ = pending_.back().seq;
      started_ = true;
    }
    if (follow_) subscription_ = logs_->Subscribe([this] { Pump(/*from_listener=*/true); });
    if (streams_.stopping_.load()) return RequestStop();  // Stop ran before Add saw it
    Pump();
  }

  // LogStreams::StopAll: ends the stream with OK as soon as no Write is in flight.
  void RequestStop() {
    {
      const std::lock_guard lock(mu_);
      stop_ = true;
      if (writing_ || !started_) return;  // OnWriteDone or Start's own Pump finishes it
    }
    FinishOnce(grpc::Status::OK, follow_ ? "follow ended by server stop" : "");
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return FinishOnce(grpc::Status::OK, follow_ ? "follow ended by client" : "client went away");
    {
      const std::lock_guard lock(mu_);
      writing_ = false;
    }
    Pump();
  }

  void OnCancel() override {
    {
      const std::lock_guard lock(mu_);
      cancelled_ = true;
      if (writing_) return;  // the Write completes with ok=false, and OnWriteDone finishes
    }
    FinishOnce(grpc::Status::CANCELLED, "cancelled by client");
  }

  void OnDone() override {
    // Unsubscribe waits for a listener call in progress; no Pump can run after it.
    if (subscription_) logs_->Unsubscribe(*subscription_);
    streams_.Remove(this);
    delete this;  // releases the budget reservation held by call_
  }

 private:
  // Sends the next line when no Write is in flight: from the backlog, else (following) whatever the ring has after
  // the last line sent; with nothing to send, returns and the ring's listener calls again. Runs on gRPC's threads and
  // on the logging thread, so it only ever starts a Write, never waits. From the listener it never finishes either:
  // finishing logs the audit line, and the logging thread is inside spdlog's sink lock (RequestStop and OnCancel
  // finish the stream themselves).
  void Pump(bool from_listener = false) {
    std::unique_lock lock(mu_);
    if (!started_ || finished_ || writing_) return;
    if (stop_ || cancelled_) {
      if (from_listener) return;
      lock.unlock();
      return FinishOnce(cancelled_ ? grpc::Status::CANCELLED : grpc::Status::OK,
                        cancelled_ ? "cancelled by client" : "follow ended by server stop");
    }
    if (next_ == pending_.size()) {
      pending_.clear();
      next_ = 0;
      if (!follow_) {
        lock.unlock();
        return FinishOnce(grpc::Status::OK);
      }
      pending_ = logs_->After(last_seq_, std::chrono::milliseconds(0));
      if (pending_.empty()) return;  // caught up: wait for the listener
    }
    const LogRecord& r = pending_[next_++];
    FillEntry(r, &entry_);
    last_seq_ = std::max(last_seq_, r.seq);
    writing_ = true;
    lock.unlock();
    StartWrite(&entry_);
  }

  // The audit line, then the status to the client, once. Never called with mu_ held: the audit line is itself
  // appended to the ring, whose listener takes mu_.
  void FinishOnce(grpc::Status status, std::string_view detail = {}) {
    {
      const std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(call_.Finish(std::move(status), detail));
  }

  CallGate::Call call_;
  const std::shared_ptr<LogRing> logs_;
  LogStreams& streams_;
  bool follow_ = false;
  std::optional<std::uint64_t> subscription_;

  std::mutex mu_;
  bool started_ = false;    // the backlog is read; Pump may run
  bool writing_ = false;    // a Write is in flight (entry_ is gRPC's until OnWriteDone)
  bool finished_ = false;   // Finish was called
  bool stop_ = false;       // the server is stopping
  bool cancelled_ = false;  // the client cancelled
  std::vector<LogRecord> pending_;
  std::size_t next_ = 0;
  std::uint64_t last_seq_ = 0;
  agent::v1::LogEntry entry_;
};

void LogStreams::Add(LogStreamReactor* r) {
  const std::lock_guard lock(mu_);
  live_.insert(r);
}

void LogStreams::Remove(LogStreamReactor* r) {
  const std::lock_guard lock(mu_);
  live_.erase(r);
}

std::size_t LogStreams::live() const {
  const std::lock_guard lock(mu_);
  return live_.size();
}

void LogStreams::StopAll() {
  // Holding mu_ keeps every reactor alive (OnDone waits in Remove) while it is told to stop.
  const std::lock_guard lock(mu_);
  for (auto* r : live_) r->RequestStop();
}

grpc::ServerWriteReactor<agent::v1::LogEntry>* StartLogStream(const CallGate& gate, std::shared_ptr<LogRing> logs,
                                                              LogStreams& streams,
                                                              grpc::CallbackServerContext* context,
                                                              const agent::v1::LogStreamRequest& request) {
  auto* reactor = new LogStreamReactor(gate.Admit(context->auth_context().get(), kStreamLogs), std::move(logs),
                                       streams);
  reactor->Start(gate, request);
  return reactor;
}

}  // namespace oa
