#include "agent/daemon/audit_json.h"

#include <array>
#include <cctype>
#include <cstdint>

namespace oa {
namespace {

constexpr std::array<std::string_view, 3> kAuditEvents = {"decision ", "session ", "management audit: "};

bool IsKeyChar(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }

// A bare value that is a JSON number as it stands: digits, at most one '.', digits on both sides of it.
bool IsPlainNumber(std::string_view v) {
  if (v.empty() || v.front() == '.' || v.back() == '.') return false;
  bool dot = false;
  for (char c : v) {
    if (c == '.') {
      if (dot) return false;
      dot = true;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return v.size() == 1 || v.front() != '0' || v[1] == '.';  // JSON: no leading zeros
}

std::optional<std::uint32_t> Hex(std::string_view digits) {
  std::uint32_t v = 0;
  for (char c : digits) {
    const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                              : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<std::uint32_t>(d);
  }
  return v;
}

void AppendCodePointEscape(std::uint32_t cp, std::string* out) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  auto unit = [&](std::uint32_t u) {
    *out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) *out += kHexDigits[(u >> shift) & 0xf];
  };
  if (cp < 0x10000) {
    unit(cp);
  } else {  // a surrogate pair
    cp -= 0x10000;
    unit(0xd800 + (cp >> 10));
    unit(0xdc00 + (cp & 0x3ff));
  }
}

// The quoted value at `in` (just after its opening quote) as JSON string contents; advances `in` past the closing
// quote. nullopt on an unknown escape or a missing closing quote.
std::optional<std::string> QuotedToJson(std::string_view* in) {
  std::string out;
  std::string_view s = *in;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      *in = s.substr(i + 1);
      return out;
    }
    if (c != '\\') {
      // Raw text between escapes: valid UTF-8 already (the caller checked the whole line); JSON needs only control
      // characters escaped, and the writers escaped those.
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return std::nullopt;
    const char e = s[i + 1];
    std::size_t digits = 0;
    switch (e) {
      case 'n': out += "\\n"; i += 2; continue;
      case 'r': out += "\\r"; i += 2; continue;
      case 't': out += "\\t"; i += 2; continue;
      case '"': out += "\\\""; i += 2; continue;
      case '\\': out += "\\\\"; i += 2; continue;
      case '\'': out += '\''; i += 2; continue;
      case 'x': digits = 2; break;
      case 'u': digits = 4; break;
      case 'U': digits = 8; break;
      default: return std::nullopt;
    }
    if (i + 2 + digits > s.size()) return std::nullopt;
    const auto cp = Hex(s.substr(i + 2, digits));
    if (!cp || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return std::nullopt;
    AppendCodePointEscape(*cp, &out);  // \xHH: a control character, or a byte that was not UTF-8 (as U+00HH)
    i += 2 + digits;
  }
  return std::nullopt;
}

}  // namespace

void AppendJsonEscaped(std::string_view text, std::string* out) {
  for (char c : text) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          AppendCodePointEscape(static_cast<unsigned char>(c), out);
        } else {
          *out += c;
        }
    }
  }
}

std::optional<std::string> AuditLineJsonMembers(std::string_view message) {
  std::string_view event;
  for (std::string_view prefix : kAuditEvents) {
    if (message.substr(0, prefix.size()) == prefix) event = prefix;
  }
  if (event.empty()) return std::nullopt;
  std::string_view rest = message.substr(event.size());
  // "session disconnect", "session host-update": the words before the first key=value belong to the event.
  while (!rest.empty()) {
    const std::size_t space = rest.find(' ');
    const std::string_view word = rest.substr(0, space);
    if (word.find('=') != std::string_view::npos) break;
    event = message.substr(0, event.size() + word.size() + (space == std::string_view::npos ? 0 : 1));
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  }
  while (!event.empty() && (event.back() == ' ' || event.back() == ':')) event.remove_suffix(1);

  std::string out = "\"msg\":\"";
  AppendJsonEscaped(event, &out);
  out += '"';
  bool any = false;
  while (!rest.empty()) {
    std::size_t k = 0;
    while (k < rest.size() && IsKeyChar(rest[k])) ++k;
    if (k == 0 || k >= rest.size() || rest[k] != '=') return std::nullopt;
    const std::string_view key = rest.substr(0, k);
    if (key == "time" || key == "level" || key == "logger" || key == "msg") return std::nullopt;
    rest.remove_prefix(k + 1);
    out += ",\"";
    out += key;
    out += "\":";
    if (!rest.empty() && rest.front() == '"') {
      rest.remove_prefix(1);
      auto value = QuotedToJson(&rest);
      if (!value) return std::nullopt;
      out += '"';
      out += *value;
      out += '"';
    } else {
      const std::size_t end = rest.find(' ');
      const std::string_view value = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
      if (IsPlainNumber(value)) {
        out += value;
      } else {
        out += '"';
        AppendJsonEscaped(value, &out);
        out += '"';
      }
    }
    any = true;
    if (rest.empty()) break;
    if (rest.front() != ' ') return std::nullopt;  // a quoted value runs straight into the next token
    rest.remove_prefix(1);
  }
  if (!any) return std::nullopt;
  return out;
}

}  // namespace oa
