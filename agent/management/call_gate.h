// CallGate: the first and last thing every management RPC handler does. Admit() reads the caller's verified
// certificate from the gRPC AuthContext, checks it against the AccessPolicy for this RPC; Finish() writes the audit
// line (identity, role, RPC, result) and counts the outcome. Internal to agent/management (includes gRPC).
//
// Thread-safety: the gate is immutable apart from its atomic counters; one Call object per RPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <string_view>

#include "agent/management/access_policy.h"
#include "agent/management/management_counters.h"
#include "agent/management/slow_call_limiter.h"

namespace oa {

// The names in the peer's verified certificate: peer_uri / peer_dns / x509_common_name of the AuthContext.
PeerCertNames PeerNamesFromAuthContext(const grpc::AuthContext* auth);
PeerCertNames PeerNamesFromContext(const grpc::ServerContext& context);

grpc::Status ToGrpcStatus(const absl::Status& status);

class CallGate {
 public:
  CallGate(const AccessPolicy& policy, ManagementCounters& counters, SlowCallLimiter& limiter)
      : policy_(policy), counters_(counters), limiter_(limiter) {}

  enum class Weight { kSlow, kFollow };

  class Call {
   public:
    bool admitted() const { return refusal_.ok(); }
    const grpc::Status& refusal() const { return refusal_; }
    const std::string& identity() const { return identity_; }  // escaped for logging
    // Writes the audit line and counts the outcome; returns `status` so that a handler ends with
    // `return call.Finish(status);`. The status message is escaped here; caller text in `detail` must already be
    // (AuditText, audit_text.h).
    grpc::Status Finish(grpc::Status status, std::string_view detail = {});

   private:
    friend class CallGate;
    Call(ManagementCounters& counters, std::string_view rpc) : counters_(counters), rpc_(rpc) {}
    ManagementCounters& counters_;
    std::string_view rpc_;
    std::string identity_;
    std::string role_;
    grpc::Status refusal_;
    std::string listed_identity_;               // unescaped, for the per-identity limits
    std::optional<ManagementRole> role_value_;  // set when admitted
    std::optional<SlowCallLimiter::Slot> slot_;  // held for the whole call by a slow handler (Reserve)
  };

  // rpc: the full method name, as in the AccessPolicy table. When !admitted(), the handler returns
  // call.Finish(call.refusal()).
  Call Admit(const grpc::ServerContext& context, std::string_view rpc) const;
  // The same from the connection's AuthContext, for the check before any handler (management_auth_processor.h).
  Call Admit(const grpc::AuthContext* auth, std::string_view rpc) const;

  // For an admitted call that may last (SlowCallLimiter): reserves a slot in the caller's role budget (and, for a
  // log follow, in its identity's follows) for as long as `call` lives. False, with call.refusal() set to
  // RESOURCE_EXHAUSTED, when the budget is in use; the handler then returns call.Finish(call.refusal()).
  bool Reserve(Call& call, Weight weight) const;

  ManagementCounters& counters() const { return counters_; }

 private:
  const AccessPolicy& policy_;
  ManagementCounters& counters_;
  SlowCallLimiter& limiter_;
};

}  // namespace oa
