// common/thread_priority.h and its use by the outbox writer: the nice value lands on the one thread that asked
// (Linux keeps it per thread), never on the process.
#include "common/thread_priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "events/outbox.h"
#include "fake_clock.h"
#include "temp_dir.h"

namespace oa {
namespace {

int NiceOf(pid_t tid) { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid)); }
pid_t ThisTid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// How many of this process's threads run at `nice` (field 19 of /proc/self/task/TID/stat).
int ThreadsAtNice(int nice) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(entry.path() / "stat");
    std::string text;
    std::getline(in, text);
    std::istringstream rest(text.substr(text.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && rest >> field; ++i) {
      if (i == 19 && std::stoi(field) == nice) ++n;
    }
  }
  return n;
}

TEST(ThreadPriorityTest, NicesOnlyTheCallingThread) {
  const int before = NiceOf(ThisTid());
  bool ok = false;
  int inside = 0;
  std::thread t([&] {
    ok = NiceThisThread(10);
    inside = NiceOf(ThisTid());
  });
  t.join();
  // Lowering is always allowed; only a process already above nice 10 without CAP_SYS_NICE could be refused.
  EXPECT_TRUE(ok || before > 10);
  EXPECT_EQ(inside, ok ? 10 : before);
  EXPECT_EQ(NiceOf(ThisTid()), before) << "the other threads keep their priority";
}

TEST(ThreadPriorityTest, TheOutboxWriterRunsAtItsNiceValue) {
  ASSERT_LT(NiceOf(ThisTid()), 7) << "run the test below nice 7: the writer must be told apart";
  testing::TempDir dir;
  testing::FakeClock clock;
  const int before = ThreadsAtNice(7);
  OutboxOptions o;
  o.path = dir / "outbox.db";
  o.writer_nice = 7;
  Outbox outbox(o, clock);
  SessionEvent e;
  e.kind = SessionEventKind::kConnect;
  e.username = "a";
  e.session_id = "1";
  outbox.Append(e);
  outbox.Flush();  // the writer has committed it, so it is past its first lines
  EXPECT_EQ(ThreadsAtNice(7), before + 1);
}

}  // namespace
}  // namespace oa
