// DelayQueue: runs small tasks at a later time on one thread, so that the sim's added latency holds no thread per
// call. Real time by nature: it injects real latency into a real server (tests of the agent use FakeClock instead).
// Thread-safety: Schedule may be called from any thread; tasks run one at a time on the queue's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace oa::sim {

class DelayQueue {
 public:
  using Time = std::chrono::steady_clock::time_point;

  DelayQueue() : thread_([this] { Run(); }) {}
  ~DelayQueue() { Stop(); }

  // Queues `task` for `when`. After Stop() nothing is queued any more: the task runs at once, on the caller.
  void Schedule(Time when, std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (!stopping_) {
        queue_.push(Item{when, seq_++, std::move(task)});
        wake_.notify_one();
        return;
      }
    }
    task();
  }

  // Runs every task still queued at once (they learn nothing of it), then joins the thread. Idempotent.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      wake_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Item {
    Time when;
    unsigned long long seq;  // keeps tasks with one deadline in FIFO order
    std::function<void()> task;
    bool operator>(const Item& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };

  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      if (queue_.empty()) {
        if (stopping_) return;
        wake_.wait(lock);
        continue;
      }
      // A copy: wait_until reads its deadline while the lock is released and a Schedule() may move the heap.
      const Time next = queue_.top().when;
      if (!stopping_ && std::chrono::steady_clock::now() < next) {
        wake_.wait_until(lock, next);
        continue;
      }
      auto task = std::move(const_cast<Item&>(queue_.top()).task);
      queue_.pop();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> queue_;
  unsigned long long seq_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace oa::sim
