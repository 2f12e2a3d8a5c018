// Caller-supplied text (a request id, a user or group name, an error message that echoes input) made safe to put in
// one audit log line: a value can neither end the line (a '\n' in a request id would forge a second audit line) nor
// close the quotes it is logged in. Control characters (< 0x20, 0x7f) become \xHH, '\' and '"' are escaped, and the
// value is cut to max_bytes (before escaping; a cut is marked with "...").
//
// Pure function, any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace oa {

std::string AuditText(std::string_view text, std::size_t max_bytes = 256);

}  // namespace oa
