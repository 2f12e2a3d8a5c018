// WatchClient: the agent's one ocserv_agent.v1.PolicyWatch/Watch stream to the portal (shared/DESIGN.md "Live
// enforcement"), on the channel it shares with CheckPolicy. gRPC callback API: no thread waits on the stream, and
// nothing here runs on or blocks the IPC loop. The call goes through gRPC's generic stub with raw bytes and each
// message is parsed here: gRPC 1.51's typed reader would drop a message that is not a PolicyEvent without a word;
// this client counts it as invalid, logs it (rate-limited) and ends the stream, resuming after the last applied
// version (nothing skipped).
//
// WatchStreamLogic decides (ordering, watchdog, backoff); this class does what it says: opens the stream with
// after_version = last applied version, hands each new event to the PolicyEnforcer (on the gRPC callback thread,
// one event at a time: the next read starts after the event is applied, so a flooding portal is slowed down, not
// queued), cancels a stream the watchdog declares dead, and schedules the next attempt. `on_restored` runs when a
// stream delivers its first event after an earlier one failed (the re-check after an outage hooks in there).
//
// Time: the Clock and Scheduler are injected (FakeClock + ManualScheduler in tests); only the gRPC wire is real.
// Thread-safety: Start/Shutdown from one thread; status() from any. Shutdown cancels the stream and waits for its
// end; after it no callback runs. The scheduler may still hold tasks: they find the client gone and do nothing.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "agent/enforcement/policy_enforcer.h"
#include "agent/enforcement/watch_stream_logic.h"
#include "common/scheduler.h"
#include "resilience/clock.h"

namespace grpc {
class Channel;
}

namespace oa {

struct WatchClientOptions {
  std::string agent_id;
  WatchTimings timings;
  std::string portal_address;  // for log lines
};

struct WatchStatus {
  StreamState state = StreamState::kDisabled;
  std::uint64_t last_applied_version = 0;
  std::chrono::milliseconds heartbeat_interval{0};
  WatchStreamCounters counters;
  std::string last_error;
};

class WatchClient {
 public:
  struct Deps {
    const Clock& clock;
    Scheduler& scheduler;
    PolicyEnforcer& enforcer;
    std::function<void()> on_restored;  // optional
  };

  WatchClient(std::shared_ptr<grpc::Channel> channel, Deps deps, WatchClientOptions options,
              ReconnectBackoff::JitterSource jitter = {});
  ~WatchClient();  // Shutdown()
  WatchClient(const WatchClient&) = delete;
  WatchClient& operator=(const WatchClient&) = delete;

  void Start();
  void Shutdown();
  WatchStatus status() const;

  class Core;  // shared with the reactor and the scheduled tasks

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace oa
