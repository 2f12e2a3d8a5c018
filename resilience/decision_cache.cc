#include "resilience/decision_cache.h"

#include <algorithm>
#include <cstring>

#include "common/jitter.h"

namespace oa {
namespace {

std::int64_t Ticks(Clock::MonoTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
Clock::MonoTime FromTicks(std::int64_t ns) {
  return Clock::MonoTime(std::chrono::duration_cast<Clock::MonoTime::duration>(std::chrono::nanoseconds(ns)));
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

// One heap block per entry: this 64-byte header followed by key | username | groupname | reason. A hit touches the
// bucket slot and this one block (the key bytes sit right after the header), and each entry costs one allocation.
struct DecisionCache::Entry {
  std::uint64_t hash = 0;
  std::int64_t fresh_until = 0;  // ns on the cache's clock
  std::int64_t stale_until = 0;
  Entry* prev = nullptr;  // LRU list, head = most recently used
  Entry* next = nullptr;
  Entry* chain = nullptr;  // next entry in the same hash bucket
  std::uint32_t key_len = 0;
  std::uint16_t user_len = 0, group_len = 0, reason_len = 0;
  Verdict verdict = Verdict::kDeny;

  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  std::string_view key() const { return {data(), key_len}; }
  std::string_view username() const { return {data() + key_len, user_len}; }
  std::string_view groupname() const { return {data() + key_len + user_len, group_len}; }
  std::string_view reason() const { return {data() + key_len + user_len + group_len, reason_len}; }

  static Entry* Create(std::uint64_t hash, std::string_view key, std::string_view user, std::string_view group,
                       std::string_view reason) {
    void* mem = ::operator new(sizeof(Entry) + key.size() + user.size() + group.size() + reason.size());
    Entry* e = new (mem) Entry;
    e->hash = hash;
    e->key_len = static_cast<std::uint32_t>(key.size());
    e->user_len = static_cast<std::uint16_t>(user.size());
    e->group_len = static_cast<std::uint16_t>(group.size());
    e->reason_len = static_cast<std::uint16_t>(reason.size());
    char* p = e->data();
    for (std::string_view part : {key, user, group, reason}) {
      if (!part.empty()) std::memcpy(p, part.data(), part.size());
      p += part.size();
    }
    return e;
  }
  static void Destroy(Entry* e) {
    e->~Entry();
    ::operator delete(e);
  }
};

struct alignas(64) DecisionCache::Shard {
  std::mutex mu;
  // Heads of the hash chains; a power of two. Written only under mu; atomic (relaxed, plain moves on x86) so that a
  // lookup may peek at its bucket before taking the lock, to prefetch the entry.
  std::unique_ptr<std::atomic<Entry*>[]> buckets;
  std::size_t bucket_mask = 0;
  Entry* lru_head = nullptr;
  Entry* lru_tail = nullptr;
  std::size_t size = 0;
  std::uint64_t rng = 0;
  std::uint64_t hits = 0, misses = 0, stale_hits = 0, stale_misses = 0, insertions = 0, evictions = 0,
                expirations = 0;

  std::atomic<Entry*>& BucketOf(std::uint64_t hash) { return buckets[hash & bucket_mask]; }

  // Before the lock: start loading the entry the lookup will most likely compare (the head of its chain).
  void Prefetch(std::uint64_t hash) {
    const Entry* e = BucketOf(hash).load(std::memory_order_relaxed);
    if (e != nullptr) {
      __builtin_prefetch(e);
      __builtin_prefetch(reinterpret_cast<const char*>(e) + 64);  // the key bytes follow the 64-byte header
    }
  }

  Entry* Find(const CacheKey& key) {
    const std::uint64_t h = key.hash();
    const std::string_view bytes = key.bytes();
    for (Entry* e = BucketOf(h).load(std::memory_order_relaxed); e != nullptr; e = e->chain) {
      if (e->hash == h && e->key_len == bytes.size() && std::memcmp(e->data(), bytes.data(), bytes.size()) == 0) {
        return e;
      }
    }
    return nullptr;
  }

  void LruUnlink(Entry* e) {
    if (e->prev != nullptr) e->prev->next = e->next; else lru_head = e->next;
    if (e->next != nullptr) e->next->prev = e->prev; else lru_tail = e->prev;
    e->prev = e->next = nullptr;
  }

  void LruPushFront(Entry* e) {
    e->prev = nullptr;
    e->next = lru_head;
    if (lru_head != nullptr) lru_head->prev = e; else lru_tail = e;
    lru_head = e;
  }

  void Touch(Entry* e) {
    if (lru_head == e) return;
    LruUnlink(e);
    LruPushFront(e);
  }

  void Link(Entry* e) {
    std::atomic<Entry*>& head = BucketOf(e->hash);
    e->chain = head.load(std::memory_order_relaxed);
    head.store(e, std::memory_order_relaxed);
    LruPushFront(e);
    ++size;
  }

  // Unlinks and frees e. The caller adjusts the cache-wide count.
  void Remove(Entry* e) {
    std::atomic<Entry*>& head = BucketOf(e->hash);
    if (head.load(std::memory_order_relaxed) == e) {
      head.store(e->chain, std::memory_order_relaxed);
    } else {
      Entry* prev = head.load(std::memory_order_relaxed);
      while (prev->chain != e) prev = prev->chain;
      prev->chain = e->chain;
    }
    LruUnlink(e);
    Entry::Destroy(e);
    --size;
  }

  std::size_t Clear() {
    const std::size_t n = size;
    for (Entry* e = lru_head; e != nullptr;) {
      Entry* next = e->next;
      Entry::Destroy(e);
      e = next;
    }
    for (std::size_t b = 0; b <= bucket_mask; ++b) buckets[b].store(nullptr, std::memory_order_relaxed);
    lru_head = lru_tail = nullptr;
    size = 0;
    return n;
  }

};

DecisionCache::DecisionCache(const DecisionCacheOptions& options, const Clock& clock, std::uint64_t jitter_seed)
    : options_(options), clock_(clock) {
  static_assert(sizeof(Entry) == 64, "the entry header is meant to be one cache line");
  // Enough shards that two threads rarely meet on one lock, but each shard still holds a useful LRU.
  shard_count_ = std::clamp<std::size_t>(FloorPow2(std::max<std::size_t>(options_.max_entries / 64, 1)), 1,
                                         kMaxShards);
  int bits = 0;
  while ((std::size_t{1} << bits) < shard_count_) ++bits;
  shard_shift_ = 64 - bits;
  if (jitter_seed == 0) jitter_seed = RandomSeed();
  const std::size_t per_shard = options_.max_entries / shard_count_ + 1;
  shards_ = std::make_unique<Shard[]>(shard_count_);
  for (std::size_t s = 0; s < shard_count_; ++s) {
    const std::size_t n_buckets = CeilPow2(per_shard + per_shard / 4);
    shards_[s].buckets = std::make_unique<std::atomic<Entry*>[]>(n_buckets);
    shards_[s].bucket_mask = n_buckets - 1;
    shards_[s].rng = jitter_seed + s * 0x632be59bd9b4e019ULL;
  }
}

DecisionCache::~DecisionCache() {
  for (std::size_t s = 0; s < shard_count_; ++s) shards_[s].Clear();
}

DecisionCache::Shard& DecisionCache::ShardFor(std::uint64_t hash) const {
  return shards_[shard_count_ == 1 ? 0 : hash >> shard_shift_];
}

// The lookup GetFresh and GetStale share: the entry for `key`, or nullptr when there is none or it is past
// stale_until — then it is removed here (lazily, counted as an expiration). Caller holds shard.mu.
DecisionCache::Entry* DecisionCache::FindUnexpiredLocked(Shard& shard, const CacheKey& key, std::int64_t now) {
  Entry* e = shard.Find(key);
  if (e == nullptr || now < e->stale_until) return e;
  ++shard.expirations;
  shard.Remove(e);
  size_.fetch_sub(1, std::memory_order_relaxed);
  return nullptr;
}

CachedDecision DecisionCache::CachedOf(const Entry& e, std::int64_t now) {
  return CachedDecision{e.verdict, std::string(e.reason()), now < e.fresh_until, FromTicks(e.fresh_until),
                        FromTicks(e.stale_until)};
}

std::optional<CachedDecision> DecisionCache::GetFresh(const CacheKey& key) {
  Shard& shard = ShardFor(key.hash());
  // Start loading the entry while the clock is read: on a large cache it is usually a cache miss, and the clock
  // read (tens of ns under kvm-clock) hides part of it.
  shard.Prefetch(key.hash());
  const std::int64_t now = Ticks(clock_.now());
  std::lock_guard lock(shard.mu);
  Entry* e = FindUnexpiredLocked(shard, key, now);
  if (e == nullptr || now >= e->fresh_until) {
    ++shard.misses;
    return std::nullopt;
  }
  ++shard.hits;
  shard.Touch(e);
  return CachedOf(*e, now);
}

std::optional<CachedDecision> DecisionCache::GetStale(const CacheKey& key) {
  Shard& shard = ShardFor(key.hash());
  shard.Prefetch(key.hash());
  const std::int64_t now = Ticks(clock_.now());
  std::lock_guard lock(shard.mu);
  Entry* e = FindUnexpiredLocked(shard, key, now);
  if (e == nullptr) {
    ++shard.stale_misses;
    return std::nullopt;
  }
  ++shard.stale_hits;
  // Not touched: serving stale during an outage should not keep an entry alive against fresher ones.
  return CachedOf(*e, now);
}

void DecisionCache::Put(const CacheKey& key, std::string_view username, std::string_view groupname, Verdict verdict,
                        std::string_view reason, std::optional<Millis> portal_ttl) {
  PutImpl(nullptr, key, username, groupname, verdict, reason, portal_ttl);
}

bool DecisionCache::PutIfGeneration(std::uint64_t started_generation, const CacheKey& key, std::string_view username,
                                    std::string_view groupname, Verdict verdict, std::string_view reason,
                                    std::optional<Millis> portal_ttl) {
  return PutImpl(&started_generation, key, username, groupname, verdict, reason, portal_ttl);
}

bool DecisionCache::PutImpl(const std::uint64_t* started_generation, const CacheKey& key, std::string_view username,
                            std::string_view groupname, Verdict verdict, std::string_view reason,
                            std::optional<Millis> portal_ttl) {
  if (options_.max_entries == 0) return true;
  Shard& shard = ShardFor(key.hash());
  const std::int64_t now = Ticks(clock_.now());
  const Millis base_ttl = portal_ttl ? *portal_ttl : (verdict == Verdict::kAllow ? options_.allow_ttl
                                                                                   : options_.deny_ttl);
  reason = reason.substr(0, kMaxReasonBytes);
  const bool store = base_ttl > Millis{0} && username.size() <= kMaxNameBytes && groupname.size() <= kMaxNameBytes;
  // The entry is built outside the lock; only the index update is inside.
  Entry* fresh_entry = store ? Entry::Create(key.hash(), key.bytes(), username, groupname, reason) : nullptr;

  std::lock_guard lock(shard.mu);
  // Checked under the shard lock: an invalidation bumps the generation before it scans this shard, so it either
  // is seen here or removes what is stored here.
  if (started_generation != nullptr && generation_.load(std::memory_order_acquire) != *started_generation) {
    if (fresh_entry != nullptr) Entry::Destroy(fresh_entry);
    stale_puts_dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (Entry* old = shard.Find(key); old != nullptr) {  // replaced, or dropped on "do not cache"
    shard.Remove(old);
    size_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (fresh_entry == nullptr) return true;

  // Reserve a place in the cache-wide budget. Over budget, this shard gives up its least recently used entry; an
  // empty shard in a full cache (rare: the other shards hold everything) drops the new entry instead.
  if (size_.fetch_add(1, std::memory_order_relaxed) >= options_.max_entries) {
    Entry* victim = shard.lru_tail;
    if (victim == nullptr) {
      size_.fetch_sub(1, std::memory_order_relaxed);
      Entry::Destroy(fresh_entry);
      return true;
    }
    if (now >= victim->stale_until) ++shard.expirations; else ++shard.evictions;
    shard.Remove(victim);
    size_.fetch_sub(1, std::memory_order_relaxed);
  }
  const std::int64_t ttl_ns =
      Jittered(std::chrono::duration_cast<std::chrono::nanoseconds>(base_ttl), kTtlJitter, NextUnit(shard.rng)).count();
  const auto stale_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::max(options_.stale_ttl, Millis{0})).count();
  fresh_entry->verdict = verdict;
  fresh_entry->fresh_until = now + std::max<std::int64_t>(ttl_ns, 1);
  fresh_entry->stale_until = fresh_entry->fresh_until + stale_ns;
  shard.Link(fresh_entry);
  ++shard.insertions;
  return true;
}

bool DecisionCache::Erase(const CacheKey& key) {
  Shard& shard = ShardFor(key.hash());
  std::lock_guard lock(shard.mu);
  Entry* e = shard.Find(key);
  if (e == nullptr) return false;
  shard.Remove(e);
  size_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

template <class Pred>
std::size_t DecisionCache::RemoveIf(Pred pred, bool count_as_expired) {
  std::size_t removed = 0;
  for (std::size_t s = 0; s < shard_count_; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    for (Entry* e = shard.lru_head; e != nullptr;) {
      Entry* next = e->next;
      if (pred(*e)) {
        if (count_as_expired) ++shard.expirations;
        shard.Remove(e);
        size_.fetch_sub(1, std::memory_order_relaxed);
        ++removed;
      }
      e = next;
    }
  }
  return removed;
}

std::size_t DecisionCache::InvalidateUser(std::string_view username) {
  BumpGeneration();
  return RemoveIf([username](const Entry& e) { return e.username() == username; });
}

std::size_t DecisionCache::InvalidateGroup(std::string_view groupname) {
  BumpGeneration();
  return RemoveIf([groupname](const Entry& e) { return e.groupname() == groupname; });
}

std::size_t DecisionCache::PurgeExpired() {
  const std::int64_t now = Ticks(clock_.now());
  return RemoveIf([now](const Entry& e) { return now >= e.stale_until; }, /*count_as_expired=*/true);
}

std::size_t DecisionCache::InvalidateAll() {
  BumpGeneration();
  std::size_t removed = 0;
  for (std::size_t s = 0; s < shard_count_; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard lock(shard.mu);
    const std::size_t n = shard.Clear();
    size_.fetch_sub(n, std::memory_order_relaxed);
    removed += n;
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
  st.stale_puts_dropped = stale_puts_dropped_.load(std::memory_order_relaxed);
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
