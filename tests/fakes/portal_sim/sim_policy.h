// The reference portal's policy: who is allowed, from a YAML file, so that tests and the demo can script answers.
//
//   epoch: 7                 # optional; default: one more than the policy it replaces (the first load is 1)
//   default: { allow: false, reason: "no policy for this user" }     # optional; this is the default
//   cidr_rules:              # on client_ip, first match wins, checked before users and groups
//     - { cidr: 203.0.113.0/24, allow: false, reason: "blocked network" }
//   users:
//     alice: { allow: true, ttl: 60, routes: [10.0.0.0/8], dns: [10.0.0.53] }
//     bob:   { allow: false, reason: "account suspended", ttl: 0 }
//   groups:
//     staff: { allow: true }
//
// A rule: allow (required), reason, ttl (seconds; absent = the agent's default, 0 = do not cache), routes, dns,
// should_disconnect, metadata (map). Unknown keys are errors. Order: cidr_rules, users, groups, default.
// Thread-safety: a SimPolicy is immutable once loaded; share it by shared_ptr<const SimPolicy>.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace oa::sim {

struct SimRule {
  bool allow = false;
  std::string reason;
  std::optional<std::uint32_t> ttl_seconds;
  std::vector<std::string> routes;
  std::vector<std::string> dns;
  bool should_disconnect = false;
  std::map<std::string, std::string> metadata;
};

inline SimRule DefaultRule() {
  SimRule rule;
  rule.reason = "no policy for this user";
  return rule;
}

struct SimCidr {
  int family = 0;                     // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};
  int prefix_len = 0;
  bool Contains(const std::string& ip) const;
};

struct SimPolicy {
  std::optional<std::uint64_t> epoch;  // as the file says; PortalSim assigns one when absent
  SimRule default_rule = DefaultRule();
  std::vector<std::pair<SimCidr, SimRule>> cidr_rules;
  std::map<std::string, SimRule> users;
  std::map<std::string, SimRule> groups;

  const SimRule& Evaluate(const std::string& username, const std::string& groupname,
                          const std::string& client_ip) const;
};

absl::StatusOr<SimCidr> ParseCidr(const std::string& text);
absl::StatusOr<SimPolicy> ParseSimPolicy(const std::string& yaml_text);
absl::StatusOr<SimPolicy> LoadSimPolicyFile(const std::string& path);

}  // namespace oa::sim
