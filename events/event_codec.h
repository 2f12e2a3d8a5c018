// The outbox's on-disk form of a SessionEvent: a small versioned binary record (a version byte, then the fields in a
// fixed order, strings length-prefixed). Not protobuf, so that events/ stays free of the generated code; a record
// written by a newer agent with an unknown version is refused, not misread.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "events/session_event.h"

namespace oa {

std::string EncodeSessionEvent(const SessionEvent& event);
// InvalidArgument (naming what is wrong) for a truncated, over-long or unknown-version record.
absl::StatusOr<SessionEvent> DecodeSessionEvent(std::string_view bytes);

}  // namespace oa
