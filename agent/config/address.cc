#include "agent/config/address.h"

#include <charconv>

#include "absl/strings/str_cat.h"

namespace oa {
namespace {

// Debian's absl has its own string_view (not std::string_view), so messages are built from std::string.
absl::Status CheckHostPort(std::string_view address_view, int min_port) {
  const std::string address(address_view);
  const std::string shape = " (expected host:port or [ipv6]:port)";
  if (address.empty()) return absl::InvalidArgumentError("address is empty" + shape);
  std::string_view host, port;  // views into `address`
  if (address.front() == '[') {
    std::size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not a valid address", shape));
    }
    host = std::string_view(address).substr(1, close - 1);
    port = std::string_view(address).substr(close + 2);
    if (host.find(':') == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", address, "': brackets are for IPv6 addresses only"));
    }
  } else {
    std::size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", address, "' has no port", shape));
    }
    host = std::string_view(address).substr(0, colon);
    port = std::string_view(address).substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", address, "': write IPv6 addresses in brackets", shape));
    }
  }
  if (host.empty()) return absl::InvalidArgumentError(absl::StrCat("'", address, "' has no host", shape));
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == ':' || c == '_' || c == '%';
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("'", address, "' has an invalid character in the host"));
  }
  int value = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < min_port || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", address, "' has an invalid port '", std::string(port), "' (", min_port, "..65535)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckListenAddress(std::string_view address) { return CheckHostPort(address, 0); }

absl::Status CheckDialAddress(std::string_view address) {
  if (address.substr(0, 7) == "dns:///") address.remove_prefix(7);
  return CheckHostPort(address, 1);
}

}  // namespace oa
