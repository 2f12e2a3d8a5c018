#include "ipc/ipc_exchange.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "common/utf8.h"
#include "ipc/wire_codec.h"
#include "ipc/wire_frame.h"

namespace oa {
namespace {

// A reply must fit what the helper accepts; a longer deny reason is cut.
constexpr std::size_t kMaxReasonBytes = kMaxResponseBodyBytes - 1024;

}  // namespace

IpcResponse DecisionReply(const std::string& request_id, IpcReply reply) {
  IpcResponse r;
  r.request_id = request_id;
  if (reply.kind == IpcReply::Kind::kAck) {
    r.source = WireSource::kAck;
    return r;
  }
  r.verdict = reply.decision.verdict == Verdict::kAllow ? WireVerdict::kAllow : WireVerdict::kDeny;
  r.source = ToWire(reply.decision.source);
  r.reason = std::move(reply.decision.reason);
  if (r.reason.size() > kMaxReasonBytes) r.reason.resize(kMaxReasonBytes);
  SanitizeUtf8(&r.reason);
  return r;
}

IpcResponse AckReply(const std::string& request_id) {
  IpcResponse r;
  r.request_id = request_id;
  r.source = WireSource::kAck;
  return r;
}

IpcResponse ErrorReply(const std::string& request_id, std::string error) {
  IpcResponse r;
  r.request_id = request_id;
  r.error = std::move(error);
  return r;
}

std::string ErrorFrame(std::string error) {
  std::string frame;
  EncodeResponseFrame(ErrorReply("", std::move(error)), &frame);
  return frame;
}

void CountReply(IpcServerCounters& counters, const IpcResponse& reply) {
  if (!reply.error.empty()) {
    counters.replies_error.fetch_add(1, std::memory_order_relaxed);
  } else if (reply.verdict == WireVerdict::kAllow) {
    counters.replies_allow.fetch_add(1, std::memory_order_relaxed);
  } else if (reply.verdict == WireVerdict::kDeny) {
    counters.replies_deny.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters.replies_ack.fetch_add(1, std::memory_order_relaxed);
  }
}

// Here, because only the server sees every answer (the backstop's too) and the whole latency from accept to reply.
// Degraded sources (stale, fail_open, fail_close) are warnings: an operator filtering on warnings sees every connect
// that did not get a live verdict. Every field the helper sent is quoted and escaped ({:?}): a request id, ip or id
// holding "\n" or " verdict=allow" must not forge a second line or a second verdict field. Only the values the
// server itself chose stay bare.
void AuditDecision(const IpcRequest& request, const IpcResponse& r,
                   std::chrono::duration<double, std::milli> latency) {
  const bool degraded =
      r.source == WireSource::kStale || r.source == WireSource::kFailOpen || r.source == WireSource::kFailClose;
  const auto level = degraded ? spdlog::level::warn : spdlog::level::info;
  if (!spdlog::should_log(level)) return;
  spdlog::log(level,
              "decision user={:?} group={:?} ip={:?} id={:?} verdict={} source={} latency_ms={:.3f} reason={:?} "
              "request_id={:?}",
              request.username, request.groupname, request.ip_real, request.id,
              r.verdict == WireVerdict::kAllow ? "allow" : r.verdict == WireVerdict::kDeny ? "deny" : "none",
              SourceName(r.source), latency.count(), r.reason, r.request_id);
}

}  // namespace oa
