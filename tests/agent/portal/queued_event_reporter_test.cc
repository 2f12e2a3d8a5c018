// QueuedEventReporter: reports leave the caller's thread through a bounded queue and reach the wrapped reporter in
// order; a full queue drops and counts; Shutdown still forwards what was queued, then shuts the wrapped one down.
#include "agent/portal/queued_event_reporter.h"

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace oa {
namespace {

using namespace std::chrono_literals;

class RecordingReporter final : public EventReporter {
 public:
  void ReportConnect(ConnectEvent e) override {
    std::lock_guard lock(mu_);
    seen_.push_back("connect " + e.username);
  }
  void ReportDisconnect(DisconnectEvent e) override {
    std::lock_guard lock(mu_);
    seen_.push_back("disconnect " + e.username + " " + std::to_string(e.bytes_received));
  }
  void Shutdown(std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    ++shutdowns_;
  }
  EventReporterStatsSnapshot stats() const override {
    std::lock_guard lock(mu_);
    EventReporterStatsSnapshot s;
    s.sent = seen_.size();
    return s;
  }
  std::vector<std::string> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  int shutdowns() const {
    std::lock_guard lock(mu_);
    return shutdowns_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> seen_;
  int shutdowns_ = 0;
};

ConnectEvent Connect(const std::string& user) {
  ConnectEvent e;
  e.username = user;
  return e;
}

TEST(QueuedEventReporterTest, ForwardsInOrderFromItsOwnThread) {
  auto inner = std::make_unique<RecordingReporter>();
  RecordingReporter* rec = inner.get();
  QueuedEventReporter q(std::move(inner), 16, 1ms);
  q.ReportConnect(Connect("alice"));
  DisconnectEvent bye;
  bye.username = "alice";
  bye.bytes_received = 7;
  q.ReportDisconnect(bye);
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (rec->seen().size() < 2 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  EXPECT_EQ(rec->seen(), (std::vector<std::string>{"connect alice", "disconnect alice 7"}));
}

TEST(QueuedEventReporterTest, AFullQueueDropsAndCountsAndShutdownForwardsTheRest) {
  auto inner = std::make_unique<RecordingReporter>();
  RecordingReporter* rec = inner.get();
  QueuedEventReporter q(std::move(inner), 3, std::chrono::hours(1));  // never flushes on its own here
  for (const char* u : {"a", "b", "c", "d", "e"}) q.ReportConnect(Connect(u));
  EXPECT_TRUE(rec->seen().empty());
  EXPECT_EQ(q.stats().dropped, 2u);
  EXPECT_EQ(q.stats().in_flight, 3u);  // queued
  q.Shutdown(0ms);
  EXPECT_EQ(rec->seen(), (std::vector<std::string>{"connect a", "connect b", "connect c"}));
  EXPECT_EQ(rec->shutdowns(), 1);
  q.ReportConnect(Connect("late"));  // after shutdown: dropped, never forwarded
  EXPECT_EQ(q.stats().dropped, 3u);
  q.Shutdown(0ms);  // idempotent
  EXPECT_EQ(rec->shutdowns(), 1);
  EXPECT_EQ(rec->seen().size(), 3u);
}

}  // namespace
}  // namespace oa
