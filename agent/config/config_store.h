// Holds the running configuration. Components call Current() when they need settings and keep the returned
// shared_ptr for as long as they use it: a reload swaps in a whole new Config atomically (never a half-updated one)
// while readers of the old one finish undisturbed. `generation` counts successful loads (1 = the first).
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include "agent/config/config.h"

namespace oa {

// How the file was last loaded, for the config_last_reload_* metrics. The start counts as a successful load.
struct ConfigLoadRecord {
  bool last_successful = true;
  std::chrono::system_clock::time_point last_success{};
  std::uint64_t applied = 0;   // reloads that replaced the config
  std::uint64_t rejected = 0;  // reloads refused (invalid file)
};

class ConfigStore {
 public:
  explicit ConfigStore(std::shared_ptr<const Config> initial);

  std::shared_ptr<const Config> Current() const;
  std::uint64_t generation() const;

  // Makes `next` the running config and returns its generation. `next` must be non-null (a rejected reload never
  // reaches the store).
  std::uint64_t Replace(std::shared_ptr<const Config> next);

  // A reload whose file was invalid: the running config stays, the load record says the last attempt failed.
  void RecordRejectedReload();
  ConfigLoadRecord load_record() const;

 private:
  // A mutex rather than std::atomic<std::shared_ptr>: reads are rare (once per reload per component, or per
  // request at most) and this keeps ThreadSanitizer able to reason about it.
  mutable std::mutex mu_;
  std::shared_ptr<const Config> current_;
  std::uint64_t generation_ = 1;
  ConfigLoadRecord record_;
};

}  // namespace oa
