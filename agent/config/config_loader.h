// Loads and validates the agent's YAML config file into an immutable Config. Reports every problem at once, each
// naming its key path and line (config_error.h): unknown keys, wrong types, bad durations, out-of-range numbers,
// inconsistent deadlines, unknown fail modes, missing or unreadable certificate files. Never throws (yaml-cpp's
// exceptions are caught here). Relative certificate paths are resolved against the config file's directory.
// Thread-safety: the functions share no state; call them from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/config/config_error.h"

namespace oa {

struct ConfigLoadResult {
  std::shared_ptr<const Config> config;  // null exactly when `errors` is not empty
  std::vector<ConfigError> errors;
  bool ok() const { return config != nullptr; }
};

ConfigLoadResult LoadConfigFile(const std::string& path);

// For tests and tools: `base_dir` is what relative certificate paths are resolved against.
ConfigLoadResult LoadConfigFromString(std::string_view yaml, const std::string& base_dir);

// Request fields the decision cache key may be built from (`resilience.cache.key_fields`).
const std::vector<std::string>& KnownCacheKeyFields();

}  // namespace oa
