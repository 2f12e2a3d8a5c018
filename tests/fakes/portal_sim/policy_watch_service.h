// SimPolicyWatch: the reference portal's ocserv_agent.v1.PolicyWatch (protocol-reference.md "Our extension"):
// every stream gets a Heartbeat at once, then the held events after its after_version (or a Resync when the log no
// longer holds them), then new events as they are published, with a Heartbeat every `heartbeat_interval`.
// The event log is bounded (the oldest go first). Versions start from the wall clock in milliseconds, so a restarted
// sim keeps publishing above what agents applied before.
//
// Each stream is a ServerWriteReactor with its own bounded queue; a stream that falls more than `max_queue` events
// behind is ended with RESOURCE_EXHAUSTED (the agent resumes from its last applied version).
// Thread-safety: Publish/SetMuted/counters from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "ocserv_agent/v1/policy_watch.grpc.pb.h"

namespace oa::sim {

struct SimWatchOptions {
  std::chrono::milliseconds heartbeat_interval{5000};
  std::size_t max_log = 1000;    // events held for resumption
  std::size_t max_queue = 100000;  // per stream
};

struct SimWatchStats {
  std::uint64_t streams_open = 0;
  std::uint64_t streams_total = 0;
  std::uint64_t published = 0;
  std::uint64_t resyncs_sent = 0;
  std::uint64_t last_version = 0;
  std::uint64_t last_after_version = 0;  // what the latest stream asked to resume from
};

class SimPolicyWatch final : public ocserv_agent::v1::PolicyWatch::CallbackService {
 public:
  explicit SimPolicyWatch(SimWatchOptions options);
  ~SimPolicyWatch() override;  // Stop()

  grpc::ServerWriteReactor<ocserv_agent::v1::PolicyEvent>* Watch(
      grpc::CallbackServerContext* context, const ocserv_agent::v1::WatchRequest* request) override;

  // Stamps version and published_at, keeps it in the log and sends it to every stream. Returns the version.
  std::uint64_t Publish(ocserv_agent::v1::PolicyEvent event);
  // Muted: nothing is sent (no heartbeats, no events) — a portal that went silent, for the agent's watchdog.
  void SetMuted(bool muted);
  // Drops the log (as if the portal had lost it): a resume from any earlier version gets a Resync.
  void ForgetLog();
  SimWatchStats Stats() const;
  // Ends every stream (UNAVAILABLE) and stops the heartbeat thread. Idempotent.
  void Stop();

  class Stream;

 private:
  void HeartbeatLoop();
  void StreamDone(Stream* s);
  ocserv_agent::v1::PolicyEvent HeartbeatEvent() const;

  const SimWatchOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ocserv_agent::v1::PolicyEvent> log_;  // guarded by mu_
  std::uint64_t last_version_;                     // guarded by mu_
  std::uint64_t forgotten_up_to_;                  // versions <= this are no longer held; guarded by mu_
  std::set<Stream*> streams_;                      // guarded by mu_
  bool muted_ = false;                             // guarded by mu_
  bool stopping_ = false;                          // guarded by mu_
  SimWatchStats stats_;                            // guarded by mu_
  std::thread heartbeats_;
};

}  // namespace oa::sim
