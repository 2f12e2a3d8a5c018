#include "sim_policy.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace oa::sim {
namespace {

bool ParseIp(const std::string& text, int* family, std::array<std::uint8_t, 16>* out) {
  out->fill(0);
  if (inet_pton(AF_INET, text.c_str(), out->data()) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), out->data()) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

absl::Status CheckKeys(const YAML::Node& node, const std::string& where, const std::set<std::string>& known) {
  if (!node.IsMap()) return absl::InvalidArgumentError(absl::StrCat(where, ": expected a map"));
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    if (!known.count(key)) return absl::InvalidArgumentError(absl::StrCat(where, ": unknown key '", key, "'"));
  }
  return absl::OkStatus();
}

std::vector<std::string> StringList(const YAML::Node& node) {
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(item.as<std::string>());
  return out;
}

absl::StatusOr<SimRule> ParseRule(const YAML::Node& node, const std::string& where, bool with_cidr) {
  std::set<std::string> known = {"allow", "reason", "ttl", "routes", "dns", "should_disconnect", "metadata"};
  if (with_cidr) known.insert("cidr");
  if (auto s = CheckKeys(node, where, known); !s.ok()) return s;
  if (!node["allow"]) return absl::InvalidArgumentError(absl::StrCat(where, ": 'allow' is required"));
  SimRule rule;
  rule.allow = node["allow"].as<bool>();
  if (node["reason"]) rule.reason = node["reason"].as<std::string>();
  if (node["ttl"]) {
    const auto ttl = node["ttl"].as<long long>();
    if (ttl < 0 || ttl > 0xffffffffLL) return absl::InvalidArgumentError(absl::StrCat(where, ".ttl: out of range"));
    rule.ttl_seconds = static_cast<std::uint32_t>(ttl);
  }
  if (node["routes"]) rule.routes = StringList(node["routes"]);
  if (node["dns"]) rule.dns = StringList(node["dns"]);
  if (node["should_disconnect"]) rule.should_disconnect = node["should_disconnect"].as<bool>();
  if (node["metadata"]) {
    for (const auto& kv : node["metadata"]) rule.metadata[kv.first.as<std::string>()] = kv.second.as<std::string>();
  }
  return rule;
}

absl::StatusOr<SimPolicy> ParseUnchecked(const std::string& text) {
  const YAML::Node root = YAML::Load(text);
  SimPolicy policy;
  if (!root || root.IsNull()) return policy;
  if (auto s = CheckKeys(root, "policy", {"epoch", "default", "cidr_rules", "users", "groups"}); !s.ok()) return s;
  if (root["epoch"]) policy.epoch = root["epoch"].as<std::uint64_t>();
  if (root["default"]) {
    auto rule = ParseRule(root["default"], "default", false);
    if (!rule.ok()) return rule.status();
    policy.default_rule = *std::move(rule);
  }
  if (const auto rules = root["cidr_rules"]) {
    if (!rules.IsSequence()) return absl::InvalidArgumentError("cidr_rules: expected a list");
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const std::string where = absl::StrCat("cidr_rules[", i, "]");
      auto rule = ParseRule(rules[i], where, true);
      if (!rule.ok()) return rule.status();
      if (!rules[i]["cidr"]) return absl::InvalidArgumentError(absl::StrCat(where, ": 'cidr' is required"));
      auto cidr = ParseCidr(rules[i]["cidr"].as<std::string>());
      if (!cidr.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".cidr: ", cidr.status().message()));
      policy.cidr_rules.emplace_back(*cidr, *std::move(rule));
    }
  }
  for (const char* section : {"users", "groups"}) {
    const auto node = root[section];
    if (!node) continue;
    if (!node.IsMap()) return absl::InvalidArgumentError(absl::StrCat(section, ": expected a map"));
    auto& target = std::string(section) == "users" ? policy.users : policy.groups;
    for (const auto& kv : node) {
      const auto name = kv.first.as<std::string>();
      auto rule = ParseRule(kv.second, absl::StrCat(section, ".", name), false);
      if (!rule.ok()) return rule.status();
      target[name] = *std::move(rule);
    }
  }
  return policy;
}

}  // namespace

bool SimCidr::Contains(const std::string& ip) const {
  int fam = 0;
  std::array<std::uint8_t, 16> a{};
  if (!ParseIp(ip, &fam, &a) || fam != family) return false;
  int bits = prefix_len;
  for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (addr[i] & mask)) return false;
  }
  return true;
}

absl::StatusOr<SimCidr> ParseCidr(const std::string& text) {
  SimCidr cidr;
  const auto slash = text.find('/');
  const std::string ip = text.substr(0, slash);
  if (!ParseIp(ip, &cidr.family, &cidr.addr)) return absl::InvalidArgumentError(absl::StrCat("bad address '", ip, "'"));
  const int max_len = cidr.family == AF_INET ? 32 : 128;
  cidr.prefix_len = max_len;
  if (slash != std::string::npos &&
      (!absl::SimpleAtoi(text.substr(slash + 1), &cidr.prefix_len) || cidr.prefix_len < 0 ||
       cidr.prefix_len > max_len)) {
    return absl::InvalidArgumentError(absl::StrCat("bad prefix length in '", text, "'"));
  }
  return cidr;
}

const SimRule& SimPolicy::Evaluate(const std::string& username, const std::string& groupname,
                                   const std::string& client_ip) const {
  for (const auto& [cidr, rule] : cidr_rules) {
    if (cidr.Contains(client_ip)) return rule;
  }
  if (auto it = users.find(username); it != users.end()) return it->second;
  if (auto it = groups.find(groupname); it != groups.end()) return it->second;
  return default_rule;
}

absl::StatusOr<SimPolicy> ParseSimPolicy(const std::string& yaml_text) {
  try {  // yaml-cpp throws; nothing leaves this function as an exception
    return ParseUnchecked(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("policy: ", e.what()));
  }
}

absl::StatusOr<SimPolicy> LoadSimPolicyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read policy file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  auto policy = ParseSimPolicy(text.str());
  if (!policy.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", policy.status().message()));
  return policy;
}

}  // namespace oa::sim
