// Every validation error class of the config loader, each checked by the key path it names.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace oa::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using std::chrono::milliseconds;

TEST(ConfigLoaderTest, MinimalConfigTakesTheDocumentedDefaults) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml());
  ASSERT_TRUE(r.ok()) << Dump(r);
  const Config& c = *r.config;
  EXPECT_FALSE(c.agent.id.empty());  // "" becomes the host name
  EXPECT_EQ(c.ipc.socket_path, "/run/ocserv-agent/auth.sock");
  EXPECT_EQ(c.ipc.socket_mode, 0660u);
  EXPECT_EQ(c.ipc.decision_timeout, milliseconds(3000));
  EXPECT_EQ(c.portal.timeout, milliseconds(2000));
  EXPECT_EQ(c.resilience.fail.fail_mode, FailMode::kStale);
  EXPECT_EQ(c.resilience.circuit_breaker.failure_threshold, 5);
  EXPECT_EQ(c.resilience.cache.max_entries, 100'000u);
  EXPECT_EQ(c.logging.level, LogLevel::kInfo);
  EXPECT_EQ(c.logging.format, LogFormat::kText);
  // Relative certificate paths are resolved against the config file's directory.
  EXPECT_EQ(c.portal.ca_file, dir.dir() / "pki/portal-ca.pem");
  EXPECT_EQ(c.management.client_ca, dir.dir() / "pki/management-client-ca.pem");
  EXPECT_EQ(c.source_path, dir.dir() / "config.yaml");
}

TEST(ConfigLoaderTest, ReadsEveryKindOfValue) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({
      {"agent", "  id: edge-1\n  shutdown_grace: 250ms\n"},
      {"ipc",
       "  socket_path: /tmp/x.sock\n  socket_mode: \"0600\"\n  allowed_uids: [0, 101]\n"
       "  decision_timeout: 2s500ms\n  read_timeout: 250ms\n  max_connections: 10\n  max_frame_bytes: 4096\n"},
      {"resilience",
       "  fail_mode: open\n  stale_fallback: open\n"
       "  circuit_breaker: {failure_threshold: 3, failure_rate_threshold: 100, window: 1m, minimum_calls: 1,\n"
       "                    open_timeout: 1s, max_open_timeout: 1s, half_open_max_calls: 2}\n"
       "  cache: {max_entries: 1, allow_ttl: 0, deny_ttl: 1s, stale_ttl: 1s, key_fields: [username, device]}\n"},
      {"logging", "  level: warning\n  format: json\n"},
      {"metrics", "  enabled: false\n  listen: \"[::1]:9000\"\n"},
  }));
  ASSERT_TRUE(r.ok()) << Dump(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.agent.id, "edge-1");
  EXPECT_EQ(c.agent.shutdown_grace, milliseconds(250));
  EXPECT_EQ(c.ipc.socket_mode, 0600u);
  EXPECT_THAT(c.ipc.allowed_uids, ElementsAre(0u, 101u));
  EXPECT_EQ(c.ipc.decision_timeout, milliseconds(2500));
  EXPECT_EQ(c.ipc.max_frame_bytes, 4096u);
  EXPECT_EQ(c.resilience.fail.fail_mode, FailMode::kOpen);
  EXPECT_EQ(c.resilience.fail.stale_fallback, StaleFallback::kOpen);
  EXPECT_EQ(c.resilience.circuit_breaker.half_open_max_calls, 2);
  EXPECT_EQ(c.resilience.circuit_breaker.window, milliseconds(60'000));
  EXPECT_EQ(c.resilience.cache.allow_ttl, milliseconds(0));
  EXPECT_THAT(c.resilience.cache.key_fields, ElementsAre("username", "device"));
  EXPECT_EQ(c.logging.level, LogLevel::kWarn);
  EXPECT_EQ(c.logging.format, LogFormat::kJson);
  EXPECT_FALSE(c.metrics.enabled);
  EXPECT_EQ(c.management.clients.size(), 1u);
  EXPECT_EQ(c.management.clients[0].role, ManagementRole::kAdmin);
}

TEST(ConfigLoaderTest, UnknownKeysAreErrorsWithTheirLineAndASuggestion) {
  ConfigDir dir;
  auto r = dir.Load("ipc:\n  decision_timout: 3s\n" + TestConfigYaml({{"loging", "  level: info\n"}}));
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(Keys(r), UnorderedElementsAre("ipc.decision_timout", "loging"));
  const ConfigError* e = ErrorFor(r, "ipc.decision_timout");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->line, 2);
  EXPECT_THAT(e->message, HasSubstr("did you mean 'decision_timeout'"));
  EXPECT_THAT(ErrorFor(r, "loging")->message, HasSubstr("did you mean 'logging'"));
}

TEST(ConfigLoaderTest, DuplicateKeysAreErrors) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"ipc", "  read_timeout: 1s\n  read_timeout: 2s\n"}}));
  EXPECT_THAT(Keys(r), ElementsAre("ipc.read_timeout"));
}

TEST(ConfigLoaderTest, WrongTypesAreErrors) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({
      {"agent", "  id: [a, b]\n"},
      {"ipc", "  max_connections: many\n  allowed_uids: 0\n"},
      {"metrics", "  enabled: maybe\n"},
      {"ocserv", "  occtl_path: {a: b}\n"},
      {"logging", "  - level\n"},
  }));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("agent.id", "ipc.max_connections", "ipc.allowed_uids", "metrics.enabled",
                                            "ocserv.occtl_path", "logging"));
}

TEST(ConfigLoaderTest, BadDurationsAreErrors) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({
      {"ipc", "  decision_timeout: 3\n  read_timeout: 1 second\n"},
      {"ocserv", "  command_timeout_max: 5x\n"},
  }));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("ipc.decision_timeout", "ipc.read_timeout", "ocserv.command_timeout_max"));
  EXPECT_THAT(ErrorFor(r, "ipc.decision_timeout")->message, HasSubstr("lacks a unit"));
}

TEST(ConfigLoaderTest, NumbersOutOfRangeAreErrors) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({
      {"ipc", "  max_frame_bytes: 100\n  max_connections: 0\n  decision_timeout: 2m\n"},
      {"resilience",
       "  circuit_breaker: {failure_threshold: 0, failure_rate_threshold: 101, half_open_max_calls: 0,\n"
       "                    minimum_calls: -1}\n"
       "  cache: {max_entries: 0}\n"},
  }));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("ipc.max_frame_bytes", "ipc.max_connections", "ipc.decision_timeout",
                                            "resilience.circuit_breaker.failure_threshold",
                                            "resilience.circuit_breaker.failure_rate_threshold",
                                            "resilience.circuit_breaker.half_open_max_calls",
                                            "resilience.circuit_breaker.minimum_calls",
                                            "resilience.cache.max_entries"));
  EXPECT_THAT(ErrorFor(r, "ipc.max_frame_bytes")->message, HasSubstr("between 1024 and 16777216"));
}

TEST(ConfigLoaderTest, InconsistentDeadlinesAreErrors) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"ipc", "  decision_timeout: 2s\n"}}));  // portal.timeout defaults to 2s
  EXPECT_THAT(Keys(r), ElementsAre("portal.timeout"));
  EXPECT_THAT(r.errors[0].message, HasSubstr("ipc.decision_timeout"));
}

TEST(ConfigLoaderTest, InconsistentBreakerAndCacheTimesAreErrors) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"resilience",
                                     "  circuit_breaker: {open_timeout: 1m, max_open_timeout: 30s}\n"
                                     "  cache: {allow_ttl: 1h, stale_ttl: 30m}\n"}}));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("resilience.circuit_breaker.max_open_timeout",
                                            "resilience.cache.stale_ttl"));
}

// One mistake, one message: a value rejected by its own range check is not compared again against its neighbours
// (it would be the default by then, and the second message would be wrong).
TEST(ConfigLoaderTest, ARejectedValueIsNotCrossCheckedAgain) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"ipc", "  decision_timeout: 90s\n"},
                                    {"portal",
                                     "  address: 127.0.0.1:1\n  ca_file: pki/portal-ca.pem\n"
                                     "  cert_file: pki/agent-client.pem\n  key_file: pki/agent-client.key\n"
                                     "  timeout: 4s\n"},
                                    {"resilience",
                                     "  circuit_breaker: {open_timeout: 10m, max_open_timeout: 2d}\n"
                                     "  cache: {allow_ttl: 1h, stale_ttl: forever}\n"}}));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("ipc.decision_timeout", "resilience.circuit_breaker.max_open_timeout",
                                            "resilience.cache.stale_ttl"))
      << Dump(r);
}

TEST(ConfigLoaderTest, UnknownFailModesAreErrorsNeverASilentDeny) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"resilience", "  fail_mode: fail-safe\n  stale_fallback: deny\n"}}));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("resilience.fail_mode", "resilience.stale_fallback"));
  EXPECT_THAT(ErrorFor(r, "resilience.fail_mode")->message, HasSubstr("fail-open, fail-close, fail-stale"));
  for (const char* spelling : {"fail-open", "open", "fail-close", "fail-closed", "close", "fail-stale", "stale"}) {
    auto ok = dir.Load(TestConfigYaml({{"resilience", std::string("  fail_mode: ") + spelling + "\n"}}));
    EXPECT_TRUE(ok.ok()) << spelling << ": " << Dump(ok);
  }
}

TEST(ConfigLoaderTest, MissingOrUnusableCertificateFilesAreErrors) {
  ConfigDir dir;
  dir.dir().WriteFile("pki/empty.pem", "");
  ::mkdir((dir.dir() / "pki/a-dir").c_str(), 0755);
  auto r = dir.Load(TestConfigYaml({{"portal",
                                     "  ca_file: pki/missing.pem\n"
                                     "  cert_file: pki/a-dir\n"
                                     "  key_file: pki/empty.pem\n"},
                                    {"management", "  enabled: true\n  clients: [{identity: a, role: admin}]\n"}}));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("portal.ca_file", "portal.cert_file", "portal.key_file",
                                            "management.cert_file", "management.key_file", "management.client_ca"));
  EXPECT_THAT(ErrorFor(r, "portal.ca_file")->message, HasSubstr("No such file"));
  EXPECT_THAT(ErrorFor(r, "portal.cert_file")->message, HasSubstr("is a directory"));
  EXPECT_THAT(ErrorFor(r, "portal.key_file")->message, HasSubstr("is empty"));
  EXPECT_THAT(ErrorFor(r, "management.client_ca")->message, HasSubstr("is required"));
}

// Root reads any file, so as root the load runs in a child process that dropped to user "nobody" (65534).
TEST(ConfigLoaderTest, UnreadableCertificateFileIsAnError) {
  ConfigDir dir;
  std::string key = dir.dir().WriteFile("pki/secret.key", "x");
  std::string config = dir.dir().WriteFile(
      "config.yaml", TestConfigYaml({{"portal",
                                      "  ca_file: pki/portal-ca.pem\n  cert_file: pki/agent-client.pem\n"
                                      "  key_file: pki/secret.key\n"}}));
  ::chmod(dir.dir().path().c_str(), 0755);
  ::chmod(key.c_str(), 0);
  auto check = [&config]() -> int {
    auto r = LoadConfigFile(config);
    if (r.errors.size() != 1) return 10 + static_cast<int>(r.errors.size());
    if (r.errors[0].key != "portal.key_file") return 2;
    return r.errors[0].message.find("Permission denied") != std::string::npos ? 0 : 3;
  };
  if (::geteuid() != 0) {
    EXPECT_EQ(check(), 0);
    return;
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(99);
    ::_exit(check());
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1x = that many errors, 2 = other key, 3 = other message, 99 = setuid";
}

TEST(ConfigLoaderTest, AMissingRequiredSectionIsOneProblem) {
  ConfigDir dir;
  auto r = dir.Load("logging:\n  level: info\n");
  EXPECT_THAT(Keys(r), ElementsAre("portal"));
}

TEST(ConfigLoaderTest, ManagementIsOffUnlessConfigured) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"management", ""}}));  // no management section at all
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_FALSE(r.config->management.enabled);
}

TEST(ConfigLoaderTest, ManagementFilesAreCheckedOnlyWhenEnabled) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"management", "  enabled: false\n  cert_file: nowhere.pem\n"}}));
  EXPECT_TRUE(r.ok()) << Dump(r);
}

TEST(ConfigLoaderTest, IpcSocketSettingsAreValidated) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"ipc",
                                     "  socket_path: relative.sock\n  socket_mode: \"0999\"\n"
                                     "  allowed_uids: [0, -5, nobody]\n"}}));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("ipc.socket_path", "ipc.socket_mode", "ipc.allowed_uids[1]",
                                            "ipc.allowed_uids[2]"));
  auto too_long = dir.Load(TestConfigYaml({{"ipc", "  socket_path: /" + std::string(120, 'a') + "\n"}}));
  EXPECT_THAT(Keys(too_long), ElementsAre("ipc.socket_path"));
  auto mode = dir.Load(TestConfigYaml({{"ipc", "  socket_mode: 4755\n"}}));
  EXPECT_THAT(Keys(mode), ElementsAre("ipc.socket_mode"));
  auto empty_uids = dir.Load(TestConfigYaml({{"ipc", "  allowed_uids: []\n"}}));
  EXPECT_THAT(Keys(empty_uids), ElementsAre("ipc.allowed_uids"));
}

TEST(ConfigLoaderTest, CacheKeyFieldsMustBeKnownAndDistinct) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"resilience", "  cache: {key_fields: [username, password, username]}\n"}}));
  ASSERT_EQ(r.errors.size(), 2u) << Dump(r);
  EXPECT_THAT(Keys(r), ElementsAre("resilience.cache.key_fields", "resilience.cache.key_fields"));
  EXPECT_THAT(r.errors[0].message, HasSubstr("'password'"));
  EXPECT_THAT(r.errors[1].message, HasSubstr("twice"));
  auto empty = dir.Load(TestConfigYaml({{"resilience", "  cache: {key_fields: []}\n"}}));
  EXPECT_THAT(Keys(empty), ElementsAre("resilience.cache.key_fields"));
}

TEST(ConfigLoaderTest, ManagementClientsAndAddressesAreValidated) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"management",
                                     "  listen: 0.0.0.0\n"
                                     "  cert_file: pki/management.pem\n  key_file: pki/management.key\n"
                                     "  client_ca: pki/management-client-ca.pem\n"
                                     "  clients:\n"
                                     "    - {identity: a.test, role: root}\n"
                                     "    - {identity: a.test, role: viewer}\n"
                                     "    - {role: admin}\n"
                                     "    - {identity: b.test}\n"
                                     "    - {identity: c.test, role: admin, colour: blue}\n"},
                                    {"metrics", "  listen: localhost:http\n"},
                                    {"events", ""},  // out, so that management: is the first section
                                    {"portal",
                                     "  address: portal.example.net\n  ca_file: pki/portal-ca.pem\n"
                                     "  cert_file: pki/agent-client.pem\n  key_file: pki/agent-client.key\n"}}));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("management.listen", "management.clients[0].role",
                                            "management.clients[1].identity", "management.clients[2].identity",
                                            "management.clients[3].role", "management.clients[4].colour",
                                            "metrics.listen", "portal.address"));
  // Sections come out in name order, so management: is line 1 and the first client line 7.
  EXPECT_EQ(ErrorFor(r, "management.clients[0].role")->line, 7);
}

TEST(ConfigLoaderTest, ReadsEveryKeyTheManagementApiUses) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({
      {"management",
       "  enabled: true\n  listen: 127.0.0.1:0\n  cert_file: pki/management.pem\n  key_file: pki/management.key\n"
       "  client_ca: pki/management-client-ca.pem\n  clients: [{identity: admin.test, role: admin}]\n"
       "  reflection: true\n  allow_main_config_update: true\n"},
      {"ocserv",
       "  occtl_path: /opt/occtl\n  occtl_socket: /run/x/occtl.socket\n  config_per_user_dir: /srv/users\n"
       "  config_per_group_dir: /srv/groups\n  main_config_path: /srv/ocserv.conf\n  command_timeout_max: 5s\n"},
  }));
  ASSERT_TRUE(r.ok()) << Dump(r);
  const Config& c = *r.config;
  EXPECT_TRUE(c.management.reflection);
  EXPECT_TRUE(c.management.allow_main_config_update);
  EXPECT_EQ(c.ocserv.occtl_path, "/opt/occtl");
  EXPECT_EQ(c.ocserv.occtl_socket, "/run/x/occtl.socket");
  EXPECT_EQ(c.ocserv.config_per_user_dir, "/srv/users");
  EXPECT_EQ(c.ocserv.config_per_group_dir, "/srv/groups");
  EXPECT_EQ(c.ocserv.main_config_path, "/srv/ocserv.conf");
  EXPECT_EQ(c.ocserv.command_timeout_max, milliseconds(5000));

  auto relative = dir.Load(TestConfigYaml({{"ocserv", "  main_config_path: ocserv.conf\n"}}));
  EXPECT_THAT(Keys(relative), ElementsAre("ocserv.main_config_path"));
}

TEST(ConfigLoaderTest, EnabledManagementNeedsClients) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"management",
                                     "  enabled: true\n"
                                     "  cert_file: pki/management.pem\n  key_file: pki/management.key\n"
                                     "  client_ca: pki/management-client-ca.pem\n  clients: []\n"}}));
  EXPECT_THAT(Keys(r), ElementsAre("management.clients"));
}

TEST(ConfigLoaderTest, LoggingLevelAndFormatAreValidated) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"logging", "  level: verbose\n  format: xml\n"}}));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("logging.level", "logging.format"));
}

TEST(ConfigLoaderTest, ReadsTheEventsSection) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"events", ""}}));
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->events.outbox.path, "/var/lib/ocserv-agent/outbox.db");
  EXPECT_EQ(r.config->events.outbox.durability, OutboxDurability::kProcess);
  EXPECT_EQ(r.config->events.outbox.max_events, 1'000'000u);
  EXPECT_EQ(r.config->events.session_update_interval, milliseconds(0));
  EXPECT_EQ(r.config->events.max_delivery_delay, milliseconds(1000));
  r = dir.Load(TestConfigYaml({{"events",
                                "  outbox_path: state/outbox.db\n  durability: power\n  max_outbox_events: 5000\n"
                                "  session_update_interval: 5m\n  max_delivery_delay: 0s\n"}}));
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->events.outbox.path, dir.dir() / "state/outbox.db") << "relative to the config file";
  EXPECT_EQ(r.config->events.outbox.durability, OutboxDurability::kPower);
  EXPECT_EQ(r.config->events.outbox.max_events, 5000u);
  EXPECT_EQ(r.config->events.session_update_interval, milliseconds(300'000));
  EXPECT_EQ(r.config->events.max_delivery_delay, milliseconds(0)) << "0s: each event sent at once";
}

TEST(ConfigLoaderTest, EventsSettingsAreValidated) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"events",
                                     "  outbox_path: \"\"\n  durability: disk\n  max_outbox_events: 10\n"
                                     "  session_update_interval: 2s\n  max_delivery_delay: 2m\n  outbox: x\n"}}));
  EXPECT_THAT(Keys(r), UnorderedElementsAre("events.outbox_path", "events.durability", "events.max_outbox_events",
                                            "events.session_update_interval", "events.max_delivery_delay",
                                            "events.outbox"));
  EXPECT_THAT(Dump(r), HasSubstr("process, power"));
}

TEST(ConfigLoaderTest, FiveMistakesGiveFiveMessagesNamingFiveKeys) {
  ConfigDir dir;
  const std::string yaml =
      "ipc:\n"
      "  decision_timeout: 3x\n"          // 1 bad duration
      "  max_frame_bytes: 10\n"           // 2 out of range
      "  colour: blue\n"                  // 3 unknown key
      "resilience:\n"
      "  fail_mode: sometimes\n"          // 4 unknown fail mode
      "logging:\n"
      "  level: loud\n" +                 // 5 bad level
      TestConfigYaml();
  auto r = dir.Load(yaml);
  ASSERT_EQ(r.errors.size(), 5u) << Dump(r);
  EXPECT_THAT(Keys(r), ElementsAre("ipc.decision_timeout", "ipc.max_frame_bytes", "ipc.colour",
                                   "resilience.fail_mode", "logging.level"));  // in file order
  int line = 0;
  for (const auto& e : r.errors) {
    EXPECT_GT(e.line, line) << FormatConfigError(e);
    line = e.line;
  }
  EXPECT_EQ(FormatConfigError(r.errors[0]).substr(0, 30), "ipc.decision_timeout (line 2):");
}

TEST(ConfigLoaderTest, MissingFileIsOneClearMessage) {
  TempDir dir;
  auto r = LoadConfigFile(dir / "nope.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, HasSubstr("does not exist"));
}

TEST(ConfigLoaderTest, DirectoryIsOneClearMessage) {
  TempDir dir;
  auto r = LoadConfigFile(dir.path());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, HasSubstr("is a directory"));
}

TEST(ConfigLoaderTest, EmptyFileIsOneClearMessage) {
  TempDir dir;
  for (const char* empty : {"", "\n\n", "# only a comment\n"}) {
    auto r = LoadConfigFile(dir.WriteFile("empty.yaml", empty));
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_THAT(r.errors[0].message, HasSubstr("is empty"));
  }
}

TEST(ConfigLoaderTest, NotYamlIsOneClearMessage) {
  TempDir dir;
  auto syntax = LoadConfigFile(dir.WriteFile("bad.yaml", "ipc:\n  socket_path: [unclosed\n"));
  ASSERT_EQ(syntax.errors.size(), 1u);
  EXPECT_THAT(syntax.errors[0].message, HasSubstr("not valid YAML: line"));
  auto text = LoadConfigFile(dir.WriteFile("text.yaml", "this is just some prose, not a config\n"));
  ASSERT_EQ(text.errors.size(), 1u);
  EXPECT_THAT(text.errors[0].message, HasSubstr("not a YAML mapping"));
  auto list = LoadConfigFile(dir.WriteFile("list.yaml", "- a\n- b\n"));
  ASSERT_EQ(list.errors.size(), 1u);
  static constexpr char kElf[] = "\x7f" "ELF\x02\x01\x01\0\0\0\t\x01:{";
  auto binary = LoadConfigFile(dir.WriteFile("bin.yaml", std::string(kElf, sizeof kElf - 1)));
  EXPECT_EQ(binary.errors.size(), 1u) << Dump(binary);
}

// agent.id is sent in every CheckPolicy as a proto3 string: one that is not UTF-8 would fail every call.
TEST(ConfigLoaderTest, AnAgentIdThatIsNotUtf8IsAnError) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({{"agent", "  id: edge-\xff\xfe\n"}}));
  ASSERT_FALSE(r.ok());
  const ConfigError* e = ErrorFor(r, "agent.id");
  ASSERT_NE(e, nullptr) << Dump(r);
  EXPECT_THAT(e->message, HasSubstr("UTF-8"));
  EXPECT_GT(e->line, 0);
  auto ok = dir.Load(TestConfigYaml({{"agent", "  id: \"J\xc3\xbcrgen-edge\"\n"}}));
  EXPECT_TRUE(ok.ok()) << Dump(ok);
}

// yaml-cpp's Load reads the first document only: the settings after a stray '---' would be dropped without a word.
TEST(ConfigLoaderTest, ASecondYamlDocumentIsAnError) {
  ConfigDir dir;
  const std::string first = TestConfigYaml();
  auto r = dir.Load(first + "---\nipc:\n  max_connections: 1\n");
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r);
  EXPECT_THAT(r.errors[0].message, HasSubstr("more than one YAML document"));
  EXPECT_GT(r.errors[0].line, 0);
  // A leading '---', an end marker, or a trailing '---' with nothing after it hold one document: nothing is lost.
  for (const std::string& one : {"---\n" + first, first + "...\n", first + "---\n"}) {
    auto ok = dir.Load(one);
    EXPECT_TRUE(ok.ok()) << Dump(ok);
  }
}

TEST(ConfigLoaderTest, FormatsErrorsWithKeyAndLine) {
  EXPECT_EQ(FormatConfigError({"ipc.read_timeout", 7, "bad"}), "ipc.read_timeout (line 7): bad");
  EXPECT_EQ(FormatConfigError({"portal.ca_file", 0, "is required"}), "portal.ca_file: is required");
  EXPECT_EQ(FormatConfigError({"", 3, "not valid"}), "line 3: not valid");
  EXPECT_EQ(FormatConfigError({"", 0, "gone"}), "gone");
}

}  // namespace
}  // namespace oa::testing

namespace oa::testing {
namespace {

TEST(ConfigLoaderEnforcementTest, DefaultsAreTheDocumentedOnes) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({}));
  ASSERT_TRUE(r.ok()) << Dump(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.ocserv.occtl_socket, "/var/run/occtl.socket");
  EXPECT_EQ(c.ocserv.disconnect_command, DisconnectCommand::kDisconnect);
  EXPECT_EQ(c.ocserv.reconcile_interval, std::chrono::seconds(60));
  EXPECT_TRUE(c.enforcement.watch);
  EXPECT_TRUE(c.enforcement.recheck_after_outage);
  EXPECT_EQ(c.enforcement.recheck_rate, 50u);
  EXPECT_EQ(c.enforcement.recheck_interval, std::chrono::milliseconds(0));
  EXPECT_EQ(c.enforcement.revocation_ttl, std::chrono::hours(24));
}

TEST(ConfigLoaderEnforcementTest, ReadsEveryEnforcementKey) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({
      {"ocserv", "  disconnect_command: terminate\n  reconcile_interval: 5m\n"},
      {"enforcement",
       "  watch: false\n  recheck_after_outage: false\n  recheck_rate: 7\n  recheck_interval: 10m\n"
       "  revocation_ttl: 2h\n  disconnect_concurrency: 9\n  disconnect_timeout: 3s\n"},
  }));
  ASSERT_TRUE(r.ok()) << Dump(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.ocserv.disconnect_command, DisconnectCommand::kTerminate);
  EXPECT_EQ(c.ocserv.reconcile_interval, std::chrono::minutes(5));
  EXPECT_FALSE(c.enforcement.watch);
  EXPECT_FALSE(c.enforcement.recheck_after_outage);
  EXPECT_EQ(c.enforcement.recheck_rate, 7u);
  EXPECT_EQ(c.enforcement.recheck_interval, std::chrono::minutes(10));
  EXPECT_EQ(c.enforcement.revocation_ttl, std::chrono::hours(2));
  EXPECT_EQ(c.enforcement.disconnect_concurrency, 9u);
  EXPECT_EQ(c.enforcement.disconnect_timeout, std::chrono::seconds(3));
}

TEST(ConfigLoaderEnforcementTest, BadValuesAreNamedAllAtOnce) {
  ConfigDir dir;
  auto r = dir.Load(TestConfigYaml({
      {"ocserv", "  disconnect_command: kill\n"},
      {"enforcement", "  recheck_rate: 0\n  revocation_ttl: soon\n  wach: true\n"},
  }));
  EXPECT_THAT(Keys(r), ::testing::UnorderedElementsAre("ocserv.disconnect_command", "enforcement.recheck_rate",
                                                       "enforcement.revocation_ttl", "enforcement.wach"));
}

}  // namespace
}  // namespace oa::testing
