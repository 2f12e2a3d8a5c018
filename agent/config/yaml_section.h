// Internal to the config loader: typed reads from one YAML mapping that never throw and never stop at the first
// problem. Each read records the key's line (for later cross-checks) and, on a problem, appends a ConfigError naming
// the full key path. ReportUnknownKeys() then flags every key in the mapping that no read asked for, so the list of
// known keys is exactly the list of reads — there is no second list to keep in step.
// Thread-safety: none; one loader thread owns a ConfigDiagnostics and its sections.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "agent/config/config_error.h"

namespace oa {

class ConfigDiagnostics {
 public:
  void Add(std::string key, int line, std::string message);
  void RecordLine(const std::string& key, int line) { lines_[key] = line; }
  int LineOf(const std::string& key) const;  // 0 when the key was not in the file
  bool Has(const std::string& key) const { return lines_.count(key) > 0; }
  // True when a problem was already reported for `key`: a cross-field check then has nothing sound to compare.
  bool HasErrorAt(const std::string& key) const;
  std::vector<ConfigError>& errors() { return errors_; }

 private:
  std::vector<ConfigError> errors_;
  std::map<std::string, int> lines_;
};

// 1-based line of a node, 0 when yaml-cpp has none.
int LineOf(const YAML::Node& node);

class YamlSection {
 public:
  // `node` may be undefined (section absent) or null (`section:` with nothing after it): both mean all defaults.
  YamlSection(const YAML::Node& node, std::string path, ConfigDiagnostics* diag);

  // Each Read* leaves *out untouched when the key is absent or its value is wrong.
  void ReadString(std::string_view key, std::string* out);
  void ReadBool(std::string_view key, bool* out);
  void ReadInt(std::string_view key, std::int64_t min, std::int64_t max, std::int64_t* out);
  template <typename T>
  void ReadInt(std::string_view key, std::int64_t min, std::int64_t max, T* out) {
    std::int64_t v = static_cast<std::int64_t>(*out);
    ReadInt(key, min, max, &v);
    *out = static_cast<T>(v);
  }
  void ReadDuration(std::string_view key, std::chrono::milliseconds min, std::chrono::milliseconds max,
                    std::chrono::milliseconds* out);
  void ReadStringList(std::string_view key, std::vector<std::string>* out);
  // A string that `parse` maps to a value; `accepted` lists the spellings for the error message.
  template <typename T>
  void ReadEnum(std::string_view key, const std::function<std::optional<T>(std::string_view)>& parse,
                std::string_view accepted, T* out) {
    std::string s;
    if (!ReadScalarString(key, &s)) return;
    if (auto v = parse(s)) {
      *out = *v;
    } else {
      Error(key, "unknown value '" + s + "' (accepted: " + std::string(accepted) + ")");
    }
  }

  // The raw node of `key` (marked as known), or nullopt when absent.
  std::optional<YAML::Node> Take(std::string_view key);
  YamlSection Sub(std::string_view key);

  std::string PathOf(std::string_view key) const;
  void Error(std::string_view key, std::string message);  // at the key's value line
  ConfigDiagnostics* diagnostics() const { return diag_; }

  // Call after every read: one error per key nobody asked for, with a "did you mean" hint when one is close.
  void ReportUnknownKeys();

 private:
  bool ReadScalarString(std::string_view key, std::string* out);

  YAML::Node node_;
  std::string path_;
  ConfigDiagnostics* diag_;
  bool is_map_ = false;
  struct Entry {
    YAML::Node value;
    int key_line = 0;  // errors point at the key's line: a block value starts on the next one
  };
  std::map<std::string, Entry, std::less<>> entries_;  // first occurrence of each key
  std::set<std::string, std::less<>> asked_;
};

// Describes a node's kind for error messages: "a mapping", "a sequence", "text 'abc'", "nothing".
std::string DescribeNode(const YAML::Node& node);

}  // namespace oa
