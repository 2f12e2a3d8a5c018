#include "agent/config/config_error.h"

namespace oa {

std::string FormatConfigError(const ConfigError& error) {
  std::string out = error.key;
  if (error.line > 0) {
    out += out.empty() ? "line " : " (line ";
    out += std::to_string(error.line);
    if (!error.key.empty()) out += ")";
  }
  if (!out.empty()) out += ": ";
  out += error.message;
  return out;
}

}  // namespace oa
