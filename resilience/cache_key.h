// CacheKey / CacheKeyBuilder: the decision cache's key, built from the configured request fields
// (`resilience.cache.key_fields`, default username, groupname, vhost, ip_real).
//
// The encoding is canonical and unambiguous: for each configured field, in the configured order, a 4-byte
// little-endian length followed by the bytes. So ("ab","c") and ("a","bc") differ, and an empty field differs from
// a shifted one. The key keeps these bytes; the cache compares them on every hit, so a hash collision can never
// return another user's verdict. The hash (XXH3-64 by default) only picks the shard and bucket; it is injectable so
// that tests can force collisions.
//
// Thread-safety: a built CacheKeyBuilder is immutable and may be shared by any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace oa {

using KeyHasher = std::uint64_t (*)(std::string_view bytes);

// XXH3-64, seed 0.
std::uint64_t Xxh3Hash(std::string_view bytes);

// The request fields a key may be built from (names as in the config file and as ocserv's variables, lower-cased).
enum class KeyField : std::uint8_t {
  kUsername,
  kGroupname,
  kVhost,
  kIpReal,
  kIpRealLocal,
  kDevice,
  kUserAgent,
  kHostname,
  kDeviceType,
  kDevicePlatform,
};
inline constexpr std::size_t kKeyFieldCount = 10;

std::string_view to_string(KeyField f);
std::optional<KeyField> ParseKeyField(std::string_view name);

// The values of one request, by field. Views: they must outlive the Build call only.
struct KeyFieldValues {
  std::array<std::string_view, kKeyFieldCount> values{};

  std::string_view& operator[](KeyField f) { return values[static_cast<std::size_t>(f)]; }
  std::string_view operator[](KeyField f) const { return values[static_cast<std::size_t>(f)]; }
};

class CacheKey {
 public:
  CacheKey() = default;
  // For tests and for callers with their own encoding: any bytes with any hash.
  CacheKey(std::string bytes, std::uint64_t hash) : bytes_(std::move(bytes)), hash_(hash) {}

  const std::string& bytes() const { return bytes_; }
  std::uint64_t hash() const { return hash_; }

  friend bool operator==(const CacheKey& a, const CacheKey& b) { return a.hash_ == b.hash_ && a.bytes_ == b.bytes_; }

 private:
  std::string bytes_;
  std::uint64_t hash_ = 0;
};

class CacheKeyBuilder {
 public:
  // Fails with InvalidArgument naming the field when a name is unknown, repeated, or the list is empty.
  static absl::StatusOr<CacheKeyBuilder> Create(const std::vector<std::string>& field_names,
                                                KeyHasher hasher = &Xxh3Hash);

  CacheKey Build(const KeyFieldValues& values) const;

  const std::vector<KeyField>& fields() const { return fields_; }

 private:
  CacheKeyBuilder(std::vector<KeyField> fields, KeyHasher hasher) : fields_(std::move(fields)), hasher_(hasher) {}

  std::vector<KeyField> fields_;
  KeyHasher hasher_;
};

}  // namespace oa
