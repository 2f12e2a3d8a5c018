#include "resilience/cache_key.h"

#include <xxhash.h>

#include <bitset>

#include "absl/status/status.h"

namespace oa {
namespace {

constexpr std::array<std::string_view, kKeyFieldCount> kFieldNames = {
    "username", "groupname", "vhost", "ip_real", "ip_real_local",
    "device", "user_agent", "hostname", "device_type", "device_platform",
};

void AppendLength(std::string& out, std::size_t n) {
  const auto v = static_cast<std::uint32_t>(n);
  const char bytes[4] = {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff),
                         static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 24) & 0xff)};
  out.append(bytes, 4);
}

}  // namespace

std::uint64_t Xxh3Hash(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::string_view to_string(KeyField f) { return kFieldNames[static_cast<std::size_t>(f)]; }

std::optional<KeyField> ParseKeyField(std::string_view name) {
  for (std::size_t i = 0; i < kFieldNames.size(); ++i) {
    if (kFieldNames[i] == name) return static_cast<KeyField>(i);
  }
  return std::nullopt;
}

absl::StatusOr<CacheKeyBuilder> CacheKeyBuilder::Create(const std::vector<std::string>& field_names,
                                                        KeyHasher hasher) {
  if (field_names.empty()) return absl::InvalidArgumentError("cache.key_fields: must name at least one field");
  if (hasher == nullptr) return absl::InvalidArgumentError("cache key hasher must not be null");
  std::vector<KeyField> fields;
  std::bitset<kKeyFieldCount> seen;
  for (const auto& name : field_names) {
    const auto f = ParseKeyField(name);
    if (!f) {
      std::string known;
      for (auto n : kFieldNames) known.append(known.empty() ? "" : ", ").append(n);
      return absl::InvalidArgumentError("cache.key_fields: unknown field \"" + name + "\" (known: " + known + ")");
    }
    if (seen.test(static_cast<std::size_t>(*f))) {
      return absl::InvalidArgumentError("cache.key_fields: field \"" + name + "\" listed twice");
    }
    seen.set(static_cast<std::size_t>(*f));
    fields.push_back(*f);
  }
  return CacheKeyBuilder(std::move(fields), hasher);
}

CacheKey CacheKeyBuilder::Build(const KeyFieldValues& values) const {
  std::size_t size = 0;
  for (auto f : fields_) size += 4 + values[f].size();
  std::string bytes;
  bytes.reserve(size);
  for (auto f : fields_) {
    const std::string_view v = values[f];
    AppendLength(bytes, v.size());
    bytes.append(v);
  }
  const std::uint64_t hash = hasher_(bytes);
  return CacheKey(std::move(bytes), hash);
}

}  // namespace oa
