// The session-event outbox against real processes: the real agent daemon, killed with SIGKILL while it writes and
// while it sends, restarted on the same outbox file, and the reference portal deduplicating by event_id. Checks that
// every event the agent acknowledged *and committed* reaches the portal exactly once after dedup, and that events
// recorded while the portal was down are all delivered once it takes them again.
//
// How "committed" is known without timing: the portal refuses every report (an injected error refuses before it
// records anything) while the events are written, so nothing leaves the outbox; the test reads the outbox file
// (SQLite, read-only) until it holds them all. Events acknowledged just before a kill without that check may or may
// not survive (the acknowledgement does not wait for the disk: README "Session records"); they carry a different
// byte count so that the portal's byte sum tells exactly how many of each kind arrived.
//
// Bounded: OA_OUTBOX_CRASH_ITERATIONS (default 4) kill/restart rounds; every wait has a deadline.
#include <signal.h>
#include <sqlite3.h>

#include <cstdlib>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"
#include "temp_dir.h"

namespace oa::integration {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kConfirmedBytes = 1;          // bytes_in of an event checked committed before a kill
constexpr std::uint64_t kMaybeBytes = 1'000'000'000;  // bytes_in of an event acknowledged just before a kill

// Pending rows in the outbox file, or -1 if it cannot be read (yet).
long long OutboxRows(const std::string& path) {
  sqlite3* db = nullptr;
  long long n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 1000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM events", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close_v2(db);
  return n;
}

template <class Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

class OutboxCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sim = SimProcess::Start(dir_.path(), {});
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = *std::move(sim);
    settings_.portal_address = sim_->address();
  }

  void StartAgent() {
    auto agent = AgentProcess::Start(dir_.path(), settings_);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
  }

  void KillAgent() {
    ASSERT_EQ(::kill(agent_->pid(), SIGKILL), 0);
    agent_.reset();  // reaps it
  }

  // A disconnect for a session of its own, acknowledged by the agent.
  void AckDisconnect(int n, std::uint64_t bytes_in) {
    ConnectEnv env;
    env.username = "user" + std::to_string(n % 7);
    env.id = std::to_string(n);
    IpcRequest bye = ConnectRequest(env);
    bye.reason = IpcReason::kDisconnect;
    bye.stats_bytes_in = bytes_in;
    bye.stats_duration = 1;
    auto ack = AskAgent(agent_->socket_path(), bye);
    ASSERT_TRUE(ack.ok()) << ack.status();
    ASSERT_EQ(ack->source, WireSource::kAck);
  }

  void RefuseReports(bool refuse) {
    sim::SimFaults f;
    if (refuse) {
      f.error_rate = 1.0;  // UNAVAILABLE before anything is recorded
    } else {
      f.latency_ms = 20;   // so that a kill finds deliveries in flight, some recorded and not yet answered
      f.error_rate = 0.2;  // and some retries
    }
    ASSERT_TRUE(sim_->SetFaults(f).ok());
  }

  sim::PortalSimStats SimStats() {
    auto s = sim_->Stats();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : sim::PortalSimStats{};
  }

  testing::TempDir dir_;
  AgentSettings settings_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(OutboxCrashTest, EveryCommittedEventArrivesExactlyOnceAcrossKills) {
  const char* env = std::getenv("OA_OUTBOX_CRASH_ITERATIONS");
  const int iterations = env != nullptr ? std::max(1, std::atoi(env)) : 4;
  const std::string outbox = dir_ / "outbox.db";
  std::mt19937 rng(12345);
  int next_session = 1;
  std::uint64_t confirmed = 0, maybe = 0;

  for (int round = 0; round < iterations; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Write while the portal refuses: whatever is pending stays, so the file's row count is exact.
    RefuseReports(true);
    StartAgent();
    long long before = -1;
    ASSERT_TRUE(WaitUntil([&] { return (before = OutboxRows(outbox)) >= 0; }, 10s));
    const int batch = 20 + static_cast<int>(rng() % 30);
    for (int i = 0; i < batch; ++i) AckDisconnect(next_session++, kConfirmedBytes);
    ASSERT_TRUE(WaitUntil([&] { return OutboxRows(outbox) == before + batch; }, 10s))
        << "acknowledged events did not reach the outbox file: " << OutboxRows(outbox) << " of " << before + batch;
    confirmed += static_cast<std::uint64_t>(batch);

    // Mid-send: the portal takes reports again (slowly, with some errors); once deliveries are under way (the
    // sender may first sit out a backoff from the refusals), kill at a random point.
    const std::uint64_t received_before = SimStats().events_received;
    RefuseReports(false);
    ASSERT_TRUE(WaitUntil([&] { return SimStats().events_received > received_before; }, 30s))
        << "no delivery started";
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
    // Mid-write: a few more acknowledged just before the kill.
    const int extra = static_cast<int>(rng() % 5);
    for (int i = 0; i < extra; ++i) AckDisconnect(next_session++, kMaybeBytes);
    maybe += static_cast<std::uint64_t>(extra);
    KillAgent();
  }

  // The last start: everything left is delivered.
  RefuseReports(false);
  StartAgent();
  ASSERT_TRUE(WaitUntil([&] { return OutboxRows(outbox) == 0; }, 60s))
      << OutboxRows(outbox) << " event(s) never left the outbox";
  ASSERT_TRUE(WaitUntil([&] { return SimStats().in_flight == 0; }, 10s));

  const auto s = SimStats();
  const std::uint64_t confirmed_arrived = s.reported_bytes_received % kMaybeBytes;
  const std::uint64_t maybe_arrived = s.reported_bytes_received / kMaybeBytes;
  EXPECT_EQ(confirmed_arrived, confirmed) << "every committed event, once (duplicates are not summed)";
  EXPECT_LE(maybe_arrived, maybe);
  EXPECT_EQ(s.events_unique, confirmed_arrived + maybe_arrived);
  EXPECT_EQ(s.events_without_id, 0u);
  EXPECT_EQ(s.events_received, s.events_unique + s.events_duplicate);
  std::printf("outbox crash test: %d rounds, %llu committed events all delivered once, %llu/%llu acknowledged just "
              "before a kill survived, %llu duplicate deliveries dropped by the portal\n",
              iterations, static_cast<unsigned long long>(confirmed), static_cast<unsigned long long>(maybe_arrived),
              static_cast<unsigned long long>(maybe), static_cast<unsigned long long>(s.events_duplicate));
}

// Sessions that start and end while the portal is down are all reported, with their bytes, once it is back.
TEST_F(OutboxCrashTest, SessionsDuringAnOutageAreDeliveredWhenThePortalReturns) {
  settings_.fail_mode = "fail-open";  // the portal is down: admit, and record how
  StartAgent();
  ASSERT_TRUE(sim_->Stop().ok());
  for (int i = 0; i < 5; ++i) {
    ConnectEnv env;
    env.username = "alice";
    env.id = std::to_string(500 + i);
    EXPECT_EQ(RunHelper(agent_->socket_path(), env).exit_code, 0);
    IpcRequest bye = ConnectRequest(env);
    bye.reason = IpcReason::kDisconnect;
    bye.stats_bytes_in = 100;
    bye.stats_bytes_out = 10;
    bye.stats_duration = 7;
    auto ack = AskAgent(agent_->socket_path(), bye);
    ASSERT_TRUE(ack.ok()) << ack.status();
  }
  ASSERT_TRUE(WaitUntil([&] { return OutboxRows(dir_ / "outbox.db") == 10; }, 10s)) << OutboxRows(dir_ / "outbox.db");
  ASSERT_TRUE(sim_->Restart().ok());
  ASSERT_TRUE(WaitUntil([&] { return OutboxRows(dir_ / "outbox.db") == 0; }, 60s))
      << "not delivered after the portal came back";
  const auto s = SimStats();
  EXPECT_EQ(s.events_unique, 10u);
  EXPECT_EQ(s.reported_connects_by_user.at("alice"), 5u);
  EXPECT_EQ(s.reported_bytes_received, 500u);
  EXPECT_EQ(s.reported_bytes_sent, 50u);
  EXPECT_EQ(s.reported_duration_seconds, 35);
  EXPECT_LT(agent_->Log().find("events: delivering session event"), std::string::npos) << "the outage was logged";
}

}  // namespace
}  // namespace oa::integration
