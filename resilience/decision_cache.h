// DecisionCache: remembers the portal's recent Allow/Deny verdicts so that repeated connects are answered without a
// portal call, and so that the fail-stale mode has a previous verdict to fall back on
// (docs/architecture.md#decision-cache).
//
//   - Keyed by CacheKey (cache_key.h). An entry keeps the full key bytes; a lookup compares them, so a hash
//     collision is a miss, never someone else's verdict.
//   - Bounded by max_entries: the cache is split into shards (up to kMaxShards, by the key's top hash bits), each an
//     LRU with an intrusive list and a chained hash index; an entry is one heap block (64-byte header, then the
//     key, username, groupname and reason bytes). Get, put and evict are O(1). The budget is cache-wide (an atomic
//     count reserved before each insert), so the total never exceeds max_entries and an uneven hash spread wastes
//     no capacity; when full, the victim is the least recently used entry of the inserting key's shard, so LRU
//     order is per shard.
//   - Fresh TTL: allow_ttl / deny_ttl, or the portal's TTL when it sent one (0 = do not cache, and drop any entry
//     for the key); each fresh TTL gets +-10 % jitter so that entries made together do not expire together.
//   - Stale: after its fresh TTL an entry stays for stale_ttl more (stale_until = fresh_until + stale_ttl). GetFresh
//     never returns it; GetStale does. Past stale_until an entry is never returned; it is removed lazily (when a
//     lookup finds it, when it is the LRU victim, or by PurgeExpired), counted as an expiration.
//   - Only verdicts can be stored (Put takes a Verdict): an Error is never cached.
//   - Invalidation by exact username, exact group, or all, counting what it removed. A user/group invalidation
//     scans the whole cache (O(max_entries), an operator action), shard by shard.
//   - In-flight answers: every invalidation first bumps generation(). A caller that read generation() when its
//     portal call started stores the answer with PutIfGeneration: if any invalidation happened meanwhile the answer
//     is not stored (counted in stale_puts_dropped). The check is made under the shard lock and the bump comes
//     before the scan, so an invalidation racing with the store either refuses it or removes it. The generation is
//     cache-wide (not per subject): an unrelated invalidation only costs one answer not cached.
//
// Thread-safety: every method may be called from any thread. Each shard has its own mutex, held for the few
// hundred nanoseconds of one operation; lookups of different shards never contend. Statistics are kept per shard
// and summed by stats().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resilience/cache_key.h"
#include "resilience/clock.h"
#include "resilience/decision.h"
#include "resilience/options.h"

namespace oa {

struct CachedDecision {
  Verdict verdict = Verdict::kDeny;
  std::string reason;  // the portal's deny reason, as cached
  bool fresh = false;  // false: past its fresh TTL (only GetStale returns such an entry)
  Clock::MonoTime fresh_until{};
  Clock::MonoTime stale_until{};
};

struct DecisionCacheStats {
  std::uint64_t hits = 0;          // GetFresh answered
  std::uint64_t misses = 0;        // GetFresh found nothing fresh
  std::uint64_t stale_hits = 0;    // GetStale answered
  std::uint64_t stale_misses = 0;  // GetStale found nothing
  std::uint64_t coalesced = 0;     // RecordCoalesced() calls (the authorizer's single-flight followers)
  std::uint64_t insertions = 0;    // Put stored a verdict (new key or replaced)
  std::uint64_t evictions = 0;     // live entries pushed out to make room
  std::uint64_t expirations = 0;   // entries removed because their stale window ended
  std::uint64_t size = 0;          // entries held now
  std::uint64_t stale_puts_dropped = 0;  // PutIfGeneration refused: an invalidation happened during the call
};

class DecisionCache {
 public:
  static constexpr double kTtlJitter = 0.10;
  static constexpr std::size_t kMaxShards = 64;
  static constexpr std::size_t kMaxReasonBytes = 1024;  // longer portal reasons are truncated in the cache
  static constexpr std::size_t kMaxNameBytes = 65535;   // a longer username or groupname is not cached

  // `clock` must outlive the cache. jitter_seed 0 = seed from std::random_device.
  DecisionCache(const DecisionCacheOptions& options, const Clock& clock, std::uint64_t jitter_seed = 0);
  ~DecisionCache();
  DecisionCache(const DecisionCache&) = delete;
  DecisionCache& operator=(const DecisionCache&) = delete;

  // A verdict still within its fresh TTL (and marks it recently used), or nullopt.
  std::optional<CachedDecision> GetFresh(const CacheKey& key);
  // For the fail-stale path only (portal failed or breaker open): any verdict still within its stale window —
  // expired ones (fresh == false) and, should one have been stored meanwhile, fresh ones. Counts stale_hits.
  std::optional<CachedDecision> GetStale(const CacheKey& key);

  // Stores the portal's verdict. portal_ttl: the TTL the portal sent, if any; 0 means "do not cache" and removes
  // any entry held for the key. username/groupname are kept for InvalidateUser/InvalidateGroup.
  void Put(const CacheKey& key, std::string_view username, std::string_view groupname, Verdict verdict,
           std::string_view reason, std::optional<Millis> portal_ttl = std::nullopt);

  // Put, but only if no invalidation happened since `started_generation` was read from generation(). Returns
  // whether the verdict may have been stored (false: dropped because of an invalidation).
  bool PutIfGeneration(std::uint64_t started_generation, const CacheKey& key, std::string_view username,
                       std::string_view groupname, Verdict verdict, std::string_view reason,
                       std::optional<Millis> portal_ttl = std::nullopt);
  // Bumped by every invalidation (user, group, all). Read it when a portal call starts.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  bool Erase(const CacheKey& key);
  std::size_t InvalidateUser(std::string_view username);    // exact match: "bob" leaves "bobby"
  std::size_t InvalidateGroup(std::string_view groupname);  // exact match
  std::size_t InvalidateAll();
  // Removes every entry past its stale window (O(max_entries)); returns how many. Optional housekeeping, e.g. once
  // a minute, so that `size` does not count dead entries.
  std::size_t PurgeExpired();

  // The authorizer calls this for each request answered by another request's portal call (single-flight).
  void RecordCoalesced() { coalesced_.fetch_add(1, std::memory_order_relaxed); }

  DecisionCacheStats stats() const;
  std::size_t size() const;
  std::size_t capacity() const { return options_.max_entries; }
  std::size_t shard_count() const { return shard_count_; }

 private:
  struct Entry;
  struct Shard;
  Shard& ShardFor(std::uint64_t hash) const;
  Entry* FindUnexpiredLocked(Shard& shard, const CacheKey& key, std::int64_t now);
  static CachedDecision CachedOf(const Entry& e, std::int64_t now);
  template <class Pred>
  std::size_t RemoveIf(Pred pred, bool count_as_expired = false);
  bool PutImpl(const std::uint64_t* started_generation, const CacheKey& key, std::string_view username,
               std::string_view groupname, Verdict verdict, std::string_view reason,
               std::optional<Millis> portal_ttl);
  void BumpGeneration() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  const DecisionCacheOptions options_;
  const Clock& clock_;
  std::size_t shard_count_ = 1;
  int shard_shift_ = 64;  // shard = hash >> shard_shift_ (0 when one shard)
  std::unique_ptr<Shard[]> shards_;
  // Entries held plus places reserved by Puts in progress; never above max_entries once a Put completes.
  std::atomic<std::size_t> size_{0};
  std::atomic<std::uint64_t> coalesced_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> stale_puts_dropped_{0};
};

}  // namespace oa
