// Micro-benchmarks of the resilience library: decision cache hit/miss at 1k/100k/1M entries, insert with eviction,
// 2-thread concurrent hits, memory per entry at 1M entries, breaker admit+record while closed, key building and
// hashing. All use the real SystemClock, as production does. Reproduce: see BENCHMARKS.md ("resilience").
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "resilience/cache_key.h"
#include "resilience/circuit_breaker.h"
#include "resilience/decision_cache.h"

namespace oa {
namespace {

const CacheKeyBuilder& Builder() {
  static const CacheKeyBuilder builder = *CacheKeyBuilder::Create({"username", "groupname", "vhost", "ip_real"});
  return builder;
}

struct Request {
  std::string user, group, vhost, ip;
};

Request MakeRequest(std::size_t i) {
  return Request{"user" + std::to_string(i) + "@example.net", i % 7 ? "staff" : "contractors", "vpn.example.net",
                 "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
                     std::to_string(i & 255)};
}

CacheKey MakeKey(const Request& r) {
  KeyFieldValues v;
  v[KeyField::kUsername] = r.user;
  v[KeyField::kGroupname] = r.group;
  v[KeyField::kVhost] = r.vhost;
  v[KeyField::kIpReal] = r.ip;
  return Builder().Build(v);
}

std::vector<CacheKey> MakeKeys(std::size_t first, std::size_t n) {
  std::vector<CacheKey> keys;
  keys.reserve(n);
  for (std::size_t i = first; i < first + n; ++i) keys.push_back(MakeKey(MakeRequest(i)));
  return keys;
}

DecisionCacheOptions CacheOptions(std::size_t max_entries) {
  DecisionCacheOptions o;
  o.max_entries = max_entries;
  return o;
}

// A cache filled with n allow verdicts, and the same keys again in a shuffled order for lookups. The lookup keys
// are separate copies laid out in lookup order: in production the key was just built by the caller and is in the
// CPU cache, while the cache's own entries are wherever they are. So the harness walks its keys sequentially and the
// cache sees them in an order unrelated to insertion.
struct FilledCache {
  explicit FilledCache(std::size_t n) : cache(CacheOptions(n), SystemClock::instance(), 1) {
    const std::vector<CacheKey> keys = MakeKeys(0, n);
    for (std::size_t i = 0; i < n; ++i) {
      const Request r = MakeRequest(i);
      cache.Put(keys[i], r.user, r.group, Verdict::kAllow, "", std::nullopt);
    }
    std::vector<std::uint32_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
    std::shuffle(order.begin(), order.end(), std::mt19937(42));
    lookups.reserve(n);
    for (auto i : order) lookups.push_back(keys[i]);
  }
  DecisionCache cache;
  std::vector<CacheKey> lookups;
};

FilledCache& Filled(std::size_t n) {
  // Built once per size and shared (also by the 2-thread benchmark); static init is thread-safe.
  static std::unique_ptr<FilledCache> small, medium, large;
  auto& slot = n <= 1'000 ? small : n <= 100'000 ? medium : large;
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (!slot) slot = std::make_unique<FilledCache>(n);
  return *slot;
}

void BM_CacheHit(benchmark::State& state) {
  FilledCache& f = Filled(static_cast<std::size_t>(state.range(0)));
  const std::size_t n = f.lookups.size();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (n / 2);
  std::uint64_t hits = 0;
  for (auto _ : state) {
    auto d = f.cache.GetFresh(f.lookups[i]);
    hits += d.has_value();
    benchmark::DoNotOptimize(d);
    if (++i == n) i = 0;
  }
  state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_CacheHit)->Arg(1'000)->Arg(100'000)->Arg(1'000'000);
BENCHMARK(BM_CacheHit)->Arg(100'000)->Threads(2)->UseRealTime()->Name("BM_CacheHit_2threads");

void BM_CacheMiss(benchmark::State& state) {
  FilledCache& f = Filled(static_cast<std::size_t>(state.range(0)));
  const std::vector<CacheKey> absent = MakeKeys(10'000'000, 4096);
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = f.cache.GetFresh(absent[i]);
    benchmark::DoNotOptimize(d);
    i = (i + 1) & 4095;
  }
}
BENCHMARK(BM_CacheMiss)->Arg(1'000)->Arg(100'000)->Arg(1'000'000);

// Every Put is a new key into a full cache: one eviction each.
void BM_CachePutEvict(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  DecisionCache cache(CacheOptions(n), SystemClock::instance(), 1);
  const std::vector<CacheKey> keys = MakeKeys(0, 2 * n);
  for (std::size_t i = 0; i < n; ++i) cache.Put(keys[i], "user", "staff", Verdict::kAllow, "", std::nullopt);
  std::size_t i = n;
  for (auto _ : state) {
    cache.Put(keys[i], "user@example.net", "staff", Verdict::kAllow, "", std::nullopt);
    if (++i == keys.size()) i = 0;
  }
  state.counters["evictions"] = static_cast<double>(cache.stats().evictions);
}
BENCHMARK(BM_CachePutEvict)->Arg(100'000);

long RssBytes() {
  long pages_total = 0, pages_resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
  std::fclose(f);
  return pages_resident * sysconf(_SC_PAGESIZE);
}

std::size_t HeapBytes() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// Memory of a cache holding n entries, beyond the encoded key bytes (which include their 4-byte length prefixes).
// Username and groupname copies count as overhead. One iteration: this measures bytes, not time.
void BM_CacheMemory(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<CacheKey> keys = MakeKeys(0, n);
  std::vector<Request> requests;
  requests.reserve(n);
  for (std::size_t i = 0; i < n; ++i) requests.push_back(MakeRequest(i));
  std::size_t key_bytes = 0;
  for (const auto& k : keys) key_bytes += k.bytes().size();
  for (auto _ : state) {
    malloc_trim(0);
    const std::size_t heap0 = HeapBytes();
    const long rss0 = RssBytes();
    auto cache = std::make_unique<DecisionCache>(CacheOptions(n), SystemClock::instance(), 1);
    for (std::size_t i = 0; i < n; ++i) {
      cache->Put(keys[i], requests[i].user, requests[i].group, Verdict::kAllow, "", std::nullopt);
    }
    const std::size_t heap1 = HeapBytes();
    const long rss1 = RssBytes();
    state.counters["entries"] = static_cast<double>(cache->size());
    state.counters["key_bytes_per_entry"] = static_cast<double>(key_bytes) / static_cast<double>(n);
    state.counters["heap_overhead_per_entry"] =
        (static_cast<double>(heap1 - heap0) - static_cast<double>(key_bytes)) / static_cast<double>(n);
    state.counters["rss_overhead_per_entry"] =
        (static_cast<double>(rss1 - rss0) - static_cast<double>(key_bytes)) / static_cast<double>(n);
  }
}
BENCHMARK(BM_CacheMemory)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

CircuitBreakerOptions BreakerOptions() { return CircuitBreakerOptions{}; }

void BM_BreakerClosedAdmitRecord(benchmark::State& state) {
  CircuitBreaker breaker(BreakerOptions(), SystemClock::instance());
  for (auto _ : state) {
    auto permit = breaker.TryAcquire();
    breaker.Record(permit, CallResult::kSuccess);
  }
}
BENCHMARK(BM_BreakerClosedAdmitRecord);

// The same with a clock that costs nothing (a fixed time): the breaker's own logic without the clock read.
class FixedClock final : public Clock {
 public:
  MonoTime now() const override { return MonoTime(std::chrono::seconds(1000)); }
  WallTime wall_now() const override { return WallTime(std::chrono::seconds(1000)); }
};

void BM_BreakerClosedAdmitRecord_FixedClock(benchmark::State& state) {
  static const FixedClock clock;
  CircuitBreaker breaker(BreakerOptions(), clock);
  for (auto _ : state) {
    auto permit = breaker.TryAcquire();
    breaker.Record(permit, CallResult::kSuccess);
  }
}
BENCHMARK(BM_BreakerClosedAdmitRecord_FixedClock);

// For scale: what one read of the real clock costs (the breaker reads it once per Record).
void BM_SteadyClockNow(benchmark::State& state) {
  const Clock& clock = SystemClock::instance();
  for (auto _ : state) benchmark::DoNotOptimize(clock.now());
}
BENCHMARK(BM_SteadyClockNow);

void BM_KeyBuildAndHash(benchmark::State& state) {
  const Request r = MakeRequest(123456);
  KeyFieldValues v;
  v[KeyField::kUsername] = r.user;
  v[KeyField::kGroupname] = r.group;
  v[KeyField::kVhost] = r.vhost;
  v[KeyField::kIpReal] = r.ip;
  for (auto _ : state) {
    CacheKey k = Builder().Build(v);
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_KeyBuildAndHash);

void BM_Xxh3(benchmark::State& state) {
  const std::string bytes = MakeKey(MakeRequest(123456)).bytes();
  for (auto _ : state) benchmark::DoNotOptimize(Xxh3Hash(bytes));
  state.counters["key_bytes"] = static_cast<double>(bytes.size());
}
BENCHMARK(BM_Xxh3);

}  // namespace
}  // namespace oa

BENCHMARK_MAIN();
