// QueuedEventReporter: an EventReporter decorator that takes reports off the decision path. Report* only appends to
// a bounded queue (no gRPC work, no thread wake-up on the IPC loop thread, where a cache hit is answered); one
// background thread hands the queued reports to the wrapped reporter every `flush_every`. Reports are not urgent:
// the portal learns of a session a few tens of milliseconds later. A full queue drops the report (counted in
// stats().dropped, logged at most once a second).
//
// Light header (no gRPC). Thread-safety: every method may be called from any thread; Report* never block.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>

#include "agent/portal/event_reporter.h"

namespace oa {

class QueuedEventReporter final : public EventReporter {
 public:
  QueuedEventReporter(std::unique_ptr<EventReporter> inner, std::size_t max_queued = 4096,
                      std::chrono::milliseconds flush_every = std::chrono::milliseconds(50));
  ~QueuedEventReporter() override;  // Shutdown(0)

  void ReportConnect(ConnectEvent event) override;
  void ReportDisconnect(DisconnectEvent event) override;
  // Hands what is queued to the wrapped reporter, then shuts that down with what is left of `grace`.
  void Shutdown(std::chrono::milliseconds grace) override;
  // The wrapped reporter's figures; `dropped` also counts reports this queue had no room for.
  EventReporterStatsSnapshot stats() const override;

 private:
  using Event = std::variant<ConnectEvent, DisconnectEvent>;
  void Enqueue(Event event);
  void Run();
  void Forward(std::deque<Event>& batch);

  const std::unique_ptr<EventReporter> inner_;
  const std::size_t max_queued_;
  const std::chrono::milliseconds flush_every_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  std::deque<Event> queue_;                             // guarded by mu_
  bool stopping_ = false;                               // guarded by mu_
  std::uint64_t dropped_ = 0;                           // guarded by mu_
  std::chrono::steady_clock::time_point last_drop_warning_{};  // guarded by mu_
  std::thread thread_;
};

}  // namespace oa
