// SessionValidator: asks the portal whether a live session may go on (vpn.v1.AuthService/ValidateSession, or
// CheckPolicy with the session's recorded fields where the portal answers UNIMPLEMENTED). Asynchronous: `done` runs
// later on a portal thread (or inline on an immediate failure). Tests substitute a fake.
#pragma once

#include <functional>
#include <string>

#include "agent/authorizer/session_registry.h"

namespace oa {

// Three outcomes (STYLE.md #1): the portal said go on, the portal said stop, or it could not be asked.
enum class ValidationOutcome : std::uint8_t { kValid, kInvalid, kError };

struct SessionValidation {
  ValidationOutcome outcome = ValidationOutcome::kError;
  std::string reason;  // invalid_reason / deny_reason, or the error
};

class SessionValidator {
 public:
  virtual ~SessionValidator() = default;
  virtual void Validate(const SessionRecord& session, std::function<void(SessionValidation)> done) = 0;
};

}  // namespace oa
