#include "events/event_sender.h"

#include <deque>
#include <map>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include "fake_clock.h"
#include "manual_scheduler.h"
#include "resilience/circuit_breaker.h"
#include "temp_dir.h"

namespace oa {
namespace {

using testing::FakeClock;
using testing::ManualScheduler;
using testing::TempDir;

// Holds every delivery until the test completes it.
class FakeDelivery final : public EventDelivery {
 public:
  struct Call {
    StoredEvent event;
    Done done;
  };
  void Deliver(const StoredEvent& event, Done done) override {
    std::lock_guard lock(mu_);
    calls_.push_back({event, std::move(done)});
    ++total_;
  }
  void Shutdown(std::chrono::milliseconds) override {}

  std::size_t waiting() {
    std::lock_guard lock(mu_);
    return calls_.size();
  }
  int total() {
    std::lock_guard lock(mu_);
    return total_;
  }
  StoredEvent front() {
    std::lock_guard lock(mu_);
    return calls_.front().event;
  }
  std::vector<std::string> waiting_users() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& c : calls_) out.push_back(c.event.event.username + "/" + std::string(to_string(c.event.event.kind)));
    return out;
  }
  // Completes the oldest waiting delivery.
  void Complete(absl::Status s) {
    Done done;
    {
      std::lock_guard lock(mu_);
      done = std::move(calls_.front().done);
      calls_.pop_front();
    }
    done(s);
  }

 private:
  std::mutex mu_;
  std::deque<Call> calls_;
  int total_ = 0;
};

SessionEvent Event(SessionEventKind kind, const std::string& user, const std::string& session) {
  SessionEvent e;
  e.kind = kind;
  e.username = user;
  e.session_id = session;
  e.metadata["admitted_by"] = "fail_open";
  return e;
}

class EventSenderTest : public ::testing::Test {
 protected:
  // `max_delay` > 0: holding back on, with quiet = 5 ms.
  void SetUpSender(std::size_t max_in_flight, std::chrono::milliseconds max_delay = {}, std::uint64_t max_held = 1000,
                   std::uint32_t test_max_pages = 0) {
    OutboxOptions o;
    o.path = dir_ / "outbox.db";
    o.test_max_pages = test_max_pages;
    outbox_ = std::make_unique<Outbox>(o, clock_);
    EventSenderOptions so;
    so.max_in_flight = max_in_flight;
    so.backoff.initial = std::chrono::milliseconds(1000);
    so.backoff.max = std::chrono::milliseconds(8000);
    so.backoff.jitter = 0.2;
    so.seed = 42;
    so.max_delay = max_delay;
    so.quiet = std::chrono::milliseconds(5);
    so.max_held = max_held;
    sender_ = std::make_unique<EventSender>(*outbox_, delivery_, scheduler_, clock_, so);
    sender_->Start();
  }
  void Append(SessionEventKind kind, const std::string& user, const std::string& session) {
    outbox_->Append(Event(kind, user, session));
  }
  // Lets the writer commit and the sender's scheduled work run, at the fake time.
  void Settle() {
    for (int i = 0; i < 4; ++i) {
      outbox_->Flush();
      scheduler_.RunDue(clock_.now());
    }
  }

  TempDir dir_;
  FakeClock clock_;
  ManualScheduler scheduler_;
  FakeDelivery delivery_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<EventSender> sender_;
};

TEST_F(EventSenderTest, DeliversInOrderAndDeletesOnlyAfterSuccess) {
  SetUpSender(1);
  Append(SessionEventKind::kConnect, "a", "1");
  Append(SessionEventKind::kConnect, "b", "2");
  Append(SessionEventKind::kConnect, "c", "3");
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/connect"}));
  EXPECT_EQ(outbox_->stats().depth, 3u) << "nothing is deleted before the portal's answer";
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(outbox_->stats().depth, 2u);
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"b/connect"}));
  delivery_.Complete(absl::OkStatus());
  Settle();
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(outbox_->stats().depth, 0u);
  EXPECT_EQ(sender_->stats().sent, 3u);
  EXPECT_EQ(sender_->stats().state, SenderState::kIdle);
}

TEST_F(EventSenderTest, CarriesTheStableEventIdAndAdmittedBy) {
  SetUpSender(4);
  Append(SessionEventKind::kConnect, "a", "1");
  Settle();
  const std::string id = outbox_->Pending(1).at(0).event_id;
  ASSERT_EQ(delivery_.waiting(), 1u);
  EXPECT_EQ(delivery_.front().event_id, id);
  EXPECT_EQ(delivery_.front().event.metadata.at("admitted_by"), "fail_open");
  delivery_.Complete(absl::UnavailableError("portal down"));
  clock_.advance(std::chrono::seconds(2));
  Settle();
  ASSERT_EQ(delivery_.waiting(), 1u);
  EXPECT_EQ(delivery_.front().event_id, id) << "a retry resends the same id";
}

TEST_F(EventSenderTest, SendsSessionsInParallelButOneSessionInOrder) {
  SetUpSender(8);
  Append(SessionEventKind::kConnect, "a", "1");
  Append(SessionEventKind::kConnect, "b", "2");
  Append(SessionEventKind::kDisconnect, "a", "1");
  Append(SessionEventKind::kHostUpdate, "b", "2");
  Settle();
  EXPECT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/connect", "b/connect"}));
  delivery_.Complete(absl::OkStatus());  // a's connect
  Settle();
  EXPECT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"b/connect", "a/disconnect"}));
}

// The sender reads on from the last event it has: with 4 in flight completing one by one, each completion used to
// re-read (and copy) the first in-flight + 2 x free + 16 pending events to start one more.
TEST_F(EventSenderTest, ReadsEachEventFromTheOutboxOnceNotOncePerCompletion) {
  SetUpSender(4);
  constexpr int kEvents = 300;
  for (int i = 0; i < kEvents; ++i) Append(SessionEventKind::kConnect, "u" + std::to_string(i), std::to_string(i));
  Settle();
  std::vector<std::string> order;
  while (delivery_.waiting() > 0) {
    order.push_back(delivery_.front().event.username);
    delivery_.Complete(absl::OkStatus());
    Settle();
  }
  ASSERT_EQ(order.size(), static_cast<std::size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) EXPECT_EQ(order[i], "u" + std::to_string(i)) << "in order";
  const auto s = sender_->stats();
  EXPECT_EQ(s.sent, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(s.read, static_cast<std::uint64_t>(kEvents)) << "each event read from the outbox once";
  EXPECT_EQ(outbox_->stats().depth, 0u);
}

// A failed delivery goes again first after the backoff, before its session's later event, which waited behind it;
// nothing else is sent twice and nothing is read from the outbox again.
TEST_F(EventSenderTest, ARetriedEventGoesAgainFirstAndNothingElseTwice) {
  SetUpSender(2);
  Append(SessionEventKind::kConnect, "a", "1");
  Append(SessionEventKind::kConnect, "b", "2");
  Append(SessionEventKind::kDisconnect, "a", "1");
  Append(SessionEventKind::kConnect, "c", "3");
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/connect", "b/connect"}));
  delivery_.Complete(absl::UnavailableError("down"));  // a's connect
  delivery_.Complete(absl::OkStatus());                // b's connect
  Settle();
  EXPECT_EQ(delivery_.waiting(), 0u) << "backing off";
  clock_.advance(std::chrono::milliseconds(1200));
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/connect", "c/connect"}))
      << "a's disconnect waits behind its retried connect";
  delivery_.Complete(absl::OkStatus());
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"c/connect", "a/disconnect"}));
  delivery_.Complete(absl::OkStatus());
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(delivery_.total(), 5) << "4 events, one of them twice";
  EXPECT_EQ(sender_->stats().sent, 4u);
  EXPECT_EQ(sender_->stats().read, 4u);
  EXPECT_EQ(outbox_->stats().depth, 0u);
}

// Found by the simulation: a burst that starts with as many events already read as there are slots sends them all,
// and the event appended meanwhile (in the burst, not read yet) must still be read when they complete.
TEST_F(EventSenderTest, AnEventAppendedWhileTheReadAheadIsFullIsStillSent) {
  SetUpSender(2, std::chrono::milliseconds(1000));
  Append(SessionEventKind::kConnect, "a", "1");
  clock_.advance(std::chrono::milliseconds(6));
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/connect"}));
  delivery_.Complete(absl::UnavailableError("down"));
  Settle();
  Append(SessionEventKind::kConnect, "b", "2");
  Append(SessionEventKind::kConnect, "c", "3");
  Settle();
  clock_.advance(std::chrono::milliseconds(1200));
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/connect"})) << "the retried burst: a only";
  Append(SessionEventKind::kConnect, "d", "4");
  Settle();
  delivery_.Complete(absl::OkStatus());
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"b/connect", "c/connect"}));
  delivery_.Complete(absl::OkStatus());
  delivery_.Complete(absl::OkStatus());
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"d/connect"}));
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(sender_->stats().sent, 4u);
  EXPECT_EQ(outbox_->stats().depth, 0u);
}

// Found in review: the store fails (disk full) with rows in it the sender has not read yet; the events appended
// meanwhile are kept in memory and read, past those rows; when the store comes back the sender reads again from the
// start, so the rows in the file are delivered too — each once.
TEST_F(EventSenderTest, RowsLeftInAStoreThatFailedAreReadAgainWhenItComesBack) {
  SetUpSender(1, {}, 1000, /*test_max_pages=*/64);
  auto big = [](int i) {
    SessionEvent e = Event(SessionEventKind::kConnect, "u" + std::to_string(i), std::to_string(i));
    e.metadata["pad"] = std::string(2000, 'p');
    return e;
  };
  int appended = 0;
  while (outbox_->stats().store_ok && appended < 1000) {
    outbox_->Append(big(appended++));
    outbox_->Flush();
  }
  ASSERT_FALSE(outbox_->stats().store_ok) << "the cap was never reached";
  ASSERT_GT(appended, 60) << "more rows in the file than the sender reads ahead";
  for (int i = 0; i < 5; ++i) outbox_->Append(big(appended++));  // kept in memory
  Settle();
  std::set<std::string> delivered;
  int deliveries = 0;
  // Deliver what the sender has read and what it reads next: while the store is down, that is the memory queue.
  while (delivery_.waiting() > 0 && deliveries < 40) {
    delivered.insert(delivery_.front().event.username);
    ++deliveries;
    delivery_.Complete(absl::OkStatus());
    Settle();
  }
  // The store comes back (its removals free room for the memory queue's rows).
  clock_.advance(std::chrono::seconds(31));
  outbox_->Poke();
  Settle();
  ASSERT_TRUE(outbox_->stats().store_ok);
  while (delivery_.waiting() > 0 && deliveries < 5 * appended) {
    delivered.insert(delivery_.front().event.username);
    ++deliveries;
    delivery_.Complete(absl::OkStatus());
    Settle();
  }
  EXPECT_EQ(delivered.size(), static_cast<std::size_t>(appended)) << "every event delivered";
  EXPECT_EQ(deliveries, appended) << "none twice";
  EXPECT_EQ(outbox_->stats().depth, 0u);
}

TEST_F(EventSenderTest, BacksOffWithJitteredExponentialDelaysThenResets) {
  SetUpSender(4);
  Append(SessionEventKind::kConnect, "a", "1");
  Settle();
  delivery_.Complete(absl::UnavailableError("connection refused"));
  Settle();
  auto s = sender_->stats();
  EXPECT_EQ(s.retried, 1u);
  EXPECT_EQ(s.state, SenderState::kBackingOff);
  EXPECT_GE(s.current_backoff.count(), 800);
  EXPECT_LE(s.current_backoff.count(), 1200);
  EXPECT_EQ(delivery_.waiting(), 0u);
  clock_.advance(std::chrono::milliseconds(799));
  Settle();
  EXPECT_EQ(delivery_.waiting(), 0u) << "no resend before the backoff ends";
  clock_.advance(s.current_backoff - std::chrono::milliseconds(799));
  Settle();
  ASSERT_EQ(delivery_.waiting(), 1u);
  delivery_.Complete(absl::DeadlineExceededError("slow"));
  Settle();
  s = sender_->stats();
  EXPECT_GE(s.current_backoff.count(), 1600);
  EXPECT_LE(s.current_backoff.count(), 2400);
  // Many failures: capped at max (8 s ± 20 %).
  for (int i = 0; i < 6; ++i) {
    clock_.advance(sender_->stats().current_backoff);
    Settle();
    ASSERT_EQ(delivery_.waiting(), 1u);
    delivery_.Complete(absl::UnavailableError("down"));
    Settle();
  }
  EXPECT_LE(sender_->stats().current_backoff.count(), 9600);
  EXPECT_GE(sender_->stats().current_backoff.count(), 6400);
  clock_.advance(sender_->stats().current_backoff);
  Settle();
  delivery_.Complete(absl::OkStatus());
  Settle();
  s = sender_->stats();
  EXPECT_EQ(s.sent, 1u);
  EXPECT_EQ(s.current_backoff.count(), 0);
  EXPECT_EQ(s.state, SenderState::kIdle);
  EXPECT_EQ(outbox_->stats().depth, 0u);
}

TEST_F(EventSenderTest, OneOutageBacksOffOnceForEveryDeliveryInFlight) {
  SetUpSender(4);
  for (const char* u : {"a", "b", "c"}) Append(SessionEventKind::kConnect, u, u);
  Settle();
  ASSERT_EQ(delivery_.waiting(), 3u);
  for (int i = 0; i < 3; ++i) delivery_.Complete(absl::UnavailableError("down"));
  Settle();
  EXPECT_EQ(sender_->stats().retried, 3u);
  EXPECT_EQ(sender_->stats().backoffs, 1u);
  EXPECT_LE(sender_->stats().current_backoff.count(), 1200);
}

TEST_F(EventSenderTest, ParksAPermanentRejectionAndGoesOn) {
  SetUpSender(1);
  Append(SessionEventKind::kConnect, "bad", "1");
  Append(SessionEventKind::kConnect, "good", "2");
  Settle();
  delivery_.Complete(absl::InvalidArgumentError("username is empty"));
  Settle();
  EXPECT_EQ(sender_->stats().parked, 1u);
  EXPECT_EQ(sender_->stats().state, SenderState::kSending) << "no backoff for a rejected event";
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"good/connect"}));
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(outbox_->stats().parked, 1u);
  EXPECT_EQ(outbox_->stats().depth, 0u);
}

TEST_F(EventSenderTest, SendsWhatAnEarlierRunLeft) {
  {
    OutboxOptions o;
    o.path = dir_ / "outbox.db";
    Outbox earlier(o, clock_);
    earlier.Append(Event(SessionEventKind::kDisconnect, "left", "9"));
  }
  SetUpSender(4);
  Settle();
  EXPECT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"left/disconnect"}));
}

TEST_F(EventSenderTest, StopStartsNothingMore) {
  SetUpSender(1);
  Append(SessionEventKind::kConnect, "a", "1");
  Append(SessionEventKind::kConnect, "b", "2");
  Settle();
  sender_->Stop();
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(delivery_.waiting(), 0u);
  EXPECT_EQ(outbox_->stats().depth, 1u) << "the completed one was still removed";
  EXPECT_EQ(sender_->stats().state, SenderState::kStopped);
}

// The sender owns its calls and its state: an outage of the event service, however long, leaves the decision
// path's breaker (built here as DecisionPath builds it, on the same clock) untouched.
TEST_F(EventSenderTest, PortalFailuresDoNotTouchTheDecisionBreaker) {
  CircuitBreaker breaker(CircuitBreakerOptions{}, clock_);
  SetUpSender(4);
  for (int i = 0; i < 30; ++i) Append(SessionEventKind::kConnect, "u" + std::to_string(i), std::to_string(i));
  for (int round = 0; round < 10; ++round) {
    Settle();
    while (delivery_.waiting() > 0) delivery_.Complete(absl::UnavailableError("down"));
    clock_.advance(std::chrono::seconds(10));
  }
  EXPECT_GE(sender_->stats().retried, 10u);
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  EXPECT_EQ(breaker.counters().failures, 0u);
  EXPECT_EQ(breaker.counters().trips, 0u);
}

// ---- holding back while connects keep coming (issue 12: decisions first) ----

using std::chrono::milliseconds;

TEST_F(EventSenderTest, HoldsANewEventBackUntilTheConnectPathIsQuiet) {
  SetUpSender(4, milliseconds(1000));
  Append(SessionEventKind::kConnect, "a", "1");
  Settle();
  EXPECT_EQ(delivery_.waiting(), 0u) << "appended just now: the connect path is busy";
  clock_.advance(milliseconds(4));
  Settle();
  EXPECT_EQ(delivery_.waiting(), 0u);
  clock_.advance(milliseconds(1));
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/connect"}));
  EXPECT_EQ(sender_->stats().released_quiet, 1u);
  EXPECT_EQ(sender_->stats().released_max_delay, 0u);
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(outbox_->stats().depth, 0u);
  // The next lone event is held from its own append on, not from the earlier one's.
  clock_.advance(milliseconds(10'000));
  Append(SessionEventKind::kDisconnect, "a", "1");
  Settle();
  EXPECT_EQ(delivery_.waiting(), 0u);
  clock_.advance(milliseconds(5));
  Settle();
  EXPECT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/disconnect"}));
}

// Connects every 2 ms for 3 s (the connect path never quiet): every event still goes within max_delay of its append,
// in bursts of what came before each burst began, in order.
TEST_F(EventSenderTest, ConnectsThatNeverStopHoldAnEventAtMostMaxDelay) {
  SetUpSender(64, milliseconds(1000));
  std::map<std::string, Clock::MonoTime> appended;
  std::vector<std::string> order;
  std::size_t bursts = 0;
  for (int i = 0; i < 1500; ++i) {
    const std::string user = "u" + std::to_string(i);
    Append(SessionEventKind::kConnect, user, user);
    appended[user] = clock_.now();
    Settle();
    if (delivery_.waiting() > 0) ++bursts;
    while (delivery_.waiting() > 0) {
      const std::string sent = delivery_.front().event.username;
      EXPECT_LE(clock_.now() - appended.at(sent), milliseconds(1000)) << sent;
      order.push_back(sent);
      delivery_.Complete(absl::OkStatus());
      Settle();
    }
    clock_.advance(milliseconds(2));
  }
  EXPECT_EQ(bursts, 2u) << "one burst a second, at most";
  EXPECT_EQ(sender_->stats().released_max_delay, 2u);
  EXPECT_EQ(sender_->stats().released_quiet, 0u);
  // The rest goes once the connects stop.
  clock_.advance(milliseconds(5));
  Settle();
  while (delivery_.waiting() > 0) {
    order.push_back(delivery_.front().event.username);
    delivery_.Complete(absl::OkStatus());
    Settle();
  }
  ASSERT_EQ(order.size(), 1500u);
  for (int i = 0; i < 1500; ++i) EXPECT_EQ(order[i], "u" + std::to_string(i));
  EXPECT_EQ(sender_->stats().released_quiet, 1u);
  EXPECT_EQ(outbox_->stats().depth, 0u);
}

TEST_F(EventSenderTest, ABacklogOfMaxHeldGoesAtOnce) {
  SetUpSender(32, milliseconds(1000), /*max_held=*/10);
  for (int i = 0; i < 9; ++i) Append(SessionEventKind::kConnect, "u" + std::to_string(i), std::to_string(i));
  Settle();
  EXPECT_EQ(delivery_.waiting(), 0u);
  Append(SessionEventKind::kConnect, "u9", "9");
  Settle();
  EXPECT_EQ(delivery_.waiting(), 10u);
  EXPECT_EQ(sender_->stats().released_max_held, 1u);
}

// A session's disconnect appended while its connect is in a burst waits for the next burst, after the connect.
TEST_F(EventSenderTest, HoldingBackKeepsASessionsOrder) {
  SetUpSender(4, milliseconds(1000));
  Append(SessionEventKind::kConnect, "a", "1");
  clock_.advance(milliseconds(5));
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/connect"}));
  Append(SessionEventKind::kDisconnect, "a", "1");
  Append(SessionEventKind::kConnect, "b", "2");
  Settle();
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(delivery_.waiting(), 0u) << "appended during the burst: held for the next one";
  clock_.advance(milliseconds(5));
  Settle();
  EXPECT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"a/disconnect", "b/connect"}));
}

TEST_F(EventSenderTest, HoldingBackSendsAnEarlierRunsEventsAtOnceAndRetriesAfterTheBackoff) {
  {
    OutboxOptions o;
    o.path = dir_ / "outbox.db";
    Outbox earlier(o, clock_);
    earlier.Append(Event(SessionEventKind::kDisconnect, "left", "9"));
  }
  SetUpSender(4, milliseconds(1000));
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"left/disconnect"}));
  delivery_.Complete(absl::UnavailableError("down"));
  Settle();
  const auto backoff = sender_->stats().current_backoff;
  Append(SessionEventKind::kConnect, "new", "10");
  clock_.advance(backoff);
  Settle();
  ASSERT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"left/disconnect"})) << "resent after the backoff";
  delivery_.Complete(absl::OkStatus());
  Settle();
  EXPECT_EQ(delivery_.waiting_users(), (std::vector<std::string>{"new/connect"}))
      << "appended during that burst, quiet since: the next burst follows at once";
}

TEST(DeliveryPolicyTest, ClassifiesEveryCodeInOnePlace) {
  EXPECT_EQ(ClassifyDelivery(absl::StatusCode::kOk), DeliveryVerdict::kDelivered);
  EXPECT_EQ(ClassifyDelivery(absl::StatusCode::kAlreadyExists), DeliveryVerdict::kDelivered);
  for (auto c : {absl::StatusCode::kInvalidArgument, absl::StatusCode::kFailedPrecondition,
                 absl::StatusCode::kOutOfRange, absl::StatusCode::kNotFound}) {
    EXPECT_EQ(ClassifyDelivery(c), DeliveryVerdict::kPark) << absl::StatusCodeToString(c);
  }
  for (auto c : {absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kCancelled,
                 absl::StatusCode::kResourceExhausted, absl::StatusCode::kInternal, absl::StatusCode::kUnknown,
                 absl::StatusCode::kUnauthenticated, absl::StatusCode::kPermissionDenied,
                 absl::StatusCode::kUnimplemented, absl::StatusCode::kAborted}) {
    EXPECT_EQ(ClassifyDelivery(c), DeliveryVerdict::kRetry) << absl::StatusCodeToString(c);
  }
}

TEST(DeliveryPolicyTest, BackoffGrowsIsCappedAndJittered) {
  RetryBackoff b({std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.1}, 7);
  const long long bases[] = {100, 200, 400, 800, 1000, 1000};
  for (long long base : bases) {
    const auto d = b.Next().count();
    EXPECT_GE(d, base * 9 / 10);
    EXPECT_LE(d, base * 11 / 10);
  }
  b.Reset();
  EXPECT_LE(b.Next().count(), 110);
}

}  // namespace
}  // namespace oa
