// DecodePolicyEvent: one ocserv_agent.v1.PolicyEvent off the wire -> the checked PolicyEvent the enforcement logic
// takes. Malformed content is not an error but an event marked `invalid` (its version still counts as delivered),
// so one bad event never stalls the stream. Includes protobuf: .cc files of the stream client only.
#pragma once

#include "agent/enforcement/policy_event.h"
#include "ocserv_agent/v1/policy_watch.pb.h"

namespace oa {

inline constexpr std::size_t kMaxSubjectNameBytes = 1024;  // ocserv names are far shorter
inline constexpr std::size_t kMaxReasonBytes = 1024;       // longer reasons are cut (logs, deny reasons)

PolicyEvent DecodePolicyEvent(const ocserv_agent::v1::PolicyEvent& wire);

}  // namespace oa
