// What a reload can apply at once and what it names as needing a restart (agent/daemon/reload_plan.h).
#include "agent/daemon/reload_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace oa {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ReloadPlanTest, AnUnchangedConfigNeedsNothing) {
  const Config c;
  EXPECT_THAT(ChangesNeedingRestart(c, c), IsEmpty());
}

TEST(ReloadPlanTest, TheKeysAReloadAppliesNeedNoRestart) {
  const Config started;
  Config next = started;
  next.source_path = "/elsewhere/config.yaml";
  next.agent.shutdown_grace = std::chrono::seconds(3);
  next.portal.timeout = std::chrono::milliseconds(900);
  next.resilience.fail.fail_mode = FailMode::kOpen;
  next.resilience.fail.stale_fallback = StaleFallback::kOpen;
  next.resilience.circuit_breaker.failure_threshold = 9;
  next.logging.level = LogLevel::kDebug;
  next.logging.format = LogFormat::kJson;
  next.enforcement.revocation_ttl = std::chrono::hours(1);
  next.enforcement.recheck_rate = 5;
  EXPECT_THAT(ChangesNeedingRestart(started, next), IsEmpty());
}

TEST(ReloadPlanTest, EachFixedPartIsNamedOnce) {
  const Config started;
  auto changed = [&](auto edit) {
    Config next = started;
    edit(next);
    return ChangesNeedingRestart(started, next);
  };
  EXPECT_THAT(changed([](Config& c) { c.agent.id = "other"; }),
              ElementsAre("agent.id in session reports (policy queries use the new id at once)"));
  EXPECT_THAT(changed([](Config& c) { c.ipc.read_timeout = std::chrono::seconds(2); }), ElementsAre("ipc"));
  EXPECT_THAT(changed([](Config& c) { c.portal.address = "p2:443"; }),
              ElementsAre("portal (every key but timeout)"));
  // Keys the hand-written comparisons of earlier versions missed.
  EXPECT_THAT(changed([](Config& c) { c.portal.report_events = false; }),
              ElementsAre("portal (every key but timeout)"));
  EXPECT_THAT(changed([](Config& c) { c.metrics.enabled = false; }), ElementsAre("metrics"));
  EXPECT_THAT(changed([](Config& c) { c.management.enabled = true; }), ElementsAre("management"));
  EXPECT_THAT(changed([](Config& c) { c.management.clients.push_back({"x", ManagementRole::kViewer}); }),
              ElementsAre("management"));
  EXPECT_THAT(changed([](Config& c) { c.ocserv.occtl_socket = "/x"; }), ElementsAre("ocserv"));
  EXPECT_THAT(changed([](Config& c) { c.events.outbox.durability = OutboxDurability::kPower; }),
              ElementsAre("events"));
  EXPECT_THAT(changed([](Config& c) { c.enforcement.watch = false; }),
              ElementsAre("enforcement (every key but revocation_ttl and recheck_rate)"));
  EXPECT_THAT(changed([](Config& c) { c.resilience.cache.key_fields = {"username"}; }),
              ElementsAre("resilience.cache"));
}

TEST(ReloadPlanTest, SeveralChangesAreAllNamed) {
  const Config started;
  Config next = started;
  next.ipc.max_connections = 10;
  next.metrics.listen = "127.0.0.1:1";
  next.logging.level = LogLevel::kWarn;  // applied: not named
  EXPECT_THAT(ChangesNeedingRestart(started, next), ElementsAre("ipc", "metrics"));
}

}  // namespace
}  // namespace oa
