#include "agent/authorizer/timer_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace oa::testing {
namespace {

// TimerThread is the one real-time component here: the test only checks order and that a due task runs, with a
// generous bound, never a tight timing.
TEST(TimerThreadTest, RunsTasksInTimeOrder) {
  TimerThread timer;
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> last;
  const auto now = std::chrono::steady_clock::now();
  timer.RunAt(now + std::chrono::milliseconds(30), [&] {
    std::lock_guard l(mu);
    order.push_back(2);
    last.set_value();
  });
  timer.RunAt(now + std::chrono::milliseconds(10), [&] {
    std::lock_guard l(mu);
    order.push_back(1);
  });
  ASSERT_EQ(last.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  std::lock_guard l(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(TimerThreadTest, StopDropsTasksNotYetDue) {
  std::atomic<bool> ran{false};
  {
    TimerThread timer;
    timer.RunAt(std::chrono::steady_clock::now() + std::chrono::hours(1), [&] { ran = true; });
    timer.Stop();
    timer.RunAt(std::chrono::steady_clock::now(), [&] { ran = true; });
  }
  EXPECT_FALSE(ran.load());
}

}  // namespace
}  // namespace oa::testing
