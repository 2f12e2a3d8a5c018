// Readers, writers and invalidations racing on the cache. Labelled tsan: CI also runs these under ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fake_clock.h"
#include "resilience/decision_cache.h"

namespace oa {
namespace {

using testing::FakeClock;

constexpr int kUsers = 600;

std::string User(int i) { return "user" + std::to_string(i); }
Verdict VerdictOf(int i) { return i % 3 == 0 ? Verdict::kDeny : Verdict::kAllow; }
std::string ReasonOf(int i) { return VerdictOf(i) == Verdict::kDeny ? "deny " + User(i) : ""; }

void Race(KeyHasher hasher, std::size_t max_entries) {
  FakeClock clock;
  DecisionCacheOptions o;
  o.max_entries = max_entries;
  o.allow_ttl = std::chrono::seconds(5);
  o.deny_ttl = std::chrono::seconds(2);
  o.stale_ttl = std::chrono::seconds(5);
  DecisionCache cache(o, clock, 99);
  auto builder = *CacheKeyBuilder::Create({"username"}, hasher);
  std::vector<CacheKey> keys;
  for (int i = 0; i < kUsers; ++i) {
    KeyFieldValues v;
    const std::string user = User(i);
    v[KeyField::kUsername] = user;
    keys.push_back(builder.Build(v));
  }

  // Prefill, so that readers find entries from the first lookup on.
  for (int i = 0; i < kUsers; ++i) {
    cache.Put(keys[i], User(i), i % 2 ? "odd" : "even", VerdictOf(i), ReasonOf(i), std::nullopt);
  }

  std::latch start(5);  // 2 readers, 2 writers, 1 admin: all race from the same moment
  std::atomic<int> writers_left{2};
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> fresh_lookups{0}, stale_lookups{0}, wrong{0};
  auto check = [&](int i, const std::optional<CachedDecision>& d) {
    if (d && (d->verdict != VerdictOf(i) || d->reason != ReasonOf(i))) wrong.fetch_add(1);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {  // readers
    threads.emplace_back([&, t] {
      std::minstd_rand rng(t + 10);
      start.arrive_and_wait();
      for (int n = 0; n < 20'000 || writers_left.load() > 0; ++n) {
        const int i = static_cast<int>(rng() % kUsers);
        if (n % 5 == 0) {
          stale_lookups.fetch_add(1);
          check(i, cache.GetStale(keys[i]));
        } else {
          fresh_lookups.fetch_add(1);
          check(i, cache.GetFresh(keys[i]));
        }
      }
    });
  }
  for (int t = 0; t < 2; ++t) {  // writers
    threads.emplace_back([&, t] {
      std::minstd_rand rng(t + 20);
      start.arrive_and_wait();
      for (int n = 0; n < 10'000; ++n) {
        const int i = static_cast<int>(rng() % kUsers);
        const std::string user = User(i);
        const std::optional<Millis> ttl =
            n % 17 == 0 ? std::optional<Millis>(Millis{0}) : std::nullopt;  // sometimes "do not cache"
        cache.Put(keys[i], user, i % 2 ? "odd" : "even", VerdictOf(i), ReasonOf(i), ttl);
      }
      writers_left.fetch_sub(1);
    });
  }
  std::thread admin([&] {
    start.arrive_and_wait();
    int n = 0;
    while (!done.load()) {
      clock.advance(std::chrono::milliseconds(7));
      switch (++n % 50) {
        case 0: cache.InvalidateUser(User(n % kUsers)); break;
        case 10: cache.InvalidateGroup("odd"); break;
        case 20: cache.InvalidateAll(); break;
        default: break;
      }
      (void)cache.stats();
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  done.store(true);
  admin.join();

  EXPECT_EQ(wrong.load(), 0u) << "a lookup returned another key's verdict";
  EXPECT_GT(cache.stats().hits, 0u) << "the race must include hits to mean anything";
  const auto st = cache.stats();
  EXPECT_EQ(st.hits + st.misses, fresh_lookups.load());
  EXPECT_EQ(st.stale_hits + st.stale_misses, stale_lookups.load());
  EXPECT_LE(st.size, max_entries);
  EXPECT_EQ(st.size, cache.size());
}

TEST(CacheRaceTest, ReadersWritersAndInvalidations) { Race(&Xxh3Hash, 256); }

TEST(CacheRaceTest, EverythingCollidesYetNoVerdictLeaks) {
  Race([](std::string_view) -> std::uint64_t { return 7; }, 64);
}

}  // namespace
}  // namespace oa
