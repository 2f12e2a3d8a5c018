// Subject: who a policy event is about — one user, one group, or everyone (shared/protocol-reference.md, message
// Subject). Plain data shared by the revocation table, the stream and the local control API; no gRPC.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace oa {

enum class SubjectKind : std::uint8_t { kUser, kGroup, kAll };

struct Subject {
  SubjectKind kind = SubjectKind::kUser;
  std::string name;  // username or groupname; empty for kAll

  static Subject User(std::string n) { return {SubjectKind::kUser, std::move(n)}; }
  static Subject Group(std::string n) { return {SubjectKind::kGroup, std::move(n)}; }
  static Subject All() { return {SubjectKind::kAll, {}}; }

  // Exact match, never by prefix: "bob" does not cover "bobby".
  bool Covers(std::string_view username, std::string_view groupname) const {
    switch (kind) {
      case SubjectKind::kUser: return username == name;
      case SubjectKind::kGroup: return groupname == name;
      case SubjectKind::kAll: return true;
    }
    return false;
  }
  friend bool operator==(const Subject&, const Subject&) = default;
};

constexpr std::string_view to_string(SubjectKind k) {
  switch (k) {
    case SubjectKind::kUser: return "user";
    case SubjectKind::kGroup: return "group";
    case SubjectKind::kAll: return "all";
  }
  return "unknown";
}

// "user alice", "group staff", "all": for log lines and status.
inline std::string Describe(const Subject& s) {
  if (s.kind == SubjectKind::kAll) return "all";
  return std::string(to_string(s.kind)) + " " + s.name;
}

}  // namespace oa
