#include "agent/management/audit_text.h"

#include <cstdio>

namespace oa {

std::string AuditText(std::string_view text, std::size_t max_bytes) {
  const bool cut = text.size() > max_bytes;
  if (cut) text = text.substr(0, max_bytes);
  std::string out;
  out.reserve(text.size() + 8);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else if (ch == '\\' || ch == '"') {
      out += '\\';
      out += ch;
    } else {
      out += ch;
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace oa
