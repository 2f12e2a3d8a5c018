#include "agent/management/occtl_users_json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"

namespace oa {
namespace {

std::string ValueText(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kStringValue: return v.string_value();
    case google::protobuf::Value::kNumberValue: {
      const double d = v.number_value();
      if (std::floor(d) == d && std::fabs(d) < 9e15) return absl::StrCat(static_cast<long long>(d));
      return absl::StrCat(d);
    }
    case google::protobuf::Value::kBoolValue: return v.bool_value() ? "true" : "false";
    default: return "";
  }
}

}  // namespace

absl::Status ParseOcctlUsersJson(std::string_view json, ocserv_agent::v1::ListSessionsResponse* out) {
  while (!json.empty() && absl::ascii_isspace(static_cast<unsigned char>(json.front()))) json.remove_prefix(1);
  while (!json.empty() && absl::ascii_isspace(static_cast<unsigned char>(json.back()))) json.remove_suffix(1);
  if (json.empty()) return absl::OkStatus();  // occtl prints nothing when nobody is connected
  // The JSON parser takes an object at the top, occtl prints an array: wrap it.
  google::protobuf::Struct wrapper;
  const auto st =
      google::protobuf::util::JsonStringToMessage(absl::StrCat("{\"users\":", std::string(json), "}"), &wrapper);
  if (!st.ok()) return absl::InternalError(absl::StrCat("cannot parse occtl JSON: ", st.message().as_string()));
  const auto it = wrapper.fields().find("users");
  if (it == wrapper.fields().end() || !it->second.has_list_value()) {
    return absl::InternalError("occtl JSON is not a list of users");
  }
  for (const auto& user : it->second.list_value().values()) {
    if (!user.has_struct_value()) continue;
    auto* s = out->add_sessions();
    for (const auto& [key, value] : user.struct_value().fields()) (*s->mutable_raw())[key] = ValueText(value);
    const auto& raw = s->raw();
    auto get = [&](const char* key) {
      const auto f = raw.find(key);
      return f == raw.end() ? std::string() : f->second;
    };
    s->set_id(get("ID"));
    s->set_username(get("Username"));
    s->set_groupname(get("Groupname"));
    s->set_state(get("State"));
    s->set_vhost(get("vhost"));
    s->set_device(get("Device"));
    s->set_remote_ip(get("Remote IP"));
    s->set_ipv4(get("IPv4"));
    s->set_ipv6(get("IPv6"));
    s->set_user_agent(get("User-Agent"));
    s->set_hostname(get("Hostname"));
    s->set_connected_at(get("Connected at"));
    s->set_rx(get("RX"));
    s->set_tx(get("TX"));
    s->set_session(get("Session"));
  }
  return absl::OkStatus();
}

}  // namespace oa
