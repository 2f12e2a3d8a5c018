#include "common/log_ring.h"

#include <algorithm>
#include <utility>

namespace oa {

LogRing::LogRing(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

void LogRing::Append(LogRecord record) {
  {
    const std::lock_guard lock(mu_);
    record.seq = next_seq_++;
    lines_.push_back(std::move(record));
    while (lines_.size() > capacity_) {
      lines_.pop_front();
      ++dropped_;
    }
  }
  cv_.notify_all();
  NotifyListeners();
}

void LogRing::NotifyListeners() {
  const std::lock_guard lock(listeners_mu_);
  for (auto& [id, listener] : listeners_) listener();
}

std::uint64_t LogRing::last_seq() const {
  const std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

std::uint64_t LogRing::Subscribe(Listener listener) {
  const std::lock_guard lock(listeners_mu_);
  const std::uint64_t id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void LogRing::Unsubscribe(std::uint64_t id) {
  // Taking the mutex also waits for a notification in progress, so the listener's owner may go away afterwards.
  const std::lock_guard lock(listeners_mu_);
  listeners_.erase(id);
}

std::vector<LogRecord> LogRing::Since(std::chrono::system_clock::time_point since) const {
  const std::lock_guard lock(mu_);
  std::vector<LogRecord> out;
  for (const auto& r : lines_) {
    if (r.time >= since) out.push_back(r);
  }
  return out;
}

std::vector<LogRecord> LogRing::AfterLocked(std::uint64_t after_seq) const {
  std::vector<LogRecord> out;
  // seq is contiguous inside the deque, so the first wanted line is found by arithmetic.
  if (lines_.empty() || lines_.back().seq <= after_seq) return out;
  const std::uint64_t first = lines_.front().seq;
  const std::size_t skip = after_seq < first ? 0 : static_cast<std::size_t>(after_seq - first + 1);
  out.assign(lines_.begin() + static_cast<std::ptrdiff_t>(skip), lines_.end());
  return out;
}

std::vector<LogRecord> LogRing::After(std::uint64_t after_seq, std::chrono::milliseconds wait) const {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return closed_ || (!lines_.empty() && lines_.back().seq > after_seq); });
  return AfterLocked(after_seq);
}

void LogRing::Close() {
  {
    const std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  NotifyListeners();
}

std::uint64_t LogRing::dropped() const {
  const std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace oa
