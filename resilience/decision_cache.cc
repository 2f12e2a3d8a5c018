#include "resilience/decision_cache.h"

#include <algorithm>
#include <cstring>
#include <random>

namespace oa {
namespace {

constexpr std::uint32_t kNil = 0xffffffffu;

std::int64_t Ticks(Clock::MonoTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
Clock::MonoTime FromTicks(std::int64_t ns) {
  return Clock::MonoTime(std::chrono::duration_cast<Clock::MonoTime::duration>(std::chrono::nanoseconds(ns)));
}

std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::size_t FloorPow2(std::size_t n) {
  std::size_t p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

std::size_t CeilPow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p *= 2;
  return p;
}

}  // namespace

// 64 bytes: one cache line. The key, username, groupname and reason share one heap block so that each entry costs
// a single allocation and the key bytes are stored once.
struct DecisionCache::Entry {
  std::uint64_t hash = 0;
  std::int64_t fresh_until = 0;  // ns on the cache's clock
  std::int64_t stale_until = 0;
  std::unique_ptr<char[]> blob;  // key | username | groupname | reason
  std::uint32_t key_len = 0, user_len = 0, group_len = 0, reason_len = 0;
  std::uint32_t prev = kNil, next = kNil;  // LRU list, head = most recently used
  std::uint32_t chain = kNil;              // next entry in the same hash bucket, or in the free list
  Verdict verdict = Verdict::kDeny;
  bool live = false;

  std::string_view key() const { return {blob.get(), key_len}; }
  std::string_view username() const { return {blob.get() + key_len, user_len}; }
  std::string_view groupname() const { return {blob.get() + key_len + user_len, group_len}; }
  std::string_view reason() const { return {blob.get() + key_len + user_len + group_len, reason_len}; }
};

struct alignas(64) DecisionCache::Shard {
  std::mutex mu;
  std::size_t capacity = 0;
  std::size_t size = 0;
  std::vector<Entry> slots;               // reserved to capacity up front, so it never reallocates
  std::vector<std::uint32_t> buckets;     // heads of the hash chains
  std::uint32_t free_head = kNil;
  std::uint32_t lru_head = kNil, lru_tail = kNil;
  std::uint64_t rng = 0;
  std::uint64_t hits = 0, misses = 0, stale_hits = 0, stale_misses = 0, insertions = 0, evictions = 0,
                expirations = 0;

  std::size_t BucketOf(std::uint64_t hash) const { return hash & (buckets.size() - 1); }

  std::uint32_t Find(const CacheKey& key) const {
    const std::uint64_t h = key.hash();
    const std::string_view bytes = key.bytes();
    for (std::uint32_t i = buckets[BucketOf(h)]; i != kNil; i = slots[i].chain) {
      const Entry& e = slots[i];
      if (e.hash == h && e.key_len == bytes.size() && std::memcmp(e.blob.get(), bytes.data(), bytes.size()) == 0) {
        return i;
      }
    }
    return kNil;
  }

  void LruUnlink(std::uint32_t i) {
    Entry& e = slots[i];
    if (e.prev != kNil) slots[e.prev].next = e.next; else lru_head = e.next;
    if (e.next != kNil) slots[e.next].prev = e.prev; else lru_tail = e.prev;
    e.prev = e.next = kNil;
  }

  void LruPushFront(std::uint32_t i) {
    Entry& e = slots[i];
    e.prev = kNil;
    e.next = lru_head;
    if (lru_head != kNil) slots[lru_head].prev = i; else lru_tail = i;
    lru_head = i;
  }

  void Touch(std::uint32_t i) {
    if (lru_head == i) return;
    LruUnlink(i);
    LruPushFront(i);
  }

  void Remove(std::uint32_t i) {
    Entry& e = slots[i];
    std::uint32_t* link = &buckets[BucketOf(e.hash)];
    while (*link != i) link = &slots[*link].chain;
    *link = e.chain;
    LruUnlink(i);
    e.blob.reset();
    e.live = false;
    e.chain = free_head;
    free_head = i;
    --size;
  }

  void Clear() {
    for (auto& e : slots) e.blob.reset();
    slots.clear();
    std::fill(buckets.begin(), buckets.end(), kNil);
    free_head = lru_head = lru_tail = kNil;
    size = 0;
  }

  // A slot for a new entry: a free one, a never-used one, or the LRU victim (counted as eviction or expiration).
  std::uint32_t Allocate(std::int64_t now) {
    if (free_head != kNil) {
      const std::uint32_t i = free_head;
      free_head = slots[i].chain;
      return i;
    }
    if (slots.size() < capacity) {
      slots.emplace_back();
      return static_cast<std::uint32_t>(slots.size() - 1);
    }
    const std::uint32_t victim = lru_tail;
    if (now >= slots[victim].stale_until) ++expirations; else ++evictions;
    Remove(victim);
    const std::uint32_t i = free_head;
    free_head = slots[i].chain;
    return i;
  }

  double NextUnit() { return static_cast<double>(SplitMix64(rng) >> 11) * 0x1.0p-53; }
};

DecisionCache::DecisionCache(const DecisionCacheOptions& options, const Clock& clock, std::uint64_t jitter_seed)
    : options_(options), clock_(clock) {
  // Enough shards that two threads rarely meet on one lock, but each shard still holds a useful LRU.
  shard_count_ = std::clamp<std::size_t>(FloorPow2(std::max<std::size_t>(options_.max_entries / 64, 1)), 1,
                                         kMaxShards);
  int bits = 0;
  while ((std::size_t{1} << bits) < shard_count_) ++bits;
  shard_shift_ = 64 - bits;
  if (jitter_seed == 0) {
    std::random_device rd;
    jitter_seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }
  shards_ = std::make_unique<Shard[]>(shard_count_);
  for (std::size_t s = 0; s < shard_count_; ++s) {
    Shard& shard = shards_[s];
    shard.capacity = options_.max_entries / shard_count_ + (s < options_.max_entries % shard_count_ ? 1 : 0);
    shard.slots.reserve(shard.capacity);
    shard.buckets.assign(CeilPow2(std::max<std::size_t>(shard.capacity, 1)), kNil);
    shard.rng = jitter_seed + s * 0x632be59bd9b4e019ULL;
  }
}

DecisionCache::~DecisionCache() = default;

DecisionCache::Shard& DecisionCache::ShardFor(std::uint64_t hash) const {
  return shards_[shard_count_ == 1 ? 0 : hash >> shard_shift_];
}

std::optional<CachedDecision> DecisionCache::GetFresh(const CacheKey& key) {
  const std::int64_t now = Ticks(clock_.now());
  Shard& shard = ShardFor(key.hash());
  std::lock_guard lock(shard.mu);
  const std::uint32_t i = shard.Find(key);
  if (i == kNil) {
    ++shard.misses;
    return std::nullopt;
  }
  const Entry& e = shard.slots[i];
  if (now >= e.fresh_until) {
    if (now >= e.stale_until) {
      ++shard.expirations;
      shard.Remove(i);
    }
    ++shard.misses;
    return std::nullopt;
  }
  ++shard.hits;
  shard.Touch(i);
  return CachedDecision{e.verdict, std::string(e.reason()), true, FromTicks(e.fresh_until), FromTicks(e.stale_until)};
}

std::optional<CachedDecision> DecisionCache::GetStale(const CacheKey& key) {
  const std::int64_t now = Ticks(clock_.now());
  Shard& shard = ShardFor(key.hash());
  std::lock_guard lock(shard.mu);
  const std::uint32_t i = shard.Find(key);
  if (i == kNil) {
    ++shard.stale_misses;
    return std::nullopt;
  }
  const Entry& e = shard.slots[i];
  if (now >= e.stale_until) {
    ++shard.expirations;
    ++shard.stale_misses;
    shard.Remove(i);
    return std::nullopt;
  }
  ++shard.stale_hits;
  // Not touched: serving stale during an outage should not keep an entry alive against fresher ones.
  return CachedDecision{e.verdict, std::string(e.reason()), now < e.fresh_until, FromTicks(e.fresh_until),
                        FromTicks(e.stale_until)};
}

void DecisionCache::Put(const CacheKey& key, std::string_view username, std::string_view groupname, Verdict verdict,
                        std::string_view reason, std::optional<Millis> portal_ttl) {
  Shard& shard = ShardFor(key.hash());
  if (shard.capacity == 0) return;
  const Clock::MonoTime now_time = clock_.now();
  const std::int64_t now = Ticks(now_time);
  const Millis base_ttl = portal_ttl ? *portal_ttl : (verdict == Verdict::kAllow ? options_.allow_ttl
                                                                                   : options_.deny_ttl);
  reason = reason.substr(0, kMaxReasonBytes);
  const std::string_view bytes = key.bytes();

  // The blob is built outside the lock; only the index update is inside.
  const std::size_t blob_len = bytes.size() + username.size() + groupname.size() + reason.size();
  std::unique_ptr<char[]> blob;
  if (base_ttl > Millis{0}) {
    blob = std::make_unique_for_overwrite<char[]>(blob_len);
    char* p = blob.get();
    for (std::string_view part : {bytes, username, groupname, reason}) {
      if (!part.empty()) std::memcpy(p, part.data(), part.size());
      p += part.size();
    }
  }

  std::lock_guard lock(shard.mu);
  std::uint32_t i = shard.Find(key);
  if (base_ttl <= Millis{0}) {  // "do not cache": and forget what we had, it may no longer hold
    if (i != kNil) shard.Remove(i);
    return;
  }
  const double factor = 1.0 + kTtlJitter * (2.0 * shard.NextUnit() - 1.0);
  const auto ttl_ns = static_cast<std::int64_t>(
      static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(base_ttl).count()) * factor);
  const auto stale_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::max(options_.stale_ttl, Millis{0})).count();
  if (i == kNil) {
    i = shard.Allocate(now);
    Entry& e = shard.slots[i];
    e.hash = key.hash();
    const std::size_t b = shard.BucketOf(e.hash);
    e.chain = shard.buckets[b];
    shard.buckets[b] = i;
    e.live = true;
    shard.LruPushFront(i);
    ++shard.size;
  } else {
    shard.Touch(i);
  }
  Entry& e = shard.slots[i];
  e.blob = std::move(blob);
  e.key_len = static_cast<std::uint32_t>(bytes.size());
  e.user_len = static_cast<std::uint32_t>(username.size());
  e.group_len = static_cast<std::uint32_t>(groupname.size());
  e.reason_len = static_cast<std::uint32_t>(reason.size());
  e.verdict = verdict;
  e.fresh_until = now + std::max<std::int64_t>(ttl_ns, 1);
  e.stale_until = e.fresh_until + stale_ns;
  ++shard.insertions;
}

bool DecisionCache::Erase(const CacheKey& key) {
  Shard& shard = ShardFor(key.hash());
  std::lock_guard lock(shard.mu);
  const std::uint32_t i = shard.Find(key);
  if (i == kNil) return false;
  shard.Remove(i);
  return true;
}

template <class Pred>
std::size_t DecisionCache::RemoveIf(Pred pred) {
  std::size_t removed = 0;
  for (std::size_t s = 0; s < shard_count_; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    for (std::uint32_t i = 0; i < shard.slots.size(); ++i) {
      if (shard.slots[i].live && pred(shard.slots[i])) {
        shard.Remove(i);
        ++removed;
      }
    }
  }
  return removed;
}

std::size_t DecisionCache::InvalidateUser(std::string_view username) {
  return RemoveIf([username](const Entry& e) { return e.username() == username; });
}

std::size_t DecisionCache::InvalidateGroup(std::string_view groupname) {
  return RemoveIf([groupname](const Entry& e) { return e.groupname() == groupname; });
}

std::size_t DecisionCache::InvalidateAll() {
  std::size_t removed = 0;
  for (std::size_t s = 0; s < shard_count_; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    removed += shard.size;
    shard.Clear();
  }
  return removed;
}

DecisionCacheStats DecisionCache::stats() const {
  DecisionCacheStats st;
  for (std::size_t s = 0; s < shard_count_; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    st.hits += shard.hits;
    st.misses += shard.misses;
    st.stale_hits += shard.stale_hits;
    st.stale_misses += shard.stale_misses;
    st.insertions += shard.insertions;
    st.evictions += shard.evictions;
    st.expirations += shard.expirations;
    st.size += shard.size;
  }
  st.coalesced = coalesced_.load(std::memory_order_relaxed);
  return st;
}

std::size_t DecisionCache::size() const {
  std::size_t n = 0;
  for (std::size_t s = 0; s < shard_count_; ++s) {
    std::lock_guard lock(shards_[s].mu);
    n += shards_[s].size;
  }
  return n;
}

}  // namespace oa
