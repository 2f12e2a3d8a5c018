#include "agent/enforcement/watch_client.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <random>

#include "agent/enforcement/watch_event_decoder.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "ocserv_agent/v1/policy_watch.grpc.pb.h"

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

}  // namespace

class WatchClient::Core : public std::enable_shared_from_this<WatchClient::Core> {
 public:
  Core(std::shared_ptr<grpc::Channel> channel, Deps deps, WatchClientOptions options,
       ReconnectBackoff::JitterSource jitter)
      : stub_(ocserv_agent::v1::PolicyWatch::NewStub(channel)),
        deps_(std::move(deps)),
        options_(std::move(options)),
        logic_(options_.timings, jitter ? std::move(jitter) : DefaultJitter()) {}

  // One stream: owned by itself from StartCall until OnDone.
  class Stream final : public grpc::ClientReadReactor<ocserv_agent::v1::PolicyEvent> {
   public:
    Stream(std::shared_ptr<Core> core, std::uint64_t generation) : core_(std::move(core)), generation_(generation) {}

    void Begin(std::uint64_t after_version) {
      request_.set_agent_id(core_->options_.agent_id);
      request_.set_after_version(after_version);
      // No deadline: the stream is meant to stay open; the watchdog replaces one (protocol-reference.md).
      core_->stub_->async()->Watch(&context_, &request_, this);
      StartRead(&event_);
      StartCall();
    }
    void Cancel() { context_.TryCancel(); }

    void OnReadDone(bool ok) override {
      if (!ok) return;  // the stream ended: OnDone follows
      core_->OnEvent(generation_, event_);
      event_.Clear();
      StartRead(&event_);
    }
    void OnDone(const grpc::Status& status) override {
      core_->OnStreamDone(generation_, status);
      delete this;
    }

   private:
    std::shared_ptr<Core> core_;
    const std::uint64_t generation_;
    grpc::ClientContext context_;
    ocserv_agent::v1::WatchRequest request_;
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

  void OnStreamDone(std::uint64_t generation, const grpc::Status& status) {
    std::unique_lock lock(mu_);
    if (generation == generation_) stream_ = nullptr;
    if (stopping_) {
      cv_.notify_all();
      return;
    }
    const absl::Status st = ToAbsl(status);
    const auto retry = logic_.OnClosed(deps_.clock.now(), st);
    had_failure_ = true;
    last_error_ = st.ToString();
    if (st.code() == absl::StatusCode::kUnimplemented) {
      if (retry.first_unimplemented) {
        spdlog::warn("policy stream: the portal {} does not serve ocserv_agent.v1.PolicyWatch (UNIMPLEMENTED); "
                     "revocations are not pushed, the agent relies on re-checks; trying again every {} s",
                     options_.portal_address, retry.delay.count() / 1000);
      }
    } else {
      spdlog::warn("policy stream to {} ended ({}); reconnecting in {} ms after version {}", options_.portal_address,
                   st.ToString(), retry.delay.count(), logic_.after_version());
    }
    std::weak_ptr<Core> weak = shared_from_this();
    lock.unlock();
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

  std::unique_ptr<ocserv_agent::v1::PolicyWatch::Stub> stub_;
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
