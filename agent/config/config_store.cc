#include "agent/config/config_store.h"

#include <cassert>
#include <utility>

namespace oa {

ConfigStore::ConfigStore(std::shared_ptr<const Config> initial) : current_(std::move(initial)) {
  assert(current_ != nullptr);
  record_.last_success = std::chrono::system_clock::now();
}

std::shared_ptr<const Config> ConfigStore::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::uint64_t ConfigStore::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

std::uint64_t ConfigStore::Replace(std::shared_ptr<const Config> next) {
  assert(next != nullptr);
  std::shared_ptr<const Config> old;  // declared before the lock: the old Config is freed after the unlock
  std::lock_guard<std::mutex> lock(mu_);
  old = std::exchange(current_, std::move(next));
  record_.last_successful = true;
  record_.last_success = std::chrono::system_clock::now();
  ++record_.applied;
  return ++generation_;
}

void ConfigStore::RecordRejectedReload() {
  std::lock_guard<std::mutex> lock(mu_);
  record_.last_successful = false;
  ++record_.rejected;
}

ConfigLoadRecord ConfigStore::load_record() const {
  std::lock_guard<std::mutex> lock(mu_);
  return record_;
}

}  // namespace oa
