#include "ipc/helper/helper_config.h"

#include <cstdlib>
#include <cstring>

#include "common/utf8.h"
#include "ipc/wire_codec.h"

namespace oa::helper {
namespace {

bool ParseUint64(std::string_view s, std::uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(ch - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool ParseOnFailure(std::string_view s, OnAgentFailure* out) {
  if (s == "deny") {
    *out = OnAgentFailure::kDeny;
  } else if (s == "allow") {
    *out = OnAgentFailure::kAllow;
  } else {
    return false;
  }
  return true;
}

std::string Str(EnvLookup env, void* ctx, const char* name) {
  const char* v = env(ctx, name);
  std::string s = v != nullptr ? v : "";
  SanitizeUtf8(&s);
  return s;
}

std::vector<std::string> List(EnvLookup env, void* ctx, const char* name) {
  std::vector<std::string> items = SplitList(Str(env, ctx, name));
  return items;
}

std::uint64_t Number(EnvLookup env, void* ctx, const char* name) {
  const char* v = env(ctx, name);
  std::uint64_t n = 0;
  if (v == nullptr || !ParseUint64(v, &n)) return 0;
  return n;
}

}  // namespace

const char* ProcessEnv(void*, const char* name) { return std::getenv(name); }

bool ParseDurationMs(std::string_view s, std::uint32_t* ms) {
  // number [. fraction] [unit]; the fraction keeps at most 3 digits (millisecond resolution).
  std::size_t i = 0;
  std::uint64_t whole = 0;
  std::size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 9) whole = whole * 10 + (s[i++] - '0'), ++digits;
  if (digits == 0) return false;
  std::uint64_t frac = 0, frac_scale = 1;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::size_t fdigits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (fdigits < 3) frac = frac * 10 + (s[i] - '0'), frac_scale *= 10;
      ++i, ++fdigits;
    }
    if (fdigits == 0) return false;
  }
  const std::string_view unit = s.substr(i);
  std::uint64_t unit_ms;
  if (unit.empty() || unit == "s") {
    unit_ms = 1000;
  } else if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "m") {
    unit_ms = 60'000;
  } else {
    return false;
  }
  const std::uint64_t total = whole * unit_ms + frac * unit_ms / frac_scale;
  if (total == 0 || total > kMaxTimeoutMs) return false;
  *ms = static_cast<std::uint32_t>(total);
  return true;
}

bool ParseHelperConfig(int argc, const char* const* argv, EnvLookup env, void* env_ctx, HelperConfig* cfg,
                       std::string* error) {
  *cfg = HelperConfig{};
  const char* socket = env(env_ctx, "OCSERV_AGENT_SOCKET");
  const char* timeout = env(env_ctx, "OCSERV_AGENT_TIMEOUT");
  const char* on_failure = env(env_ctx, "OCSERV_AGENT_ON_FAILURE");
  // An empty variable counts as unset: `Environment=OCSERV_AGENT_TIMEOUT=` is how one clears it in a unit file.
  auto set = [](const char* v) { return v != nullptr && v[0] != '\0'; };
  const char* socket_from = "OCSERV_AGENT_SOCKET";
  const char* timeout_from = "OCSERV_AGENT_TIMEOUT";
  const char* failure_from = "OCSERV_AGENT_ON_FAILURE";

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      cfg->help = true;
      continue;
    }
    const char** target = nullptr;
    const char** from = nullptr;
    if (arg == "--socket") {
      target = &socket, from = &socket_from;
    } else if (arg == "--timeout") {
      target = &timeout, from = &timeout_from;
    } else if (arg == "--on-agent-failure") {
      target = &on_failure, from = &failure_from;
    } else {
      *error = "unknown option " + std::string(argv[i]);
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        *error = "option " + std::string(arg) + " needs a value";
        return false;
      }
      value = argv[++i];
    }
    *target = value.data();  // points into argv: NUL-terminated either way
    *from = arg == "--socket" ? "--socket" : arg == "--timeout" ? "--timeout" : "--on-agent-failure";
  }

  if (set(socket)) cfg->socket_path = socket;
  if (set(timeout) && !ParseDurationMs(timeout, &cfg->timeout_ms)) {
    *error = std::string("bad ") + timeout_from + " '" + timeout + "' (want e.g. 5s, 500ms; at most 10m)";
    return false;
  }
  if (set(on_failure) && !ParseOnFailure(on_failure, &cfg->on_agent_failure)) {
    *error = std::string("bad ") + failure_from + " '" + on_failure + "' (want deny or allow)";
    return false;
  }
  return true;
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> items;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > start) items.emplace_back(s.substr(start, i - start));
  }
  return items;
}

void BuildRequestFromEnv(EnvLookup env, void* ctx, IpcRequest* q) {
  const std::string reason = Str(env, ctx, "REASON");
  if (reason == "connect") {
    q->reason = IpcReason::kConnect;
  } else if (reason == "host-update") {
    q->reason = IpcReason::kHostUpdate;
  } else if (reason == "disconnect") {
    q->reason = IpcReason::kDisconnect;
  } else {
    q->reason = IpcReason::kUnspecified;
  }
  q->id = Str(env, ctx, "ID");
  q->username = Str(env, ctx, "USERNAME");
  q->groupname = Str(env, ctx, "GROUPNAME");
  q->hostname = Str(env, ctx, "HOSTNAME");
  q->remote_hostname = Str(env, ctx, "REMOTE_HOSTNAME");
  q->vhost = Str(env, ctx, "VHOST");
  q->device = Str(env, ctx, "DEVICE");
  q->user_agent = Str(env, ctx, "USER_AGENT");
  q->device_type = Str(env, ctx, "DEVICE_TYPE");
  q->device_platform = Str(env, ctx, "DEVICE_PLATFORM");
  q->ip_real = Str(env, ctx, "IP_REAL");
  q->ip_real_local = Str(env, ctx, "IP_REAL_LOCAL");
  q->ip_local = Str(env, ctx, "IP_LOCAL");
  q->ip_remote = Str(env, ctx, "IP_REMOTE");
  q->ipv6_local = Str(env, ctx, "IPV6_LOCAL");
  q->ipv6_remote = Str(env, ctx, "IPV6_REMOTE");
  q->ipv6_prefix = Str(env, ctx, "IPV6_PREFIX");
  q->routes = List(env, ctx, "OCSERV_ROUTES");
  q->routes4 = List(env, ctx, "OCSERV_ROUTES4");
  q->routes6 = List(env, ctx, "OCSERV_ROUTES6");
  q->no_routes = List(env, ctx, "OCSERV_NO_ROUTES");
  q->no_routes4 = List(env, ctx, "OCSERV_NO_ROUTES4");
  q->no_routes6 = List(env, ctx, "OCSERV_NO_ROUTES6");
  q->dns = List(env, ctx, "OCSERV_DNS");
  q->dns4 = List(env, ctx, "OCSERV_DNS4");
  q->dns6 = List(env, ctx, "OCSERV_DNS6");
  q->restrict_to_routes = Str(env, ctx, "OCSERV_RESTRICT_TO_ROUTES");
  q->allow_ports = List(env, ctx, "OCSERV_ALLOW_PORTS");
  q->deny_ports = List(env, ctx, "OCSERV_DENY_PORTS");
  q->stats_bytes_in = Number(env, ctx, "STATS_BYTES_IN");
  q->stats_bytes_out = Number(env, ctx, "STATS_BYTES_OUT");
  q->stats_duration = Number(env, ctx, "STATS_DURATION");
}

}  // namespace oa::helper
