// Shared by the config tests: load YAML text from a temp dir that has the placeholder PKI beside it.
#pragma once

#include <string>
#include <vector>

#include "agent/config/config_loader.h"
#include "config_files.h"
#include "temp_dir.h"

namespace oa::testing {

class ConfigDir {
 public:
  ConfigDir() { WritePlaceholderPki(dir_); }
  ConfigLoadResult Load(const std::string& yaml) { return LoadConfigFile(dir_.WriteFile("config.yaml", yaml)); }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
};

inline std::vector<std::string> Keys(const ConfigLoadResult& r) {
  std::vector<std::string> keys;
  for (const auto& e : r.errors) keys.push_back(e.key);
  return keys;
}

// The error about `key`, or nullptr.
inline const ConfigError* ErrorFor(const ConfigLoadResult& r, const std::string& key) {
  for (const auto& e : r.errors) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

inline std::string Dump(const ConfigLoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += FormatConfigError(e) + "\n";
  return out;
}

}  // namespace oa::testing
