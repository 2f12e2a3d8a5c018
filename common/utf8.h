// UTF-8 checks for text that leaves the process as a protobuf string (the helper's IPC frames, the portal query,
// the management API's log and process output). Dependency-free: the static helper links it too.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace oa {

// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), as protobuf checks proto3 strings.
bool IsValidUtf8(std::string_view s);
// Replaces every byte that is not part of a valid UTF-8 sequence with '?', so that whatever ocserv put in the
// environment (a client-advertised hostname, a user agent) can always be sent as a proto3 string.
void SanitizeUtf8(std::string* s);

}  // namespace oa
