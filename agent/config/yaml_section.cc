#include "agent/config/yaml_section.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/config/duration.h"

namespace oa {
namespace {

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

void ConfigDiagnostics::Add(std::string key, int line, std::string message) {
  errors_.push_back(ConfigError{std::move(key), line, std::move(message)});
}

bool ConfigDiagnostics::HasErrorAt(const std::string& key) const {
  for (const auto& e : errors_) {
    if (e.key == key) return true;
  }
  return false;
}

int ConfigDiagnostics::LineOf(const std::string& key) const {
  auto it = lines_.find(key);
  return it == lines_.end() ? 0 : it->second;
}

int LineOf(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  int line = node.Mark().line;
  return line >= 0 ? line + 1 : 0;
}

std::string DescribeNode(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  std::string s = node.Scalar();
  if (s.size() > 40) s = s.substr(0, 40) + "...";
  return "'" + s + "'";
}

YamlSection::YamlSection(const YAML::Node& node, std::string path, ConfigDiagnostics* diag)
    : node_(node), path_(std::move(path)), diag_(diag) {
  if (!node_.IsDefined() || node_.IsNull()) return;
  if (!node_.IsMap()) {
    diag_->Add(path_, LineOf(node_), "expected a mapping of keys, got " + DescribeNode(node_));
    return;
  }
  is_map_ = true;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) {
      diag_->Add(path_, LineOf(kv.first), "keys must be plain names, got " + DescribeNode(kv.first));
      continue;
    }
    const std::string& key = kv.first.Scalar();
    if (entries_.count(key)) {
      diag_->Add(PathOf(key), LineOf(kv.first), "duplicate key (the first one is on line " +
                                                    std::to_string(entries_[key].key_line) + ")");
      continue;
    }
    entries_.emplace(key, Entry{kv.second, LineOf(kv.first)});
  }
}

std::string YamlSection::PathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", std::string(key));
}

void YamlSection::Error(std::string_view key, std::string message) {
  int line = 0;
  auto it = entries_.find(key);
  if (it != entries_.end()) line = it->second.key_line;
  diag_->Add(PathOf(key), line, std::move(message));
}

std::optional<YAML::Node> YamlSection::Take(std::string_view key) {
  asked_.emplace(key);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  diag_->RecordLine(PathOf(key), it->second.key_line);
  return it->second.value;
}

YamlSection YamlSection::Sub(std::string_view key) {
  auto node = Take(key);
  return YamlSection(node ? *node : YAML::Node(YAML::NodeType::Undefined), PathOf(key), diag_);
}

bool YamlSection::ReadScalarString(std::string_view key, std::string* out) {
  auto node = Take(key);
  if (!node) return false;
  if (!node->IsScalar()) {
    Error(key, "expected a single value, got " + DescribeNode(*node));
    return false;
  }
  *out = node->Scalar();
  return true;
}

void YamlSection::ReadString(std::string_view key, std::string* out) {
  auto node = Take(key);
  if (!node) return;
  if (node->IsNull()) {  // `key:` with nothing after it reads as the empty string
    out->clear();
    return;
  }
  if (!node->IsScalar()) {
    Error(key, "expected text, got " + DescribeNode(*node));
    return;
  }
  *out = node->Scalar();
}

void YamlSection::ReadBool(std::string_view key, bool* out) {
  std::string s;
  if (!ReadScalarString(key, &s)) return;
  std::string lower = absl::AsciiStrToLower(s);
  if (lower == "true" || lower == "yes" || lower == "on") {
    *out = true;
  } else if (lower == "false" || lower == "no" || lower == "off") {
    *out = false;
  } else {
    Error(key, "expected true or false, got '" + s + "'");
  }
}

void YamlSection::ReadInt(std::string_view key, std::int64_t min, std::int64_t max, std::int64_t* out) {
  std::string s;
  if (!ReadScalarString(key, &s)) return;
  std::int64_t value = 0;
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec == std::errc::invalid_argument || end != digits.data() + digits.size()) {
    Error(key, "expected a whole number, got '" + s + "'");
    return;
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    Error(key, absl::StrCat("must be between ", min, " and ", max, ", got ", s));
    return;
  }
  *out = value;
}

void YamlSection::ReadDuration(std::string_view key, std::chrono::milliseconds min, std::chrono::milliseconds max,
                               std::chrono::milliseconds* out) {
  std::string s;
  if (!ReadScalarString(key, &s)) return;
  auto d = ParseDuration(s);
  if (!d.ok()) {
    Error(key, std::string(d.status().message()));
    return;
  }
  if (*d < min || *d > max) {
    Error(key, absl::StrCat("must be between ", FormatDuration(min), " and ", FormatDuration(max), ", got ", s));
    return;
  }
  *out = *d;
}

void YamlSection::ReadStringList(std::string_view key, std::vector<std::string>* out) {
  auto node = Take(key);
  if (!node) return;
  if (!node->IsSequence()) {
    Error(key, "expected a list, got " + DescribeNode(*node));
    return;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (std::size_t i = 0; i < node->size(); ++i) {
    const YAML::Node item = (*node)[i];
    if (!item.IsScalar()) {
      diag_->Add(absl::StrCat(PathOf(key), "[", i, "]"), LineOf(item), "expected text, got " + DescribeNode(item));
      ok = false;
      continue;
    }
    values.push_back(item.Scalar());
  }
  if (ok) *out = std::move(values);
}

void YamlSection::ReportUnknownKeys() {
  if (!is_map_) return;
  for (const auto& [key, entry] : entries_) {
    if (asked_.count(key)) continue;
    std::string message = "unknown key";
    std::string best;
    std::size_t best_distance = 3;  // suggest only close spellings
    for (const auto& known : asked_) {
      std::size_t d = EditDistance(key, known);
      if (d < best_distance) {
        best_distance = d;
        best = known;
      }
    }
    if (!best.empty()) message += " (did you mean '" + best + "'?)";
    diag_->Add(PathOf(key), entry.key_line, message);
  }
}

}  // namespace oa
