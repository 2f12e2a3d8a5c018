// Internal to the config loader: fills a Config from a parsed YAML tree, section by section, with the per-key checks
// (types, ranges, spellings). Cross-key and file-system checks are in config_checks.h.
#pragma once

#include <yaml-cpp/yaml.h>

#include "agent/config/config.h"
#include "agent/config/yaml_section.h"

namespace oa {

void ParseConfigTree(const YAML::Node& root, ConfigDiagnostics* diag, Config* config);

}  // namespace oa
