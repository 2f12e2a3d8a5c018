#include "agent/config/config_parse.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "agent/config/address.h"
#include "agent/config/config_loader.h"
#include "common/utf8.h"

namespace oa {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr milliseconds kDay = 24h;

std::optional<LogLevel> ParseLogLevel(std::string_view s) {
  if (s == "trace") return LogLevel::kTrace;
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn" || s == "warning") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  if (s == "critical") return LogLevel::kCritical;
  if (s == "off") return LogLevel::kOff;
  return std::nullopt;
}

std::optional<LogFormat> ParseLogFormat(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::optional<DisconnectCommand> ParseDisconnectCommand(std::string_view s) {
  if (s == "disconnect") return DisconnectCommand::kDisconnect;
  if (s == "terminate") return DisconnectCommand::kTerminate;
  return std::nullopt;
}

std::optional<ManagementRole> ParseRole(std::string_view s) {
  if (s == "admin") return ManagementRole::kAdmin;
  if (s == "operator") return ManagementRole::kOperator;
  if (s == "viewer") return ManagementRole::kViewer;
  return std::nullopt;
}

void CheckAddress(YamlSection& s, std::string_view key, const std::string& value, bool listen) {
  if (!s.diagnostics()->Has(s.PathOf(key))) return;  // the default is known to be fine
  absl::Status st = listen ? CheckListenAddress(value) : CheckDialAddress(value);
  if (!st.ok()) s.Error(key, std::string(st.message()));
}

void CheckAbsolutePath(YamlSection& s, std::string_view key, const std::string& value) {
  if (!s.diagnostics()->Has(s.PathOf(key))) return;
  if (value.empty() || value.front() != '/') s.Error(key, "must be an absolute path, got '" + value + "'");
}

void ParseAgent(YamlSection s, AgentOptions* o) {
  s.ReadString("id", &o->id);
  // The id travels in every CheckPolicy and event as a proto3 string, which must be UTF-8: an id that is not would
  // make every call fail to serialise, i.e. every connect an outage.
  if (!IsValidUtf8(o->id)) s.Error("id", "is not valid UTF-8 (it is sent to the portal as a protobuf string)");
  s.ReadDuration("shutdown_grace", 0ms, 10min, &o->shutdown_grace);
  s.ReportUnknownKeys();
}

void ParseSocketMode(YamlSection& s, unsigned* mode) {
  auto node = s.Take("socket_mode");
  if (!node) return;
  std::string text = node->IsScalar() ? node->Scalar() : "";
  bool ok = !text.empty() && text.size() <= 4 &&
            std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; });
  if (!ok) {
    s.Error("socket_mode", "expected an octal file mode such as \"0660\", got " + DescribeNode(*node));
    return;
  }
  unsigned value = static_cast<unsigned>(std::stoul(text, nullptr, 8));
  if (value > 0777) {
    s.Error("socket_mode", "only permission bits (at most 0777) are allowed, got " + text);
    return;
  }
  *mode = value;
}

void ParseUids(YamlSection& s, std::vector<uid_t>* uids) {
  auto node = s.Take("allowed_uids");
  if (!node) return;
  if (!node->IsSequence()) {
    s.Error("allowed_uids", "expected a list of numeric user ids, got " + DescribeNode(*node));
    return;
  }
  if (node->size() == 0) {
    s.Error("allowed_uids", "must list at least one user id (ocserv runs its scripts as root: 0)");
    return;
  }
  std::vector<uid_t> values;
  bool ok = true;
  for (std::size_t i = 0; i < node->size(); ++i) {
    YAML::Node item = (*node)[i];
    std::string text = item.IsScalar() ? item.Scalar() : "";
    std::uint64_t v = 0;
    bool digits = !text.empty() && text.size() <= 10 &&
                  std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) v = std::stoull(text);
    if (!digits || v > 4294967294ull) {
      s.diagnostics()->Add(absl::StrCat(s.PathOf("allowed_uids"), "[", i, "]"), LineOf(item),
                           "expected a numeric user id (0..4294967294), got " + DescribeNode(item));
      ok = false;
      continue;
    }
    values.push_back(static_cast<uid_t>(v));
  }
  if (ok) *uids = std::move(values);
}

void ParseIpc(YamlSection s, IpcServerOptions* o) {
  s.ReadString("socket_path", &o->socket_path);
  if (s.diagnostics()->Has(s.PathOf("socket_path"))) {
    if (o->socket_path.empty() || o->socket_path.front() != '/') {
      s.Error("socket_path", "must be an absolute path, got '" + o->socket_path + "'");
    } else if (o->socket_path.size() > 107) {  // sizeof(sockaddr_un::sun_path) - 1 on Linux
      s.Error("socket_path", absl::StrCat("is ", o->socket_path.size(), " bytes long; a Unix socket path ",
                                          "allows at most 107"));
    }
  }
  ParseSocketMode(s, &o->socket_mode);
  ParseUids(s, &o->allowed_uids);
  s.ReadDuration("decision_timeout", 10ms, 60s, &o->decision_timeout);
  s.ReadDuration("read_timeout", 10ms, 60s, &o->read_timeout);
  s.ReadInt("max_connections", 1, 1'000'000, &o->max_connections);
  s.ReadInt("max_frame_bytes", 1024, 16 * 1024 * 1024, &o->max_frame_bytes);
  s.ReportUnknownKeys();
}

void ParsePortal(YamlSection s, PortalOptions* o) {
  s.ReadString("address", &o->address);
  CheckAddress(s, "address", o->address, /*listen=*/false);
  s.ReadString("ca_file", &o->ca_file);
  s.ReadString("cert_file", &o->cert_file);
  s.ReadString("key_file", &o->key_file);
  s.ReadString("server_name", &o->server_name);
  s.ReadDuration("timeout", 10ms, 60s, &o->timeout);
  s.ReadDuration("keepalive_time", 1s, kDay, &o->keepalive_time);
  s.ReadBool("report_events", &o->report_events);
  s.ReportUnknownKeys();
}

void ParseBreaker(YamlSection s, CircuitBreakerOptions* o) {
  s.ReadInt("failure_threshold", 1, 1'000'000, &o->failure_threshold);
  s.ReadInt("failure_rate_threshold", 1, 100, &o->failure_rate_threshold);
  s.ReadDuration("window", 1s, kDay, &o->window);
  s.ReadInt("minimum_calls", 1, 1'000'000, &o->minimum_calls);
  s.ReadDuration("open_timeout", 100ms, kDay, &o->open_timeout);
  s.ReadDuration("max_open_timeout", 100ms, kDay, &o->max_open_timeout);
  s.ReadInt("half_open_max_calls", 1, 10'000, &o->half_open_max_calls);
  s.ReportUnknownKeys();
}

void ParseCache(YamlSection s, DecisionCacheOptions* o) {
  s.ReadInt("max_entries", 1, 100'000'000, &o->max_entries);
  s.ReadDuration("allow_ttl", 0ms, kDay, &o->allow_ttl);
  s.ReadDuration("deny_ttl", 0ms, kDay, &o->deny_ttl);
  s.ReadDuration("stale_ttl", 0ms, 7 * kDay, &o->stale_ttl);
  std::vector<std::string> fields = o->key_fields;
  s.ReadStringList("key_fields", &fields);
  if (s.diagnostics()->Has(s.PathOf("key_fields"))) {
    const auto& known = KnownCacheKeyFields();
    bool ok = true;
    std::set<std::string> seen;
    for (const auto& f : fields) {
      if (std::find(known.begin(), known.end(), f) == known.end()) {
        std::string list;
        for (const auto& k : known) absl::StrAppend(&list, list.empty() ? "" : ", ", k);
        s.Error("key_fields", "unknown field '" + f + "' (known: " + list + ")");
        ok = false;
      } else if (!seen.insert(f).second) {
        s.Error("key_fields", "field '" + f + "' is listed twice");
        ok = false;
      }
    }
    if (fields.empty()) {
      s.Error("key_fields", "must name at least one field (a key of no fields would give every user one entry)");
      ok = false;
    }
    if (ok) o->key_fields = std::move(fields);
  }
  s.ReportUnknownKeys();
}

void ParseResilience(YamlSection s, ResilienceOptions* o) {
  s.ReadEnum<FailMode>("fail_mode", ParseFailMode, "fail-open, fail-close, fail-stale (or open, close, stale)",
                       &o->fail.fail_mode);
  s.ReadEnum<StaleFallback>("stale_fallback", ParseStaleFallback, "close, open", &o->fail.stale_fallback);
  ParseBreaker(s.Sub("circuit_breaker"), &o->circuit_breaker);
  ParseCache(s.Sub("cache"), &o->cache);
  s.ReportUnknownKeys();
}

void ParseClients(YamlSection& s, std::vector<ManagementClient>* out) {
  auto node = s.Take("clients");
  if (!node) return;
  if (node->IsNull()) {
    out->clear();
    return;
  }
  if (!node->IsSequence()) {
    s.Error("clients", "expected a list of {identity, role}, got " + DescribeNode(*node));
    return;
  }
  std::vector<ManagementClient> clients;
  std::set<std::string> seen;
  bool ok = true;
  for (std::size_t i = 0; i < node->size(); ++i) {
    std::string path = absl::StrCat(s.PathOf("clients"), "[", i, "]");
    YAML::Node item = (*node)[i];
    if (!item.IsMap()) {
      s.diagnostics()->Add(path, LineOf(item), "expected {identity: NAME, role: ROLE}, got " + DescribeNode(item));
      ok = false;
      continue;
    }
    std::size_t errors_before = s.diagnostics()->errors().size();
    YamlSection c(item, path, s.diagnostics());
    ManagementClient client;
    c.ReadString("identity", &client.identity);
    c.ReadEnum<ManagementRole>("role", ParseRole, "admin, operator, viewer", &client.role);
    bool has_role = c.diagnostics()->Has(c.PathOf("role"));
    if (client.identity.empty()) {
      s.diagnostics()->Add(path + ".identity", LineOf(item),
                           "every client needs an identity (its certificate's SAN or CN)");
    } else if (!seen.insert(client.identity).second) {
      c.Error("identity", "identity '" + client.identity + "' is listed twice");
    }
    if (!has_role) {
      s.diagnostics()->Add(path + ".role", LineOf(item), "every client needs a role (admin, operator, viewer)");
    }
    c.ReportUnknownKeys();
    if (s.diagnostics()->errors().size() != errors_before) ok = false;
    clients.push_back(std::move(client));
  }
  if (ok) *out = std::move(clients);
}

void ParseManagement(YamlSection s, ManagementOptions* o) {
  s.ReadBool("enabled", &o->enabled);
  s.ReadString("listen", &o->listen);
  CheckAddress(s, "listen", o->listen, /*listen=*/true);
  s.ReadString("cert_file", &o->cert_file);
  s.ReadString("key_file", &o->key_file);
  s.ReadString("client_ca", &o->client_ca);
  ParseClients(s, &o->clients);
  s.ReadBool("reflection", &o->reflection);
  s.ReadBool("allow_main_config_update", &o->allow_main_config_update);
  s.ReportUnknownKeys();
}

void ParseOcserv(YamlSection s, OcservOptions* o) {
  s.ReadString("occtl_path", &o->occtl_path);
  CheckAbsolutePath(s, "occtl_path", o->occtl_path);
  s.ReadString("occtl_socket", &o->occtl_socket);
  CheckAbsolutePath(s, "occtl_socket", o->occtl_socket);
  s.ReadString("config_per_user_dir", &o->config_per_user_dir);
  CheckAbsolutePath(s, "config_per_user_dir", o->config_per_user_dir);
  s.ReadString("config_per_group_dir", &o->config_per_group_dir);
  CheckAbsolutePath(s, "config_per_group_dir", o->config_per_group_dir);
  s.ReadString("main_config_path", &o->main_config_path);
  CheckAbsolutePath(s, "main_config_path", o->main_config_path);
  s.ReadDuration("command_timeout_max", 100ms, 10min, &o->command_timeout_max);
  s.ReadEnum<DisconnectCommand>("disconnect_command", ParseDisconnectCommand, "disconnect, terminate",
                                &o->disconnect_command);
  s.ReadDuration("reconcile_interval", 0ms, 24h, &o->reconcile_interval);
  s.ReportUnknownKeys();
}

void ParseEnforcement(YamlSection s, EnforcementOptions* o) {
  s.ReadBool("watch", &o->watch);
  s.ReadBool("recheck_after_outage", &o->recheck_after_outage);
  s.ReadInt("recheck_rate", 1, 100000, &o->recheck_rate);
  s.ReadDuration("recheck_interval", 0ms, 24h * 7, &o->recheck_interval);
  s.ReadDuration("revocation_ttl", 1s, 24h * 365, &o->revocation_ttl);
  s.ReadInt("disconnect_concurrency", 1, 256, &o->disconnect_concurrency);
  s.ReadDuration("disconnect_timeout", 100ms, 10min, &o->disconnect_timeout);
  s.ReportUnknownKeys();
}

void ParseEvents(YamlSection s, EventsOptions* o) {
  s.ReadString("outbox_path", &o->outbox.path);  // relative: to the config file's directory (config_checks.cc)
  if (o->outbox.path.empty()) s.Error("outbox_path", "must name a file (the outbox is a SQLite database)");
  s.ReadEnum<OutboxDurability>("durability", ParseOutboxDurability, "process, power", &o->outbox.durability);
  // At least 1000: a smaller outbox would drop events in an ordinary portal restart.
  s.ReadInt("max_outbox_events", 1000, 1'000'000'000, &o->outbox.max_events);
  s.ReadDuration("session_update_interval", 0ms, kDay, &o->session_update_interval);
  if (o->session_update_interval.count() > 0 && o->session_update_interval < 10s) {
    s.Error("session_update_interval", "must be 0s (off) or at least 10s");
  }
  s.ReadDuration("max_delivery_delay", 0ms, 60s, &o->max_delivery_delay);
  s.ReportUnknownKeys();
}

void ParseMetrics(YamlSection s, MetricsOptions* o) {
  s.ReadBool("enabled", &o->enabled);
  s.ReadString("listen", &o->listen);
  CheckAddress(s, "listen", o->listen, /*listen=*/true);
  s.ReportUnknownKeys();
}

void ParseLogging(YamlSection s, LoggingOptions* o) {
  s.ReadEnum<LogLevel>("level", ParseLogLevel, "trace, debug, info, warn, error, critical, off", &o->level);
  s.ReadEnum<LogFormat>("format", ParseLogFormat, "text, json", &o->format);
  s.ReportUnknownKeys();
}

}  // namespace

void ParseConfigTree(const YAML::Node& root, ConfigDiagnostics* diag, Config* config) {
  YamlSection top(root, "", diag);
  ParseAgent(top.Sub("agent"), &config->agent);
  ParseIpc(top.Sub("ipc"), &config->ipc);
  ParsePortal(top.Sub("portal"), &config->portal);
  ParseResilience(top.Sub("resilience"), &config->resilience);
  ParseManagement(top.Sub("management"), &config->management);
  ParseOcserv(top.Sub("ocserv"), &config->ocserv);
  ParseEnforcement(top.Sub("enforcement"), &config->enforcement);
  ParseEvents(top.Sub("events"), &config->events);
  ParseMetrics(top.Sub("metrics"), &config->metrics);
  ParseLogging(top.Sub("logging"), &config->logging);
  top.ReportUnknownKeys();
}

}  // namespace oa
