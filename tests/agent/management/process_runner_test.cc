#include "agent/management/process_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace oa {
namespace {

const Clock& Real() { return SystemClock::instance(); }

std::string TempPath(const char* stem) {
  return "/tmp/oa-proc-" + std::string(stem) + "-" + std::to_string(::getpid());
}

// True once `pid` is gone or a zombie waiting for its reaper (it runs nothing any more). SIGKILL is delivered
// asynchronously, so give it a moment.
bool ProcessIsDead(pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ProcessRunner, CapturesStdoutStderrAndExitCode) {
  auto r = RunProcess({"/bin/sh", "-c", "echo out; echo err >&2; exit 7"}, {}, Real());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_text, "out\n");
  EXPECT_EQ(r->stderr_text, "err\n");
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_FALSE(r->timed_out);
}

TEST(ProcessRunner, ArgumentsAreNotInterpretedByAShell) {
  auto r = RunProcess({"/bin/echo", "a;b", "$(id)", "`id`", "|"}, {}, Real());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_text, "a;b $(id) `id` |\n");
}

TEST(ProcessRunner, EnvironmentIsMinimal) {
  ::setenv("OA_SECRET_FOR_TEST", "leak", 1);
  auto r = RunProcess({"/usr/bin/env"}, {}, Real());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_text.find("OA_SECRET_FOR_TEST"), std::string::npos);
  EXPECT_NE(r->stdout_text.find("PATH="), std::string::npos);
}

TEST(ProcessRunner, KillsTheWholeGroupAtTheDeadline) {
  const std::string pid_file = TempPath("grandchild");
  std::remove(pid_file.c_str());
  const auto start = std::chrono::steady_clock::now();
  // The grandchild (an inner shell that records its pid, then becomes `sleep`) holds stdout open: it must die too,
  // or it would outlive the call. The outer shell waits for it, so it is not the one that execs.
  auto r = RunProcess({"/bin/sh", "-c", "/bin/sh -c 'echo $$ > " + pid_file + "; exec sleep 30'; echo never"},
                      {std::chrono::milliseconds(500), 1024}, Real());
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
  EXPECT_LT(took, std::chrono::seconds(5));
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  std::remove(pid_file.c_str());
  ASSERT_GT(grandchild, 1) << "the grandchild did not start in time";
  EXPECT_TRUE(ProcessIsDead(grandchild)) << "grandchild " << grandchild << " survived the kill";
  if (!ProcessIsDead(grandchild)) ::kill(grandchild, SIGKILL);
}

// A child that writes as fast as we read must not keep us reading past the deadline.
TEST(ProcessRunner, AFloodingChildIsStillKilledAtTheDeadline) {
  const auto start = std::chrono::steady_clock::now();
  auto r = RunProcess({"/bin/sh", "-c", "yes >&2 & exec yes"}, {std::chrono::milliseconds(300), 1 << 20}, Real());
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
  EXPECT_TRUE(r->output_truncated);
  EXPECT_EQ(r->stdout_text.size(), 1u << 20);
  EXPECT_GE(took, std::chrono::milliseconds(250));  // the deadline is kept to the millisecond, not beyond
  EXPECT_LT(took, std::chrono::seconds(3)) << "returned long after the 300 ms deadline";
}

// Only 0, 1 and 2 reach the child: not the agent's sockets, not a descriptor another thread opened without
// O_CLOEXEC.
TEST(ProcessRunner, NoDescriptorLeaksIntoTheChild) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 0);
  ASSERT_EQ(::dup2(leaked, 100), 100);
  auto r = RunProcess({"/bin/ls", "/proc/self/fd"}, {}, Real());
  ::close(leaked);
  ::close(100);
  ASSERT_TRUE(r.ok());
  // ls opens the directory it lists: on the lowest free descriptor, 3, when nothing leaked.
  EXPECT_TRUE(r->stdout_text == "0\n1\n2\n" || r->stdout_text == "0\n1\n2\n3\n") << r->stdout_text;
}

// stdout and stderr go into proto3 string fields, which must be valid UTF-8.
TEST(ProcessRunner, OutputIsValidUtf8) {
  auto r = RunProcess({"/usr/bin/printf", "ok \\377\\376 \\303\\251 \\355\\240\\200 end"}, {}, Real());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_text, "ok ?? \xc3\xa9 ??? end") << "invalid bytes (and a surrogate) become '?', UTF-8 stays";
}

TEST(ProcessRunner, TheCapCutsAtACharacterBoundary) {
  // "abc" + U+00E9 (2 bytes) + U+20AC (3 bytes): a 5-byte cap falls inside the euro sign.
  auto r = RunProcess({"/usr/bin/printf", "abc\\303\\251\\342\\202\\254xyz"}, {std::chrono::seconds(10), 6},
                      Real());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->output_truncated);
  EXPECT_EQ(r->stdout_text, "abc\xc3\xa9") << "the euro sign is dropped whole, not turned into '?'";
}

TEST(ProcessRunner, OutputIsCapped) {
  auto r = RunProcess({"/bin/sh", "-c", "head -c 100000 /dev/zero"}, {std::chrono::seconds(10), 1000}, Real());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_text.size(), 1000u);
  EXPECT_TRUE(r->output_truncated);
  EXPECT_EQ(r->exit_code, 0);
}

TEST(ProcessRunner, MissingProgramAndRelativePathAreErrors) {
  EXPECT_FALSE(RunProcess({"/nonexistent/occtl"}, {}, Real()).ok());
  EXPECT_EQ(RunProcess({"occtl"}, {}, Real()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(RunProcess({}, {}, Real()).ok());
}

}  // namespace
}  // namespace oa
