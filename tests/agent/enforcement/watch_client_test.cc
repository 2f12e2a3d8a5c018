// The PolicyWatch stream client against the reference portal (tests/fakes/portal_sim) over real loopback mTLS: events
// applied, resumption after a dead stream, Resync when the portal lost its log, UNIMPLEMENTED, malformed events.
// Time on the agent's side is a FakeClock with a ManualScheduler: the watchdog and the reconnects happen only when
// the test advances it. Only the wire is real, so the test waits (bounded) for what crosses it.
#include "agent/enforcement/watch_client.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "agent/portal/portal_channel.h"
#include "dev_pki.h"
#include "fake_clock.h"
#include "manual_scheduler.h"
#include "ocserv_agent/v1/policy_watch.pb.h"
#include "portal_sim.h"
#include "raw_portal.h"

namespace oa::testing {
namespace {

using namespace std::chrono_literals;
using sim::DevPki;

// Waits for something that crosses the wire; fails the test after 10 s (a hang, not a timing assertion).
template <class Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 10000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

class RecordingActions final : public SessionActions {
 public:
  void DisconnectRevoked(const Revocation& r, std::optional<Clock::WallTime>) override {
    std::lock_guard l(mu);
    disconnected.push_back(r.subject);
  }
  void Recheck(const Subject& s, std::string_view) override {
    std::lock_guard l(mu);
    rechecked.push_back(s);
  }
  std::size_t rechecks() {
    std::lock_guard l(mu);
    return rechecked.size();
  }
  std::mutex mu;
  std::vector<Subject> disconnected, rechecked;
};

class WatchClientTest : public ::testing::Test {
 protected:
  void StartSim(bool policy_watch = true) {
    const std::string policy = sim::DevPkiDir() + "/watch-test-policy.yaml";
    std::ofstream(policy) << "users:\n  alice: { allow: true }\n";
    sim::PortalSimOptions o;
    o.cert_file = DevPki("portal.pem");
    o.key_file = DevPki("portal.key");
    o.client_ca_file = DevPki("ca.pem");
    o.policy_file = policy;
    o.policy_watch = policy_watch;
    o.watch_heartbeat_interval = 60s;  // real heartbeats stay out of the way; the FakeClock drives the watchdog
    o.watch_log_size = 10;
    auto s = sim::PortalSim::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = std::move(*s);
  }
  void StartClient(std::string address = {}) {
    PortalOptions p;
    p.address = address.empty() ? sim_->address() : address;
    p.ca_file = DevPki("ca.pem");
    p.cert_file = DevPki("agent-client.pem");
    p.key_file = DevPki("agent-client.key");
    auto channel = MakePortalChannel(p);
    ASSERT_TRUE(channel.ok()) << channel.status();
    WatchClientOptions o;
    o.agent_id = "agent-under-test";
    o.portal_address = p.address;
    client_ = std::make_unique<WatchClient>(*channel,
                                            WatchClient::Deps{clock_, scheduler_, enforcer_, [this] { ++restored_; }},
                                            o, [] { return 0.5; });
    client_->Start();
  }
  void TearDown() override {
    if (client_) client_->Shutdown();
    if (sim_) sim_->Shutdown();
  }
  bool Streaming() {
    return Eventually([&] { return client_->status().state == StreamState::kStreaming; });
  }
  std::uint64_t Published(const sim::SimEvent& e) { return sim_->Publish(e); }
  static sim::SimEvent Revoke(const std::string& user) {
    sim::SimEvent e;
    e.username = user;
    e.reason = "locked by test";
    return e;
  }
  // Kills the stream through the watchdog: the portal goes silent, the FakeClock passes 3 heartbeat intervals.
  void KillStreamByWatchdog() {
    sim_->SetWatchMuted(true);
    clock_.advance(181s);
    scheduler_.RunDue(clock_.now());
    ASSERT_TRUE(Eventually([&] { return client_->status().state == StreamState::kBackoff; }));
  }
  void RunReconnect() {
    clock_.advance(1s);
    scheduler_.RunDue(clock_.now());
  }

  FakeClock clock_;
  ManualScheduler scheduler_;
  RevocationTable table_{clock_, std::chrono::hours(24)};
  DecisionCache cache_{DecisionCacheOptions{}, clock_, 1};
  RecordingActions actions_;
  PolicyEnforcer enforcer_{{table_, cache_, &actions_}};
  std::unique_ptr<sim::PortalSim> sim_;
  std::unique_ptr<WatchClient> client_;
  std::atomic<int> restored_{0};
};

TEST_F(WatchClientTest, RevokePublishedByThePortalIsAppliedAndDisconnects) {
  StartSim();
  StartClient();
  ASSERT_TRUE(Streaming());
  const std::uint64_t v = Published(Revoke("bob"));
  ASSERT_TRUE(Eventually([&] { return table_.Covering("bob", "").has_value(); }));
  EXPECT_EQ(client_->status().last_applied_version, v);
  ASSERT_TRUE(Eventually([&] { return enforcer_.counts().get(PolicyEventKind::kRevoke, EventResult::kApplied) == 1; }));
  std::lock_guard l(actions_.mu);
  ASSERT_EQ(actions_.disconnected.size(), 1u);
  EXPECT_EQ(actions_.disconnected[0], Subject::User("bob"));
}

TEST_F(WatchClientTest, PolicyReloadFromAllowToDenyPublishesARevoke) {
  StartSim();
  StartClient();
  ASSERT_TRUE(Streaming());
  std::ofstream(sim::DevPkiDir() + "/watch-test-policy.yaml") << "users:\n  alice: { allow: false, reason: gone }\n";
  ASSERT_TRUE(sim_->ReloadPolicy().ok());
  ASSERT_TRUE(Eventually([&] { return table_.Covering("alice", "").has_value(); }));
  EXPECT_EQ(table_.Covering("alice", "")->reason, "gone");
}

TEST_F(WatchClientTest, DeadStreamIsCancelledByTheWatchdogAndResumesAfterTheLastAppliedVersion) {
  StartSim();
  StartClient();
  ASSERT_TRUE(Streaming());
  const std::uint64_t v1 = Published(Revoke("u1"));
  ASSERT_TRUE(Eventually([&] { return client_->status().last_applied_version == v1; }));
  KillStreamByWatchdog();
  EXPECT_EQ(client_->status().counters.watchdog_expired, 1u);
  // Published while the agent is away: held in the portal's log.
  sim_->SetWatchMuted(false);
  const std::uint64_t v2 = Published(Revoke("u2"));
  RunReconnect();
  ASSERT_TRUE(Eventually([&] { return table_.Covering("u2", "").has_value(); }));
  EXPECT_EQ(sim_->Stats().watch_last_after_version, v1) << "resumed after the last applied version";
  EXPECT_EQ(client_->status().last_applied_version, v2);
  // The table is updated inside Apply, before the event is counted: wait for the count.
  EXPECT_TRUE(Eventually([&] { return enforcer_.counts().get(PolicyEventKind::kRevoke, EventResult::kApplied) == 2; }));
  EXPECT_EQ(restored_.load(), 1) << "a reconnect after a failure triggers the re-check hook";
}

TEST_F(WatchClientTest, ResumeFromAVersionThePortalNoLongerHoldsGetsAResync) {
  StartSim();
  StartClient();
  ASSERT_TRUE(Streaming());
  const std::uint64_t v1 = Published(Revoke("u1"));
  ASSERT_TRUE(Eventually([&] { return client_->status().last_applied_version == v1; }));
  KillStreamByWatchdog();
  sim_->SetWatchMuted(false);
  Published(Revoke("u2"));
  sim_->ForgetWatchLog();
  RunReconnect();
  ASSERT_TRUE(Eventually([&] { return actions_.rechecks() == 1; }));
  EXPECT_TRUE(Eventually([&] { return enforcer_.counts().get(PolicyEventKind::kResync, EventResult::kApplied) == 1; }));
  EXPECT_EQ(sim_->Stats().watch_resyncs_sent, 1u);
  std::lock_guard l(actions_.mu);
  EXPECT_EQ(actions_.rechecked[0], Subject::All());
}

TEST_F(WatchClientTest, PortalWithoutPolicyWatchIsUnimplementedAndRetriedRarely) {
  StartSim(/*policy_watch=*/false);
  StartClient();
  ASSERT_TRUE(Eventually([&] { return client_->status().state == StreamState::kUnimplemented; }));
  EXPECT_EQ(client_->status().counters.unimplemented, 1u);
  clock_.advance(599s);
  scheduler_.RunDue(clock_.now());
  EXPECT_EQ(client_->status().counters.streams_opened, 1u) << "not retried before unimplemented_retry";
  clock_.advance(1s);
  scheduler_.RunDue(clock_.now());
  ASSERT_TRUE(Eventually([&] { return client_->status().counters.unimplemented == 2; }));
  EXPECT_EQ(client_->status().counters.streams_opened, 2u);
}

TEST_F(WatchClientTest, MalformedEventsAreSkippedAndCountedAndTheStreamGoesOn) {
  StartSim();
  StartClient();
  ASSERT_TRUE(Streaming());
  sim::SimEvent all = Revoke("");
  all.all = true;  // revoke of everyone: forbidden by the protocol
  Published(all);
  sim::SimEvent two = Revoke("x");
  two.groupname = "g";  // two subjects at once
  Published(two);
  sim::SimEvent none;
  none.kind = sim::SimEvent::Kind::kInvalidate;  // no subject at all
  Published(none);
  Published(Revoke("carol"));
  ASSERT_TRUE(Eventually([&] { return table_.Covering("carol", "").has_value(); }));
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(client_->status().counters.invalid, 3u);
  EXPECT_EQ(enforcer_.counts().get(PolicyEventKind::kRevoke, EventResult::kInvalid), 2u);
  EXPECT_EQ(client_->status().state, StreamState::kStreaming);
}

TEST_F(WatchClientTest, ShutdownEndsTheStreamAndNothingRunsAfter) {
  StartSim();
  StartClient();
  ASSERT_TRUE(Streaming());
  client_->Shutdown();
  EXPECT_EQ(client_->status().state, StreamState::kDisabled);
  Published(Revoke("late"));
  scheduler_.RunDue(clock_.now() + 1h);
  EXPECT_FALSE(table_.Covering("late", ""));
}

// Issue 11 "Bad input": 100 000 events as fast as the portal can publish them. The client applies them in version
// order on gRPC's threads; if it falls more than the portal's per-stream queue behind, the portal ends the stream and
// the client resumes (a Resync when the portal no longer holds the versions). Either way nothing is applied out of
// order, and the last event is in force at the end.
TEST_F(WatchClientTest, AHundredThousandEventsAreAppliedInOrderOrResyncedNeverOutOfOrder) {
  StartSim();
  StartClient();
  ASSERT_TRUE(Streaming());
  constexpr int kEvents = 100'000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kEvents; ++i) {
    sim::SimEvent e;
    e.kind = sim::SimEvent::Kind::kInvalidate;
    e.username = "u" + std::to_string(i % 1000);
    Published(e);
  }
  const std::uint64_t last = Published(Revoke("last"));
  const auto published_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  bool done = false;
  for (int i = 0; i < 120'000 && !done; ++i) {  // a hang fails after ~2 min; no timing is asserted
    if (client_->status().state == StreamState::kBackoff) RunReconnect();
    done = table_.Covering("last", "").has_value();
    if (!done) std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(done);
  const WatchStatus st = client_->status();
  EXPECT_EQ(st.last_applied_version, last);
  EXPECT_EQ(st.counters.stale, 0u) << "never a version at or below the last applied";
  const auto sim_stats = sim_->Stats();
  if (sim_stats.watch_resyncs_sent == 0) {
    EXPECT_EQ(st.counters.applied, static_cast<std::uint64_t>(kEvents) + 1) << "every event, in order";
  }
  std::cout << "published " << kEvents << " events in " << published_ms << " ms; applied " << st.counters.applied
            << ", reconnects " << st.counters.reconnects << ", resyncs " << sim_stats.watch_resyncs_sent << "\n";
}

// Issue 11 "Bad input": a portal whose Watch stream sends bytes that are not a PolicyEvent, an event cut short, or
// one event far beyond gRPC's receive limit. Nothing is applied, the stream ends (counted as a reconnect) and the
// client goes on trying with its backoff. A lying portal (tests/fakes/portal_sim/raw_portal.h) answers the Watch
// call with one hand-made message, then ends the call with OK.
// The client reads the stream as raw bytes and parses each message itself, so a message that is not a PolicyEvent is
// seen (gRPC 1.51's typed reader would drop it without a word): counted as invalid, and the client ends the stream
// with DATA_LOSS and its reason. The oversize event is refused by gRPC with RESOURCE_EXHAUSTED.
class RawWatchTest : public WatchClientTest {
 protected:
  void StartRaw(sim::RawReply reply) {
    auto raw = sim::RawPortal::Start(DevPki("portal.pem"), DevPki("portal.key"), DevPki("ca.pem"));
    ASSERT_TRUE(raw.ok()) << raw.status();
    raw_ = std::move(*raw);
    raw_->SetReply(std::move(reply));
    StartClient(raw_->address());
  }
  // Returns the status the first stream ended with.
  std::string ExpectStreamEndedAndNothingApplied() {
    EXPECT_TRUE(Eventually([&] { return client_->status().counters.reconnects >= 1; }));
    const WatchStatus st = client_->status();
    EXPECT_NE(st.state, StreamState::kStreaming);
    EXPECT_EQ(st.counters.applied, 0u);
    EXPECT_EQ(table_.size(), 0u);
    // It tries again after its backoff (FakeClock), and fails the same way: still nothing applied, no crash.
    RunReconnect();
    EXPECT_TRUE(Eventually([&] { return client_->status().counters.reconnects >= 2; }));
    EXPECT_EQ(client_->status().counters.applied, 0u);
    EXPECT_FALSE(raw_->calls().empty());
    if (!raw_->calls().empty()) {
      EXPECT_EQ(raw_->calls().front().method, "/ocserv_agent.v1.PolicyWatch/Watch");
    }
    return st.last_error;
  }
  std::unique_ptr<sim::RawPortal> raw_;
};

const std::string kGarbage("\xff\xff\xff\xff\x0f garbage that is no protobuf", 33);

TEST_F(RawWatchTest, GarbageInsteadOfAnEventIsCountedAsInvalidAndTheStreamIsOpenedAgain) {
  StartRaw({true, kGarbage});
  const std::string ended = ExpectStreamEndedAndNothingApplied();
  EXPECT_EQ(ended, "DATA_LOSS: a message of 33 bytes that is not a PolicyEvent (protobuf parse failed)");
  EXPECT_EQ(client_->status().counters.invalid, 2u) << "one per stream";
  EXPECT_EQ(enforcer_.counts().get(PolicyEventKind::kUnknown, EventResult::kInvalid), 2u);
}

TEST_F(RawWatchTest, AnEventCutShortIsCountedAsInvalidAndTheStreamIsOpenedAgain) {
  // A PolicyEvent whose revoke field (11) announces 200 bytes and carries 3: the message stops mid-way.
  StartRaw({true, std::string("\x08\x07\x5a\xc8\x01" "abc", 8)});
  const std::string ended = ExpectStreamEndedAndNothingApplied();
  EXPECT_NE(ended.find("DATA_LOSS: a message of 8 bytes that is not a PolicyEvent"), std::string::npos) << ended;
  EXPECT_EQ(client_->status().counters.invalid, 2u);
}

// Garbage between two good events: the good one before is applied, the garbage ends the stream (counted), and the
// next stream resumes after the last applied version, so the good one after is applied too — nothing skipped.
TEST_F(RawWatchTest, AfterGarbageTheNextStreamResumesAndValidEventsApply) {
  auto revoke = [](std::uint64_t version, const std::string& user) {
    ocserv_agent::v1::PolicyEvent e;
    e.set_version(version);
    e.mutable_revoke()->mutable_subject()->set_username(user);
    e.mutable_revoke()->set_reason("raw test");
    return e.SerializeAsString();
  };
  auto after_version_of = [&](std::size_t call) {
    ocserv_agent::v1::WatchRequest r;
    EXPECT_TRUE(r.ParseFromString(raw_->calls().at(call).request_bytes));
    EXPECT_EQ(r.agent_id(), "agent-under-test");
    return r.after_version();
  };
  StartRaw({true, revoke(5, "dave")});
  ASSERT_TRUE(Eventually([&] { return table_.Covering("dave", "").has_value(); }));
  ASSERT_TRUE(Eventually([&] { return client_->status().counters.reconnects == 1; }));  // the portal ended it: OK
  raw_->SetReply({true, kGarbage});
  RunReconnect();
  ASSERT_TRUE(Eventually([&] { return client_->status().counters.reconnects == 2; }));
  EXPECT_EQ(client_->status().counters.invalid, 1u);
  EXPECT_EQ(enforcer_.counts().get(PolicyEventKind::kUnknown, EventResult::kInvalid), 1u);
  EXPECT_NE(client_->status().last_error.find("not a PolicyEvent"), std::string::npos) << client_->status().last_error;
  raw_->SetReply({true, revoke(6, "erin")});
  RunReconnect();
  ASSERT_TRUE(Eventually([&] { return table_.Covering("erin", "").has_value(); }));
  EXPECT_TRUE(Eventually([&] { return client_->status().counters.applied == 2; }));
  EXPECT_EQ(client_->status().last_applied_version, 6u);
  ASSERT_EQ(raw_->calls().size(), 3u);
  for (const auto& call : raw_->calls()) EXPECT_EQ(call.method, "/ocserv_agent.v1.PolicyWatch/Watch");
  EXPECT_EQ(after_version_of(0), 0u);
  EXPECT_EQ(after_version_of(1), 5u) << "resumed after the last applied version";
  EXPECT_EQ(after_version_of(2), 5u) << "the garbage advanced nothing";
}

TEST_F(RawWatchTest, HugeEventIsRefusedNotApplied) {
  // A Revoke whose reason is 8 MiB: beyond gRPC's 4 MiB receive limit.
  std::string reason(8 * 1024 * 1024, 'x');
  std::string revoke;
  revoke += "\x0a\x07\x0a\x05" "alice";  // subject { username: "alice" }
  revoke += '\x12';                     // reason, length-delimited
  std::size_t n = reason.size();
  do {
    revoke += static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>= 7;
  } while (n > 0);
  revoke += reason;
  std::string event = "\x08\x09";  // version 9
  event += '\x5a';                  // field 11 (revoke), length-delimited
  n = revoke.size();
  do {
    event += static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>= 7;
  } while (n > 0);
  event += revoke;
  StartRaw({true, std::move(event)});
  const std::string ended = ExpectStreamEndedAndNothingApplied();
  EXPECT_NE(ended.find("RESOURCE_EXHAUSTED"), std::string::npos) << ended;
  EXPECT_FALSE(table_.Covering("alice", "").has_value());
}

}  // namespace
}  // namespace oa::testing
