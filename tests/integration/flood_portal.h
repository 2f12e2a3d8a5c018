// FloodPortal: a portal for the policy-stream flood test (issue 11 "Bad input": 100k events per second). An
// in-process gRPC server over mTLS on loopback (the dev PKI's portal.pem, client certificates from ca.pem) serving
//   - vpn.v1.AuthService/CheckPolicy: Allow for every user (the "real answer" the agent must keep giving), counted;
//   - ocserv_agent.v1.PolicyWatch/Watch: a Heartbeat at once, then — when the test calls StartFlood — `events`
//     pre-serialized Invalidate events, versions 1..events, written back to back as raw bytes with write buffer
//     hints (a flush every `flush_every`), as fast as gRPC and the agent's flow control let them through.
// The reference portal (tests/fakes/portal_sim) publishes ~52k events/s at best: the point here is the agent's side.
// Everything else (ReportConnect, ValidateSession, ...) is UNIMPLEMENTED. For tests only; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace oa::integration {

struct FloodPortalOptions {
  std::uint64_t events = 300'000;
  int subjects = 1000;               // the events invalidate users "u0" .. "u<subjects-1>" in turn
  int flush_every = 64;              // every n-th write goes out without a buffer hint
  std::uint32_t heartbeat_interval_s = 60;
};

struct FloodStats {
  std::uint64_t watch_calls = 0;
  std::uint64_t last_after_version = 0;  // of the last Watch call
  std::uint64_t check_policy_calls = 0;
  std::uint64_t written = 0;             // flood events whose write completed
  bool flood_done = false;               // all `events` written
  double flood_seconds = 0;              // first flood write started -> last one completed
};

class FloodPortal {
 public:
  static absl::StatusOr<std::unique_ptr<FloodPortal>> Start(FloodPortalOptions options);
  ~FloodPortal();  // cancels the open stream
  FloodPortal(const FloodPortal&) = delete;
  FloodPortal& operator=(const FloodPortal&) = delete;

  std::string address() const;
  // True once a Watch stream is open and its Heartbeat was written (bounded wait).
  bool WaitForWatch(std::chrono::milliseconds timeout);
  // The open Watch stream starts writing the events; false when no stream is open.
  bool StartFlood();
  FloodStats Stats() const;

  class Impl;

 private:
  explicit FloodPortal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace oa::integration
