// LogRing: the agent's most recent log lines, kept in memory for StreamLogs. Bounded (oldest lines are dropped), with
// a sequence number per line so that a follower can ask for "everything after the last line I sent" and wait for it.
// Fed by the spdlog sink in log_ring_sink.h; has no spdlog dependency itself.
//
// Thread-safety: every method may be called from any thread; one mutex guards the ring, and waiters sleep on a
// condition variable, so a follower never holds the lock while it writes to the network. Listeners (Subscribe) are
// called after the ring's lock is released, under a second mutex that only Subscribe/Unsubscribe also take: a
// listener must return at once (schedule work, never wait for a client) and must not log or touch the subscription.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
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

  // The seq of the newest line (0 when none was ever appended).
  std::uint64_t last_seq() const;

  // `listener` is called after every Append (and on Close) on the appending thread, until Unsubscribe(id) returns;
  // it is never called after that. For followers that must not hold a thread while they wait (StreamLogs).
  using Listener = std::function<void()>;
  std::uint64_t Subscribe(Listener listener);
  void Unsubscribe(std::uint64_t id);

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

  void NotifyListeners();
  std::mutex listeners_mu_;  // never held together with mu_
  std::map<std::uint64_t, Listener> listeners_;
  std::uint64_t next_listener_ = 1;
};

}  // namespace oa
