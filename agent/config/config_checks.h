// Internal to the config loader: checks that involve more than one key (nested deadlines, TTL order) or the file
// system (certificate files must exist and be readable), run after every key was parsed. Resolves relative
// certificate paths and events.outbox_path against `base_dir` in place.
#pragma once

#include <string>

#include "agent/config/config.h"
#include "agent/config/yaml_section.h"

namespace oa {

void CheckConfig(const std::string& base_dir, ConfigDiagnostics* diag, Config* config);

}  // namespace oa
