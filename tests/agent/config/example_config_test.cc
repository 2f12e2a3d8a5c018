// config.yaml.example must load cleanly and must document exactly the defaults the code has.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace oa::testing {
namespace {

TEST(ExampleConfigTest, LoadsCleanlyWithItsRelativePkiPaths) {
  ConfigDir dir;
  std::filesystem::copy_file(OA_SOURCE_DIR "/config.yaml.example", dir.dir() / "config.yaml");
  auto r = LoadConfigFile(dir.dir() / "config.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->portal.ca_file, dir.dir() / "pki/portal-ca.pem");
}

// The example ships with management off; its management block must still be right for whoever turns it on.
TEST(ExampleConfigTest, ItsManagementBlockLoadsCleanlyWhenEnabled) {
  ConfigDir dir;
  std::ifstream in(OA_SOURCE_DIR "/config.yaml.example");
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const std::string off = "  enabled: false\n  listen: \"0.0.0.0:9443\"";
  const auto at = yaml.find(off);
  ASSERT_NE(at, std::string::npos) << "the example's management block no longer starts as expected";
  yaml.replace(at, std::string("  enabled: false").size(), "  enabled: true");
  auto r = dir.Load(yaml);
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_TRUE(r.config->management.enabled);
  EXPECT_EQ(r.config->management.key_file, dir.dir() / "pki/management.key");
}

TEST(ExampleConfigTest, DocumentsTheDefaultsOfTheCode) {
  ConfigDir dir;
  std::filesystem::copy_file(OA_SOURCE_DIR "/config.yaml.example", dir.dir() / "config.yaml");
  auto r = LoadConfigFile(dir.dir() / "config.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r);
  const Config& c = *r.config;
  const Config d;  // the defaults in the option structs
  EXPECT_EQ(c.agent.shutdown_grace, d.agent.shutdown_grace);
  EXPECT_EQ(c.ipc.socket_path, d.ipc.socket_path);
  EXPECT_EQ(c.ipc.socket_mode, d.ipc.socket_mode);
  EXPECT_EQ(c.ipc.allowed_uids, d.ipc.allowed_uids);
  EXPECT_EQ(c.ipc.decision_timeout, d.ipc.decision_timeout);
  EXPECT_EQ(c.ipc.read_timeout, d.ipc.read_timeout);
  EXPECT_EQ(c.ipc.max_connections, d.ipc.max_connections);
  EXPECT_EQ(c.ipc.max_frame_bytes, d.ipc.max_frame_bytes);
  EXPECT_EQ(c.portal.address, d.portal.address);
  EXPECT_EQ(c.portal.server_name, d.portal.server_name);
  EXPECT_EQ(c.portal.timeout, d.portal.timeout);
  EXPECT_EQ(c.portal.keepalive_time, d.portal.keepalive_time);
  EXPECT_EQ(c.portal.report_events, d.portal.report_events);
  EXPECT_EQ(c.resilience.fail.fail_mode, d.resilience.fail.fail_mode);
  EXPECT_EQ(c.resilience.fail.stale_fallback, d.resilience.fail.stale_fallback);
  const auto &cb = c.resilience.circuit_breaker, &dcb = d.resilience.circuit_breaker;
  EXPECT_EQ(cb.failure_threshold, dcb.failure_threshold);
  EXPECT_EQ(cb.failure_rate_threshold, dcb.failure_rate_threshold);
  EXPECT_EQ(cb.window, dcb.window);
  EXPECT_EQ(cb.minimum_calls, dcb.minimum_calls);
  EXPECT_EQ(cb.open_timeout, dcb.open_timeout);
  EXPECT_EQ(cb.max_open_timeout, dcb.max_open_timeout);
  EXPECT_EQ(cb.half_open_max_calls, dcb.half_open_max_calls);
  const auto &ca = c.resilience.cache, &dca = d.resilience.cache;
  EXPECT_EQ(ca.max_entries, dca.max_entries);
  EXPECT_EQ(ca.allow_ttl, dca.allow_ttl);
  EXPECT_EQ(ca.deny_ttl, dca.deny_ttl);
  EXPECT_EQ(ca.stale_ttl, dca.stale_ttl);
  EXPECT_EQ(ca.key_fields, dca.key_fields);
  EXPECT_EQ(c.management.enabled, d.management.enabled);
  EXPECT_EQ(c.management.listen, d.management.listen);
  ASSERT_EQ(c.management.clients.size(), d.management.clients.size());
  EXPECT_EQ(c.management.clients[0].identity, d.management.clients[0].identity);
  EXPECT_EQ(c.management.clients[0].role, d.management.clients[0].role);
  EXPECT_EQ(c.management.reflection, d.management.reflection);
  EXPECT_EQ(c.management.allow_main_config_update, d.management.allow_main_config_update);
  EXPECT_EQ(c.ocserv.occtl_path, d.ocserv.occtl_path);
  EXPECT_EQ(c.ocserv.occtl_socket, d.ocserv.occtl_socket);
  EXPECT_EQ(c.ocserv.config_per_user_dir, d.ocserv.config_per_user_dir);
  EXPECT_EQ(c.ocserv.config_per_group_dir, d.ocserv.config_per_group_dir);
  EXPECT_EQ(c.ocserv.main_config_path, d.ocserv.main_config_path);
  EXPECT_EQ(c.ocserv.command_timeout_max, d.ocserv.command_timeout_max);
  EXPECT_EQ(c.ocserv.disconnect_command, d.ocserv.disconnect_command);
  EXPECT_EQ(c.ocserv.reconcile_interval, d.ocserv.reconcile_interval);
  EXPECT_EQ(c.ocserv.occtl_socket, "/var/run/occtl.socket");
  const auto &e = c.enforcement, &de = d.enforcement;
  EXPECT_EQ(e.watch, de.watch);
  EXPECT_EQ(e.recheck_after_outage, de.recheck_after_outage);
  EXPECT_EQ(e.recheck_rate, de.recheck_rate);
  EXPECT_EQ(e.recheck_interval, de.recheck_interval);
  EXPECT_EQ(e.revocation_ttl, de.revocation_ttl);
  EXPECT_EQ(e.disconnect_concurrency, de.disconnect_concurrency);
  EXPECT_EQ(e.disconnect_timeout, de.disconnect_timeout);
  EXPECT_EQ(c.events.outbox.path, d.events.outbox.path);
  EXPECT_EQ(c.events.outbox.durability, d.events.outbox.durability);
  EXPECT_EQ(c.events.outbox.max_events, d.events.outbox.max_events);
  EXPECT_EQ(c.events.session_update_interval, d.events.session_update_interval);
  EXPECT_EQ(c.events.max_delivery_delay, d.events.max_delivery_delay);
  EXPECT_EQ(c.metrics.enabled, d.metrics.enabled);
  EXPECT_EQ(c.metrics.listen, d.metrics.listen);
  EXPECT_EQ(c.logging.level, d.logging.level);
  EXPECT_EQ(c.logging.format, d.logging.format);
}

}  // namespace
}  // namespace oa::testing
