// PortalSim: the reference portal (`ocserv-portal-sim`) — a real gRPC server of vpn.v1.AuthService and
// vpn.v1.EventService over mTLS, answering from a YAML policy (sim_policy.h), with injectable faults and call
// counters, for tests, the demo and benchmarks. Never shipped in the agent's package.
//
// It also serves ocserv_agent.v1.PortalSimControl (proto/ocserv_agent/v1/portal_sim.proto) on the same port, so a
// test can change faults and read counters of a sim running in another process. Calls use the callback API: a call
// held by latency or `hang` costs no thread. Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace oa::sim {

struct SimFaults {
  std::uint32_t latency_ms = 0;  // added before every vpn.v1 answer
  double error_rate = 0;         // 0..1: share of vpn.v1 calls answered with error_code
  int error_code = 14;           // grpc::StatusCode (14 = UNAVAILABLE)
  bool hang = false;             // accept vpn.v1 calls and never answer (until cancelled or shut down)
};

struct PortalSimOptions {
  std::string listen = "127.0.0.1:0";  // port 0: pick a free one (see PortalSim::port)
  std::string cert_file;               // server certificate and key (required)
  std::string key_file;
  std::string client_ca_file;          // require and verify client certificates from this CA; "" = do not ask
  std::string policy_file;             // "" = deny everyone ("no policy for this user")
  SimFaults faults;
  // Accept TCP connections and close them at once, without TLS: a portal whose TLS is broken. No gRPC (and so no
  // control service) is served in this mode.
  bool refuse_tls = false;
  // ocserv_agent.v1.PolicyWatch (policy_watch_service.h); false: not served (agents get UNIMPLEMENTED).
  bool policy_watch = true;
  std::chrono::milliseconds watch_heartbeat_interval{5000};
  std::size_t watch_log_size = 1000;
};

// One policy event to publish (PortalSim::Publish): exactly one of username / groupname / all.
struct SimEvent {
  enum class Kind { kRevoke, kRestore, kInvalidate, kRecheck, kResync } kind = Kind::kRevoke;
  std::string username;
  std::string groupname;
  bool all = false;
  std::string reason;
  int disconnect_reason = 0;
};

struct PortalSimStats {
  std::map<std::string, std::uint64_t> calls_by_method;       // vpn.v1 methods only
  std::map<std::string, std::uint64_t> check_policy_by_user;
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t injected_errors = 0;
  std::uint64_t hung = 0;
  std::uint64_t policy_reloads = 0;
  std::uint64_t policy_reload_failures = 0;
  std::uint64_t policy_epoch = 0;
  std::uint64_t in_flight = 0;
  // What ReportDisconnect calls carried, summed: tests check that ocserv's STATS_* reach the portal.
  std::uint64_t reported_bytes_received = 0;
  std::uint64_t reported_bytes_sent = 0;
  std::int64_t reported_duration_seconds = 0;
  std::map<std::string, std::uint64_t> reported_connects_by_user;
  // Session events by metadata["event_id"]; duplicates are dropped (not in the sums above).
  std::uint64_t events_received = 0;
  std::uint64_t events_unique = 0;
  std::uint64_t events_duplicate = 0;
  std::uint64_t events_without_id = 0;
  // PolicyWatch.
  std::uint64_t watch_streams_open = 0;
  std::uint64_t watch_events_published = 0;
  std::uint64_t watch_last_version = 0;
  std::uint64_t watch_resyncs_sent = 0;
  std::uint64_t watch_last_after_version = 0;

  std::uint64_t calls(const std::string& method) const {
    auto it = calls_by_method.find(method);
    return it == calls_by_method.end() ? 0 : it->second;
  }
};

class PortalSim {
 public:
  // Loads the policy and the certificates and starts serving. Fails on a bad policy, unreadable file or busy port.
  static absl::StatusOr<std::unique_ptr<PortalSim>> Start(const PortalSimOptions& options);
  ~PortalSim();  // Shutdown()

  int port() const;
  std::string address() const;  // "127.0.0.1:PORT" (the listen host with the bound port)

  void SetFaults(const SimFaults& faults);
  SimFaults faults() const;
  PortalSimStats Stats() const;
  PortalSimStats ResetStats();  // returns the counters before the reset (policy counters and epoch are kept)

  // Reads the policy file again (what SIGHUP does). A bad file leaves the old policy in force and says why.
  // A reload that turns a user or group from allow to deny publishes a Revoke for it.
  absl::Status ReloadPolicy();

  // PolicyWatch: publish an event to every agent (returns its version); mute the streams (no heartbeat, no event);
  // forget the event log (the next resume from an older version gets a Resync).
  std::uint64_t Publish(const SimEvent& event);
  void SetWatchMuted(bool muted);
  void ForgetWatchLog();

  // Stops serving: calls still held (latency, hang) end with UNAVAILABLE/CANCELLED. Idempotent.
  void Shutdown();

  class Impl;

 private:
  explicit PortalSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace oa::sim
