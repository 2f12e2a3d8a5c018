#include "agent/management/process_runner.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

const Clock& Real() { return SystemClock::instance(); }

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
  const auto start = std::chrono::steady_clock::now();
  // The shell's child `sleep` holds stdout open: it must die too, or we would wait for it.
  auto r = RunProcess({"/bin/sh", "-c", "sleep 30; echo never"}, {std::chrono::milliseconds(300), 1024}, Real());
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
  EXPECT_LT(took, std::chrono::seconds(5));
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
