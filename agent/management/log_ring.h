// LogRing: the agent's most recent log lines, kept in memory for StreamLogs. Bounded (oldest lines are dropped), with
// a sequence number per line so that a follower can ask for "everything after the last line I sent" and wait for it.
// Fed by the spdlog sink in log_ring_sink.h; has no spdlog dependency itself.
//
// Thread-safety: every method may be called from any thread; one mutex guards the ring, and waiters sleep on a
// condition variable, so a follower never holds the lock while it writes to the network.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace oa {

struct LogRecord {
  std::uint64_t seq = 0;  // assigned by the ring, strictly increasing from 1
  std::chrono::system_clock::time_point time;
  std::string level;      // "info", "warning", ...
  std::string logger;     // spdlog logger name ("" for the default logger)
  std::string message;
};

class LogRing {
 public:
  explicit LogRing(std::size_t capacity);

  void Append(LogRecord record);

  // Lines at or after `since` (a zero time_point = everything kept), oldest first.
  std::vector<LogRecord> Since(std::chrono::system_clock::time_point since) const;

  // Lines with seq > after_seq; when there are none, waits up to `wait` for one (or for Close()).
  std::vector<LogRecord> After(std::uint64_t after_seq, std::chrono::milliseconds wait) const;

  // Wakes every waiter; later After() calls return at once. For shutdown.
  void Close();

  std::size_t capacity() const { return capacity_; }
  std::uint64_t dropped() const;  // lines pushed out by newer ones

 private:
  std::vector<LogRecord> AfterLocked(std::uint64_t after_seq) const;

  const std::size_t capacity_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<LogRecord> lines_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t dropped_ = 0;
  bool closed_ = false;
};

}  // namespace oa
