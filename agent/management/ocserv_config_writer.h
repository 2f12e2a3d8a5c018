// Writes ocserv's per-user and per-group config files for UpdateConfig: validation of the file name and of the
// content (an allow-list of ocserv directives whose values cannot smuggle a second directive), then an atomic
// replace (temp file in the same directory + fsync + rename + fsync of the directory) with an optional backup of the
// previous file (a hard link into DIR/.backup/NAME.YYYYMMDDTHHMMSS.mmmZ). A replacement keeps the previous file's
// mode and, when we run as root, its owner and group. A failure at any step before the rename leaves the existing
// file as it was; after the rename the write has happened, so a failed directory fsync is a warning, not an error.
//
// Thread-safety: the validators are pure. WriteConfigFile serialises writers of one process with a mutex, so two
// concurrent updates of one name end as one or the other, never a mix.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "resilience/clock.h"

namespace oa {

inline constexpr std::size_t kMaxConfigNameBytes = 128;
inline constexpr std::size_t kMaxConfigContentBytes = 64 * 1024;

// A per-user / per-group file name: 1-128 bytes of [A-Za-z0-9._@+-], not starting with '.' or '-' (so never ".",
// "..", a hidden file or an option), no "..", no path separator.
absl::Status ValidateConfigName(std::string_view name);

// Checks per-user/per-group content and returns it normalised ("directive = value" lines, comments and blank lines
// dropped). Refuses directives not on the allow-list, values with control characters, malformed numbers/booleans.
absl::StatusOr<std::string> ValidatePerEntityConfig(std::string_view content);

// For ocserv.conf itself (only when management.allow_main_config_update): every line must be a comment, blank, or
// "key = value" with printable characters; no directive allow-list (the admin opted in).
absl::StatusOr<std::string> ValidateMainConfig(std::string_view content);

struct ConfigWriteRequest {
  std::string directory;  // an existing directory
  std::string name;       // a validated name (ValidateConfigName)
  std::string content;    // validated content
  bool backup = false;    // keep the previous file (if any) under directory/.backup/
  // Test seam: called after the temp file is written and synced, before the rename. A non-OK status aborts the
  // write exactly like a failed fsync would.
  std::function<absl::Status()> before_commit;
  // Test seam: stands in for the fsync of the directory after the rename (unset: the real fsync).
  std::function<absl::Status()> sync_directory = {};
};

struct ConfigWriteResult {
  std::string path;         // the file written
  std::string backup_path;  // real path of the backup, "" if none was made (no backup asked, or no previous file)
  // Non-empty when the file was replaced but the directory could not be synced: the new content is in place and is
  // what ocserv reads, but a crash soon after could bring the previous file back.
  std::string warning;
};

absl::StatusOr<ConfigWriteResult> WriteConfigFile(const ConfigWriteRequest& request, const Clock& clock);

}  // namespace oa
