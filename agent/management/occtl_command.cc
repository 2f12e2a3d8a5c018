#include "agent/management/occtl_command.h"

#include <arpa/inet.h>

#include <array>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace oa {
namespace {

enum class Param { kUsername, kId, kSessionId, kIp, kSessionsFilter };

struct Spec {
  std::array<std::string_view, 4> words;  // "" terminated
  int word_count;
  bool has_param;
  Param param;
  bool json;
};

// The allow-list. Anything else (stop now, show events, ...) is refused.
constexpr std::array kCommands{
    Spec{{"show", "users"}, 2, false, Param::kId, true},
    Spec{{"show", "status"}, 2, false, Param::kId, true},
    Spec{{"show", "stats"}, 2, false, Param::kId, true},
    Spec{{"show", "iroutes"}, 2, false, Param::kId, true},
    Spec{{"show", "ip", "bans"}, 3, false, Param::kId, true},
    Spec{{"show", "ip", "ban", "points"}, 4, false, Param::kId, true},
    Spec{{"show", "user"}, 2, true, Param::kUsername, true},
    Spec{{"show", "id"}, 2, true, Param::kId, true},
    Spec{{"show", "sessions"}, 2, true, Param::kSessionsFilter, true},
    Spec{{"show", "session"}, 2, true, Param::kSessionId, true},
    Spec{{"disconnect", "user"}, 2, true, Param::kUsername, false},
    Spec{{"disconnect", "id"}, 2, true, Param::kId, false},
    Spec{{"unban", "ip"}, 2, true, Param::kIp, false},
    Spec{{"reload"}, 1, false, Param::kId, false},
};

bool IsAsciiAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// The generic check every token passes before anything else looks at it.
absl::Status CheckToken(std::string_view t, std::size_t index) {
  if (t.empty()) return absl::InvalidArgumentError(absl::StrCat("argument ", index, " is empty"));
  if (t.size() > kMaxOcctlArgBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("argument ", index, " is ", t.size(), " bytes (max ", kMaxOcctlArgBytes, ")"));
  }
  if (t.front() == '-') return absl::InvalidArgumentError(absl::StrCat("argument ", index, " starts with '-'"));
  if (t.find("..") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("argument ", index, " contains '..'"));
  }
  for (const char ch : t) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat("argument ", index, " contains a control character"));
    }
    if (c >= 0x80) return absl::InvalidArgumentError(absl::StrCat("argument ", index, " is not ASCII"));
    if (std::string_view(" ;|&$`<>()\\'\"*?[]{}!#~/%,=\t").find(ch) != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("argument ", index, " contains '", std::string(1, ch), "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateParam(Param kind, std::string_view s) {
  switch (kind) {
    case Param::kUsername: return ValidateOcctlUsername(s);
    case Param::kId: return ValidateOcctlId(s);
    case Param::kSessionId: return ValidateOcctlSessionId(s);
    case Param::kIp: return ValidateOcctlIp(s);
    case Param::kSessionsFilter:
      if (s == "all" || s == "valid") return absl::OkStatus();
      return absl::InvalidArgumentError("show sessions takes 'all' or 'valid'");
  }
  return absl::InvalidArgumentError("unknown parameter kind");
}

}  // namespace

std::string OcctlCommand::Name() const { return absl::StrJoin(words, " "); }

absl::Status ValidateOcctlUsername(std::string_view s) {
  if (s.empty() || s.size() > kMaxOcctlArgBytes) return absl::InvalidArgumentError("username length out of range");
  if (s.front() == '-' || s.front() == '.') return absl::InvalidArgumentError("username starts with '-' or '.'");
  for (const char c : s) {
    if (!IsAsciiAlnum(c) && std::string_view("._@+-").find(c) == std::string_view::npos) {
      return absl::InvalidArgumentError("username has a character outside [A-Za-z0-9._@+-]");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOcctlId(std::string_view s) {
  if (s.empty() || s.size() > 10) return absl::InvalidArgumentError("id must be 1-10 digits");
  for (const char c : s) {
    if (c < '0' || c > '9') return absl::InvalidArgumentError("id must be digits only");
  }
  return absl::OkStatus();
}

absl::Status ValidateOcctlSessionId(std::string_view s) {
  if (s.empty() || s.size() > 128) return absl::InvalidArgumentError("session id length out of range");
  if (s.front() == '-') return absl::InvalidArgumentError("session id starts with '-'");
  for (const char c : s) {
    if (!IsAsciiAlnum(c) && c != '+' && c != '_' && c != '-') {
      return absl::InvalidArgumentError("session id has a character outside [A-Za-z0-9+_-]");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOcctlIp(std::string_view s) {
  if (s.empty() || s.size() > INET6_ADDRSTRLEN) return absl::InvalidArgumentError("not an IP address");
  const std::string z(s);
  in6_addr buf{};
  if (inet_pton(AF_INET, z.c_str(), &buf) == 1 || inet_pton(AF_INET6, z.c_str(), &buf) == 1) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("not an IPv4 or IPv6 address");
}

absl::StatusOr<OcctlCommand> ParseOcctlCommand(std::string_view command_type, const std::vector<std::string>& args) {
  std::vector<std::string> tokens;
  if (command_type != "occtl") {
    if (command_type.empty()) return absl::InvalidArgumentError("command_type is empty");
    if (command_type.size() > kMaxOcctlArgBytes) return absl::InvalidArgumentError("command_type is too long");
    for (auto w : absl::StrSplit(absl::string_view(command_type.data(), command_type.size()), ' ', absl::SkipEmpty())) tokens.emplace_back(w);
    if (tokens.empty()) return absl::InvalidArgumentError("command_type is empty");
  }
  if (args.size() > 8) return absl::InvalidArgumentError("too many arguments");
  tokens.insert(tokens.end(), args.begin(), args.end());
  if (tokens.empty()) return absl::InvalidArgumentError("no occtl command given");
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (auto st = CheckToken(tokens[i], i); !st.ok()) return st;
  }

  for (const auto& spec : kCommands) {
    const auto n = static_cast<std::size_t>(spec.word_count);
    if (tokens.size() != n + (spec.has_param ? 1 : 0)) continue;
    bool match = true;
    for (std::size_t i = 0; i < n && match; ++i) match = tokens[i] == spec.words[i];
    if (!match) continue;
    OcctlCommand cmd;
    cmd.words.assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n));
    cmd.json = spec.json;
    if (spec.has_param) {
      if (auto st = ValidateParam(spec.param, tokens[n]); !st.ok()) return st;
      cmd.params.push_back(tokens[n]);
    }
    return cmd;
  }
  return absl::InvalidArgumentError("occtl command is not on the allow-list (or has the wrong number of arguments)");
}

std::vector<std::string> OcctlArgv(const OcservOptions& options, const OcctlCommand& command) {
  std::vector<std::string> argv{options.occtl_path};
  if (!options.occtl_socket.empty()) {
    argv.push_back("-s");
    argv.push_back(options.occtl_socket);
  }
  if (command.json) argv.push_back("-j");
  argv.insert(argv.end(), command.words.begin(), command.words.end());
  argv.insert(argv.end(), command.params.begin(), command.params.end());
  return argv;
}

}  // namespace oa
