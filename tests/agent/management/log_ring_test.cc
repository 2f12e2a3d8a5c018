#include "common/log_ring.h"

#include <gtest/gtest.h>
#include <spdlog/logger.h>

#include <atomic>
#include <thread>

#include "common/log_ring_sink.h"

namespace oa {
namespace {

LogRecord Line(std::string msg, std::chrono::system_clock::time_point t = {}) {
  LogRecord r;
  r.time = t;
  r.level = "info";
  r.message = std::move(msg);
  return r;
}

TEST(LogRing, KeepsTheNewestLinesUpToCapacity) {
  LogRing ring(3);
  for (int i = 1; i <= 5; ++i) ring.Append(Line("l" + std::to_string(i)));
  const auto all = ring.Since({});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].message, "l3");
  EXPECT_EQ(all[0].seq, 3u);
  EXPECT_EQ(all[2].message, "l5");
  EXPECT_EQ(ring.dropped(), 2u);
}

TEST(LogRing, SinceFiltersByTime) {
  LogRing ring(10);
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  ring.Append(Line("old", t0));
  ring.Append(Line("new", t0 + std::chrono::seconds(10)));
  const auto got = ring.Since(t0 + std::chrono::seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message, "new");
}

TEST(LogRing, AfterReturnsOnlyNewerLines) {
  LogRing ring(10);
  ring.Append(Line("a"));
  ring.Append(Line("b"));
  ring.Append(Line("c"));
  const auto got = ring.After(1, std::chrono::milliseconds(0));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].message, "b");
  EXPECT_TRUE(ring.After(3, std::chrono::milliseconds(0)).empty());
}

TEST(LogRing, AfterOlderThanRingReturnsWhatIsKept) {
  LogRing ring(2);
  for (int i = 0; i < 5; ++i) ring.Append(Line("x"));
  EXPECT_EQ(ring.After(1, std::chrono::milliseconds(0)).size(), 2u);
}

TEST(LogRing, ListenersHearEveryAppendAndCloseUntilUnsubscribed) {
  LogRing ring(2);
  EXPECT_EQ(ring.last_seq(), 0u);
  int a = 0;
  int b = 0;
  const auto id_a = ring.Subscribe([&] { ++a; });
  ring.Subscribe([&] { ++b; });
  ring.Append(Line("x"));
  ring.Append(Line("y"));
  ring.Append(Line("z"));  // pushes "x" out: last_seq still counts it
  EXPECT_EQ(ring.last_seq(), 3u);
  EXPECT_EQ(a, 3);
  ring.Unsubscribe(id_a);
  ring.Append(Line("w"));
  ring.Close();
  EXPECT_EQ(a, 3) << "never called after Unsubscribe returned";
  EXPECT_EQ(b, 5);
}

// A listener runs without the ring's lock: it may read the ring (as a StreamLogs reactor does to pick its next line).
TEST(LogRing, ListenerMayReadTheRing) {
  LogRing ring(10);
  std::vector<std::string> seen;
  ring.Subscribe([&] {
    for (const auto& r : ring.After(ring.last_seq() - 1, std::chrono::milliseconds(0))) seen.push_back(r.message);
  });
  ring.Append(Line("a"));
  ring.Append(Line("b"));
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

// Unsubscribe from another thread while lines are appended: no call after it returns (under TSan: no race).
TEST(LogRing, UnsubscribeRacingAppendsNeverCallsAGoneListener) {
  LogRing ring(100);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) ring.Append(Line("w"));
  });
  for (int i = 0; i < 200; ++i) {
    auto alive = std::make_unique<std::atomic<int>>(0);
    const auto id = ring.Subscribe([p = alive.get()] { p->fetch_add(1); });
    ring.Unsubscribe(id);
    alive.reset();  // a call after Unsubscribe would touch freed memory (ASan/TSan report it)
  }
  stop = true;
  writer.join();
}

// A follower blocked in After() wakes for a line appended by another thread (no lost wake-up, no torn record).
TEST(LogRing, FollowerSeesLinesFromOtherThreads) {
  LogRing ring(1000);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 500; ++i) ring.Append(Line("w" + std::to_string(i)));
    done = true;
  });
  std::uint64_t last = 0;
  std::size_t seen = 0;
  while (seen < 500) {
    for (const auto& r : ring.After(last, std::chrono::milliseconds(1000))) {
      EXPECT_EQ(r.seq, last + 1);
      EXPECT_EQ(r.message, "w" + std::to_string(r.seq - 1));
      last = r.seq;
      ++seen;
    }
  }
  writer.join();
  EXPECT_TRUE(done.load());
}

TEST(LogRing, CloseWakesWaiters) {
  LogRing ring(4);
  std::thread closer([&] { ring.Close(); });
  EXPECT_TRUE(ring.After(0, std::chrono::seconds(30)).empty());
  closer.join();
}

TEST(LogRingSink, CopiesSpdlogLines) {
  auto ring = std::make_shared<LogRing>(16);
  spdlog::logger logger("mgmt-test", MakeLogRingSink(ring));
  logger.warn("breaker {} for {}", "open", "portal");
  const auto got = ring->Since({});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message, "breaker open for portal");
  EXPECT_EQ(got[0].level, "warning");
  EXPECT_EQ(got[0].logger, "mgmt-test");
}

}  // namespace
}  // namespace oa
