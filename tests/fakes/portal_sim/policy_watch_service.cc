#include "policy_watch_service.h"

#include <spdlog/spdlog.h>

#include "google/protobuf/util/time_util.h"

namespace oa::sim {

using ocserv_agent::v1::PolicyEvent;

namespace {
// Not TimeUtil::GetCurrentTime(): Debian 12's protobuf (3.21) implements it with time(nullptr), whole seconds, which
// made published_at up to 1 s early and every revocation latency measured from it wrong by that much.
google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}
}  // namespace

class SimPolicyWatch::Stream final : public grpc::ServerWriteReactor<PolicyEvent> {
 public:
  Stream(SimPolicyWatch* owner, std::size_t max_queue) : owner_(owner), max_queue_(max_queue) {}

  // Called with the owner's lock held.
  void EnqueueLocked(const PolicyEvent& e) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    if (queue_.size() >= max_queue_) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "agent too slow: stream queue full"));
      return;
    }
    queue_.push_back(e);
    if (!writing_) WriteNextLocked();
  }
  void FinishOnce(const grpc::Status& s) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      }
      return;
    }
    queue_.pop_front();
    if (!queue_.empty() && !finished_) WriteNextLocked();
  }
  void OnCancel() override { FinishOnce(grpc::Status::CANCELLED); }
  void OnDone() override {
    owner_->StreamDone(this);
    delete this;
  }

 private:
  void WriteNextLocked() {
    writing_ = true;
    StartWrite(&queue_.front());
  }

  SimPolicyWatch* owner_;
  const std::size_t max_queue_;
  std::mutex mu_;
  std::deque<PolicyEvent> queue_;  // front is being written while writing_
  bool writing_ = false;
  bool finished_ = false;
};

SimPolicyWatch::SimPolicyWatch(SimWatchOptions options)
    : options_(options),
      last_version_(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::system_clock::now().time_since_epoch())
                                                   .count())),
      forgotten_up_to_(last_version_) {
  stats_.last_version = last_version_;
  heartbeats_ = std::thread([this] { HeartbeatLoop(); });
}

SimPolicyWatch::~SimPolicyWatch() { Stop(); }

PolicyEvent SimPolicyWatch::HeartbeatEvent() const {
  PolicyEvent hb;
  hb.set_version(0);
  *hb.mutable_published_at() = Now();
  hb.mutable_heartbeat()->set_interval_seconds(
      static_cast<std::uint32_t>(std::max<long long>(1, options_.heartbeat_interval.count() / 1000)));
  return hb;
}

grpc::ServerWriteReactor<PolicyEvent>* SimPolicyWatch::Watch(grpc::CallbackServerContext*,
                                                             const ocserv_agent::v1::WatchRequest* request) {
  auto* s = new Stream(this, options_.max_queue);
  std::lock_guard lock(mu_);
  if (stopping_) {
    s->FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "portal sim is stopping"));
    return s;
  }
  streams_.insert(s);
  ++stats_.streams_open;
  ++stats_.streams_total;
  const std::uint64_t after = request->after_version();
  stats_.last_after_version = after;
  if (muted_) return s;
  s->EnqueueLocked(HeartbeatEvent());
  if (after == 0 || after >= last_version_) return s;  // only what is published from now on
  if (after < forgotten_up_to_) {
    // Events after `after` are gone: the agent must drop its cache and re-check everything.
    PolicyEvent resync;
    resync.set_version(last_version_);
    *resync.mutable_published_at() = Now();
    resync.mutable_resync();
    ++stats_.resyncs_sent;
    spdlog::info("portal-sim: agent '{}' resumes after version {}, no longer held (oldest held {}): Resync",
                 request->agent_id(), after, forgotten_up_to_ + 1);
    s->EnqueueLocked(resync);
    return s;
  }
  for (const auto& e : log_) {
    if (e.version() > after) s->EnqueueLocked(e);
  }
  return s;
}

std::uint64_t SimPolicyWatch::Publish(PolicyEvent event) {
  std::lock_guard lock(mu_);
  event.set_version(++last_version_);
  *event.mutable_published_at() = Now();
  log_.push_back(event);
  while (log_.size() > options_.max_log) {
    forgotten_up_to_ = log_.front().version();
    log_.pop_front();
  }
  ++stats_.published;
  stats_.last_version = last_version_;
  if (!muted_) {
    for (Stream* s : streams_) s->EnqueueLocked(event);
  }
  return last_version_;
}

void SimPolicyWatch::SetMuted(bool muted) {
  std::lock_guard lock(mu_);
  muted_ = muted;
}

void SimPolicyWatch::ForgetLog() {
  std::lock_guard lock(mu_);
  log_.clear();
  forgotten_up_to_ = last_version_;
}

SimWatchStats SimPolicyWatch::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void SimPolicyWatch::HeartbeatLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.heartbeat_interval, [this] { return stopping_; });
    if (stopping_ || muted_) continue;
    const PolicyEvent hb = HeartbeatEvent();
    for (Stream* s : streams_) s->EnqueueLocked(hb);
  }
}

void SimPolicyWatch::StreamDone(Stream* s) {
  std::lock_guard lock(mu_);
  if (streams_.erase(s) > 0) --stats_.streams_open;
  cv_.notify_all();
}

void SimPolicyWatch::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !heartbeats_.joinable()) return;
    stopping_ = true;
    for (Stream* s : streams_) s->FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "portal sim stopped"));
    cv_.notify_all();
  }
  if (heartbeats_.joinable()) heartbeats_.join();
}

}  // namespace oa::sim
