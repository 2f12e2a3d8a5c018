#include "agent/enforcement/watch_client.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <random>

#include "agent/enforcement/watch_event_decoder.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "ocserv_agent/v1/policy_watch.pb.h"

namespace oa {
namespace {

ReconnectBackoff::JitterSource DefaultJitter() {
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  auto mu = std::make_shared<std::mutex>();
  return [rng, mu] {
    std::lock_guard lock(*mu);
    return std::uniform_real_distribution<double>(0.0, 1.0)(*rng);
  };
}

absl::Status ToAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// protocol-reference.md: the server-streaming method. It is called through the generic stub (raw bytes both ways)
// so that a message that is not a PolicyEvent reaches this client instead of being dropped by gRPC 1.51's typed
// reader; on the wire a bidi call that sends one message and half-closes is the same as a server-streaming call.
constexpr char kWatchMethod[] = "/ocserv_agent.v1.PolicyWatch/Watch";

grpc::ByteBuffer Serialize(const google::protobuf::MessageLite& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Parses one received message; false (with why) when its bytes are not a PolicyEvent.
bool ParseEvent(grpc::ByteBuffer* buffer, ocserv_agent::v1::PolicyEvent* event, std::string* why) {
  const std::size_t size = buffer->Length();
  grpc::ProtoBufferReader reader(buffer);
  if (!reader.status().ok() || !event->ParseFromZeroCopyStream(&reader)) {
    *why = "a message of " + std::to_string(size) + " bytes that is not a PolicyEvent (protobuf parse failed)";
    return false;
  }
  return true;
}

}  // namespace

class WatchClient::Core : public std::enable_shared_from_this<WatchClient::Core> {
 public:
  Core(std::shared_ptr<grpc::Channel> channel, Deps deps, WatchClientOptions options,
       ReconnectBackoff::JitterSource jitter)
      : stub_(std::move(channel)),
        deps_(std::move(deps)),
        options_(std::move(options)),
        logic_(options_.timings, jitter ? std::move(jitter) : DefaultJitter()) {}

  // One stream: owned by itself from StartCall until OnDone. Raw bytes both ways (see kWatchMethod): each received
  // message is parsed here, so that one that is not a PolicyEvent is seen, counted and ends the stream.
  class Stream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    Stream(std::shared_ptr<Core> core, std::uint64_t generation) : core_(std::move(core)), generation_(generation) {}

    void Begin(std::uint64_t after_version) {
      ocserv_agent::v1::WatchRequest request;
      request.set_agent_id(core_->options_.agent_id);
      request.set_after_version(after_version);
      request_ = Serialize(request);
      // No deadline: the stream is meant to stay open; the watchdog replaces one (protocol-reference.md).
      core_->stub_.PrepareBidiStreamingCall(&context_, kWatchMethod, grpc::StubOptions(), this);
      StartWriteLast(&request_, grpc::WriteOptions());  // the one WatchRequest, then half-close
      StartRead(&received_);
      StartCall();
    }
    void Cancel() { context_.TryCancel(); }

    void OnReadDone(bool ok) override {
      if (!ok) return;  // the stream ended: OnDone follows
      std::string why;
      if (!ParseEvent(&received_, &event_, &why)) {
        // No version to skip it by, and it may have been a Revoke: end the stream; the next one resumes after the
        // last applied version, so nothing is lost. No further read: OnDone follows the cancel.
        core_->OnUnparsable(generation_, why);
        Cancel();
        return;
      }
      core_->OnEvent(generation_, event_);
      event_.Clear();
      received_.Clear();
      StartRead(&received_);
    }
    void OnDone(const grpc::Status& status) override {
      core_->OnStreamDone(generation_, status);
      delete this;
    }

   private:
    std::shared_ptr<Core> core_;
    const std::uint64_t generation_;
    grpc::ClientContext context_;
    grpc::ByteBuffer request_;
    grpc::ByteBuffer received_;
    ocserv_agent::v1::PolicyEvent event_;
  };

  void Open() {
    std::unique_lock lock(mu_);
    if (stopping_ || stream_ != nullptr) return;
    const auto now = deps_.clock.now();
    logic_.OnOpen(now);
    const std::uint64_t generation = ++generation_;
    stream_ = new Stream(shared_from_this(), generation);
    Stream* s = stream_;
    const std::uint64_t after = logic_.after_version();
    ScheduleWatchdogLocked(generation, logic_.watchdog_deadline());
    lock.unlock();
    spdlog::debug("policy stream: opening Watch to {} after version {}", options_.portal_address, after);
    s->Begin(after);
  }

  void OnEvent(std::uint64_t generation, const ocserv_agent::v1::PolicyEvent& wire) {
    const PolicyEvent event = DecodePolicyEvent(wire);
    EventDisposition d;
    bool restored = false;
    {
      std::lock_guard lock(mu_);
      if (generation != generation_) return;
      const bool first = logic_.state() != StreamState::kStreaming;
      d = logic_.OnEvent(deps_.clock.now(), event);
      if (first) {
        restored = had_failure_;
        had_failure_ = false;
        last_error_.clear();
        spdlog::info("policy stream to {} is up (resuming after version {}, heartbeat every {} s)",
                     options_.portal_address, logic_.after_version(), logic_.heartbeat_interval().count() / 1000);
      }
    }
    switch (d) {
      case EventDisposition::kApply:
        deps_.enforcer.Apply(event);
        break;
      case EventDisposition::kHeartbeat:
        break;
      case EventDisposition::kStale:
        deps_.enforcer.Count(event.kind, EventResult::kStale);
        spdlog::debug("policy stream: event version {} ({}) ignored: not newer than the last applied", event.version,
                      to_string(event.kind));
        break;
      case EventDisposition::kUnknown:
        deps_.enforcer.Count(event.kind, EventResult::kUnknown);
        WarnLimited("policy stream: event version {} of a kind this agent does not know: skipped", event.version);
        break;
      case EventDisposition::kInvalid:
        deps_.enforcer.Count(event.kind, EventResult::kInvalid);
        WarnLimited("policy stream: event version {} ({}) is malformed ({}): skipped", event.version,
                    std::string(to_string(event.kind)), event.invalid);
        break;
    }
    if (restored && deps_.on_restored) deps_.on_restored();
  }

  // The stream is cancelled next (by the reader); OnStreamDone then schedules the reconnect without a second line.
  void OnUnparsable(std::uint64_t generation, const std::string& why) {
    std::uint64_t after = 0;
    {
      std::lock_guard lock(mu_);
      if (generation != generation_) return;
      logic_.OnUnparsable();
      end_reason_ = why;
      after = logic_.after_version();
    }
    deps_.enforcer.Count(PolicyEventKind::kUnknown, EventResult::kInvalid);
    WarnLimited("policy stream to {}: {} after version {}: ending the stream, it resumes from there after the backoff",
                options_.portal_address, why, after);
  }

  void OnStreamDone(std::uint64_t generation, const grpc::Status& status) {
    std::unique_lock lock(mu_);
    if (generation == generation_) stream_ = nullptr;
    if (stopping_) {
      cv_.notify_all();
      return;
    }
    // A stream this client ended itself (an unparsable message) says why rather than CANCELLED.
    const bool ended_by_us = !end_reason_.empty();
    const absl::Status st = ended_by_us ? absl::DataLossError(end_reason_) : ToAbsl(status);
    end_reason_.clear();
    const auto retry = logic_.OnClosed(deps_.clock.now(), st);
    // A stream this client ended over an unparsable message was no outage: the portal answered. Not counting it as
    // one keeps a portal that re-sends the same bad message from triggering re-checks on every reconnect.
    if (!ended_by_us) had_failure_ = true;
    last_error_ = st.ToString();
    if (st.code() == absl::StatusCode::kUnimplemented) {
      if (retry.first_unimplemented) {
        spdlog::warn("policy stream: the portal {} does not serve ocserv_agent.v1.PolicyWatch (UNIMPLEMENTED); "
                     "revocations are not pushed, the agent relies on re-checks; trying again every {} s",
                     options_.portal_address, retry.delay.count() / 1000);
      }
    } else if (ended_by_us) {
      spdlog::debug("policy stream to {} ended ({}); reconnecting in {} ms after version {}", options_.portal_address,
                    st.ToString(), retry.delay.count(), logic_.after_version());
    } else {
      spdlog::warn("policy stream to {} ended ({}); reconnecting in {} ms after version {}", options_.portal_address,
                   st.ToString(), retry.delay.count(), logic_.after_version());
    }
    // Scheduled before the lock is released, so that whoever sees this stream's end in status() (kBackoff, the
    // reconnect counted) also finds its reconnect already scheduled. Schedulers run tasks without their own lock held,
    // as the watchdog's RunAt under mu_ already relies on.
    std::weak_ptr<Core> weak = shared_from_this();
    deps_.scheduler.RunAt(retry.at, [weak] {
      if (auto core = weak.lock()) core->Open();
    });
  }

  void ScheduleWatchdogLocked(std::uint64_t generation, Clock::MonoTime at) {
    std::weak_ptr<Core> weak = shared_from_this();
    deps_.scheduler.RunAt(at, [weak, generation] {
      if (auto core = weak.lock()) core->CheckWatchdog(generation);
    });
  }

  // One pending watchdog task per stream: when it fires early (events moved the deadline), it re-arms itself.
  void CheckWatchdog(std::uint64_t generation) {
    std::unique_lock lock(mu_);
    if (generation != generation_ || stream_ == nullptr || stopping_) return;
    const auto now = deps_.clock.now();
    if (!logic_.CheckWatchdog(now)) {
      if (now < logic_.watchdog_deadline()) ScheduleWatchdogLocked(generation, logic_.watchdog_deadline());
      return;
    }
    spdlog::warn("policy stream to {}: no event for {} ms (3 heartbeat intervals): the stream is dead, cancelling it",
                 options_.portal_address,
                 (logic_.heartbeat_interval().count() > 0 ? 3 * logic_.heartbeat_interval()
                                                          : options_.timings.first_heartbeat_wait)
                     .count());
    stream_->Cancel();  // OnDone follows and schedules the reconnect
  }

  void Shutdown() {
    std::unique_lock lock(mu_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->Cancel();
    cv_.wait(lock, [this] { return stream_ == nullptr; });
    logic_.Disable();
  }

  WatchStatus status() const {
    std::lock_guard lock(mu_);
    WatchStatus s;
    s.state = logic_.state();
    s.last_applied_version = logic_.after_version();
    s.heartbeat_interval = logic_.heartbeat_interval();
    s.counters = logic_.counters();
    s.last_error = last_error_;
    return s;
  }

 private:
  // A portal sending garbage fast must not flood the log: the first few, then one in 1000.
  template <class... Args>
  void WarnLimited(fmt::format_string<Args...> fmt, Args&&... args) {
    const std::uint64_t n = warnings_.fetch_add(1, std::memory_order_relaxed);
    if (n < 10 || n % 1000 == 0) spdlog::warn(fmt, std::forward<Args>(args)...);
  }

  grpc::TemplatedGenericStub<grpc::ByteBuffer, grpc::ByteBuffer> stub_;
  Deps deps_;
  const WatchClientOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  WatchStreamLogic logic_;            // guarded by mu_
  Stream* stream_ = nullptr;          // the open stream, if any; guarded by mu_
  std::uint64_t generation_ = 0;      // of the open (or last) stream; guarded by mu_
  bool stopping_ = false;             // guarded by mu_
  bool had_failure_ = false;          // a stream ended since the last one came up; guarded by mu_
  std::string last_error_;            // guarded by mu_
  std::string end_reason_;            // why this client ended the open stream itself, if it did; guarded by mu_
  std::atomic<std::uint64_t> warnings_{0};
};

WatchClient::WatchClient(std::shared_ptr<grpc::Channel> channel, Deps deps, WatchClientOptions options,
                         ReconnectBackoff::JitterSource jitter)
    : core_(std::make_shared<Core>(std::move(channel), std::move(deps), std::move(options), std::move(jitter))) {}

WatchClient::~WatchClient() { Shutdown(); }

void WatchClient::Start() { core_->Open(); }

void WatchClient::Shutdown() {
  if (core_) core_->Shutdown();
}

WatchStatus WatchClient::status() const { return core_->status(); }

}  // namespace oa
