#include "agent/portal/queued_event_reporter.h"

#include <utility>

#include "spdlog/spdlog.h"

namespace oa {

QueuedEventReporter::QueuedEventReporter(std::unique_ptr<EventReporter> inner, std::size_t max_queued,
                                         std::chrono::milliseconds flush_every)
    : inner_(std::move(inner)), max_queued_(max_queued), flush_every_(flush_every) {
  thread_ = std::thread([this] { Run(); });
}

QueuedEventReporter::~QueuedEventReporter() { Shutdown(std::chrono::milliseconds(0)); }

void QueuedEventReporter::ReportConnect(ConnectEvent event) { Enqueue(std::move(event)); }
void QueuedEventReporter::ReportDisconnect(DisconnectEvent event) { Enqueue(std::move(event)); }

void QueuedEventReporter::Enqueue(Event event) {
  std::lock_guard lock(mu_);
  if (stopping_) {
    ++dropped_;
    return;
  }
  if (queue_.size() >= max_queued_) {
    ++dropped_;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_drop_warning_ >= std::chrono::seconds(1)) {
      last_drop_warning_ = now;
      spdlog::warn("portal: session report queue full ({} queued); dropping reports ({} dropped so far)",
                   queue_.size(), dropped_);
    }
    return;
  }
  // No notify: the flusher wakes on its own period, so a report costs the caller one short critical section.
  queue_.push_back(std::move(event));
}

void QueuedEventReporter::Run() {
  std::deque<Event> batch;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, flush_every_, [this] { return stopping_; });
    batch.swap(queue_);
    lock.unlock();
    Forward(batch);
    lock.lock();
  }
}

void QueuedEventReporter::Forward(std::deque<Event>& batch) {
  for (auto& e : batch) {
    if (auto* c = std::get_if<ConnectEvent>(&e)) {
      inner_->ReportConnect(std::move(*c));
    } else {
      inner_->ReportDisconnect(std::move(std::get<DisconnectEvent>(e)));
    }
  }
  batch.clear();
}

void QueuedEventReporter::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::deque<Event> rest;
  {
    std::lock_guard lock(mu_);
    rest.swap(queue_);
  }
  Forward(rest);  // the last reports still go out, within the grace the inner reporter gets
  inner_->Shutdown(grace);
}

EventReporterStatsSnapshot QueuedEventReporter::stats() const {
  EventReporterStatsSnapshot s = inner_->stats();
  std::lock_guard lock(mu_);
  s.dropped += dropped_;
  s.in_flight += queue_.size();
  return s;
}

}  // namespace oa
