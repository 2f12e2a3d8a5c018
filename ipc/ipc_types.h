// The plain C++ form of one helper <-> agent exchange (proto/ocserv_agent/v1/ipc.proto): what the helper sends
// (IpcRequest), what goes back on the wire (IpcResponse), and what the authorizer answers (IpcReply). No protobuf,
// no absl: the helper (a static binary whose start-up is paid on every VPN connection) includes this too.
// Plain data, no thread-safety of its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resilience/decision.h"

namespace oa {

// The only version this code writes and accepts (ocserv_agent.v1.IpcVersion).
inline constexpr std::uint32_t kIpcVersion = 1;

// ocserv_agent.v1.Reason. Values are the wire numbers; a decoded request may carry a number outside this list.
enum class IpcReason : std::uint32_t { kUnspecified = 0, kConnect = 1, kHostUpdate = 2, kDisconnect = 3 };

// ocserv_agent.v1.Verdict and ocserv_agent.v1.DecisionSource, as numbers on the wire.
enum class WireVerdict : std::uint32_t { kUnspecified = 0, kAllow = 1, kDeny = 2 };
enum class WireSource : std::uint32_t {
  kUnspecified = 0, kPortal = 1, kCache = 2, kStale = 3, kFailOpen = 4, kFailClose = 5, kCoalesced = 6, kAck = 7
};

// ocserv_agent.v1.HelperRequest: every variable ocserv sets for a connect/host-update/disconnect script
// (docs/ocserv.md#environment). A variable ocserv did not set is an empty string / empty list / zero.
struct IpcRequest {
  std::uint32_t version = kIpcVersion;
  std::string request_id;
  IpcReason reason = IpcReason::kUnspecified;
  std::uint32_t deadline_ms = 0;  // what was left of the helper's deadline when it sent the request; 0 = unknown

  std::string id;  // ID: ocserv worker pid (= occtl id)
  std::string username;
  std::string groupname;
  std::string hostname;
  std::string remote_hostname;
  std::string vhost;
  std::string device;
  std::string user_agent;
  std::string device_type;
  std::string device_platform;
  std::string ip_real;
  std::string ip_real_local;
  std::string ip_local;
  std::string ip_remote;
  std::string ipv6_local;
  std::string ipv6_remote;
  std::string ipv6_prefix;

  // OCSERV_* space-separated lists, one item per element.
  std::vector<std::string> routes;
  std::vector<std::string> routes4;
  std::vector<std::string> routes6;
  std::vector<std::string> no_routes;
  std::vector<std::string> no_routes4;
  std::vector<std::string> no_routes6;
  std::vector<std::string> dns;
  std::vector<std::string> dns4;
  std::vector<std::string> dns6;
  std::string restrict_to_routes;
  std::vector<std::string> allow_ports;
  std::vector<std::string> deny_ports;

  // disconnect only
  std::uint64_t stats_bytes_in = 0;
  std::uint64_t stats_bytes_out = 0;
  std::uint64_t stats_duration = 0;  // seconds

  bool operator==(const IpcRequest&) const = default;
};

// ocserv_agent.v1.HelperResponse, as it travels.
struct IpcResponse {
  std::uint32_t version = kIpcVersion;
  std::string request_id;
  WireVerdict verdict = WireVerdict::kUnspecified;
  WireSource source = WireSource::kUnspecified;
  std::string reason;  // deny reason, for ocserv's log
  std::string error;   // the agent refused the request or connection (bad frame, max_connections, uid): no verdict

  bool operator==(const IpcResponse&) const = default;
};

// What the authorizer answers for a connect: a decision (verdict + source + reason). Host-update and disconnect are
// acknowledged by the server itself (see ipc/authorizer.h), never decided.
struct IpcReply {
  enum class Kind : std::uint8_t { kDecision, kAck };
  Kind kind = Kind::kDecision;
  Decision decision;  // meaningful when kind == kDecision

  static IpcReply FromDecision(Decision d) { return IpcReply{Kind::kDecision, std::move(d)}; }
  static IpcReply Ack() { return IpcReply{Kind::kAck, Decision{}}; }
};

inline WireSource ToWire(DecisionSource s) {
  switch (s) {
    case DecisionSource::kPortal: return WireSource::kPortal;
    case DecisionSource::kCache: return WireSource::kCache;
    case DecisionSource::kStale: return WireSource::kStale;
    case DecisionSource::kFailOpen: return WireSource::kFailOpen;
    case DecisionSource::kFailClose: return WireSource::kFailClose;
    case DecisionSource::kCoalesced: return WireSource::kCoalesced;
  }
  return WireSource::kUnspecified;
}

inline const char* ReasonName(IpcReason r) {
  switch (r) {
    case IpcReason::kConnect: return "connect";
    case IpcReason::kHostUpdate: return "host-update";
    case IpcReason::kDisconnect: return "disconnect";
    case IpcReason::kUnspecified: break;
  }
  return "unknown";
}

inline const char* SourceName(WireSource s) {
  switch (s) {
    case WireSource::kPortal: return "portal";
    case WireSource::kCache: return "cache";
    case WireSource::kStale: return "stale";
    case WireSource::kFailOpen: return "fail_open";
    case WireSource::kFailClose: return "fail_close";
    case WireSource::kCoalesced: return "coalesced";
    case WireSource::kAck: return "ack";
    case WireSource::kUnspecified: break;
  }
  return "unspecified";
}

}  // namespace oa
