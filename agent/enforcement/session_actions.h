// SessionActions: what live enforcement does to sessions that are already up — disconnect those of a revoked
// subject, re-validate those of a subject. Implemented over occtl and the session registry (enforcement's session
// side); tests substitute a recorder.
//
// Thread-safety: both may be called from any thread and must not block (they queue work and return).
#pragma once

#include <optional>
#include <string_view>

#include "agent/enforcement/revocation_table.h"
#include "agent/enforcement/subject.h"

namespace oa {

class SessionActions {
 public:
  virtual ~SessionActions() = default;
  // Disconnects every live session the revocation covers. Called after the revocation is in force.
  // `published_at`: the portal's publish time (for the revocation latency), absent for local revocations.
  virtual void DisconnectRevoked(const Revocation& revocation, std::optional<Clock::WallTime> published_at) = 0;
  // Re-validates the live sessions of `subject` (kAll: every session) and disconnects those now denied.
  virtual void Recheck(const Subject& subject, std::string_view why) = 0;
};

}  // namespace oa
