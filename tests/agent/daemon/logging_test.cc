// The daemon's logging as configured: the level filters, and JSON lines stay valid JSON strings whatever the message
// holds (quotes, backslashes, newlines, control characters, bytes that are not UTF-8). stderr is redirected to a file
// for the test's duration.
#include "agent/daemon/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "temp_dir.h"

namespace oa {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs `body` with fd 2 pointing at a file and returns what was written there.
template <class F>
std::string CaptureStderr(const testing::TempDir& dir, F body) {
  const std::string path = dir.path() + "/stderr.txt";
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int saved = ::dup(STDERR_FILENO);
  std::fflush(stderr);
  ::dup2(file, STDERR_FILENO);
  body();
  spdlog::default_logger()->flush();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(file);
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(LoggingTest, TheConfiguredLevelFilters) {
  testing::TempDir dir;
  const std::string out = CaptureStderr(dir, [] {
    ConfigureLogging(LoggingOptions{LogLevel::kWarn, LogFormat::kText});
    spdlog::info("an info line");
    spdlog::warn("a warning line");
  });
  EXPECT_THAT(out, Not(HasSubstr("an info line")));
  EXPECT_THAT(out, HasSubstr("warning: a warning line"));
  ConfigureLogging(LoggingOptions{});
}

TEST(LoggingTest, JsonLinesEscapeWhateverTheMessageHolds) {
  testing::TempDir dir;
  const std::string out = CaptureStderr(dir, [] {
    ConfigureLogging(LoggingOptions{LogLevel::kInfo, LogFormat::kJson});
    spdlog::info("user \"bob\" said a\\b\nsecond line\x01 and \xff\xfe end");
  });
  ConfigureLogging(LoggingOptions{});  // back to the defaults for whatever runs next in this process
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;  // one line: the newline was escaped
  EXPECT_THAT(out, HasSubstr(R"("msg":"user \"bob\" said a\\b\nsecond line\u0001 and ?? end")")) << out;
  EXPECT_THAT(out, ::testing::StartsWith(R"({"time":")"));
}

// What systemd does for a service whose stderr goes to the journal: JOURNAL_STREAM names that stream's device:inode.
// The formatter is chosen when logging is configured, so the variable is set inside the capture.
template <class F>
std::string CaptureAsJournal(const testing::TempDir& dir, F body) {
  return CaptureStderr(dir, [&] {
    struct stat st {};
    ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
    const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
    body();
    ::unsetenv("JOURNAL_STREAM");
  });
}

TEST(LoggingTest, UnderJournaldEachLineCarriesItsPriorityAndNoTimestamp) {
  testing::TempDir dir;
  const std::string out = CaptureAsJournal(dir, [] {
    ConfigureLogging(LoggingOptions{LogLevel::kDebug, LogFormat::kText});
    spdlog::debug("d");
    spdlog::info("i");
    spdlog::warn("w");
    spdlog::error("e");
    spdlog::critical("c");
  });
  ConfigureLogging(LoggingOptions{});
  EXPECT_EQ(out, "<7>debug: d\n<6>info: i\n<4>warning: w\n<3>error: e\n<2>critical: c\n");
}

TEST(LoggingTest, UnderJournaldJsonLinesCarryThePriorityBeforeTheObject) {
  testing::TempDir dir;
  const std::string out = CaptureAsJournal(dir, [] {
    ConfigureLogging(LoggingOptions{LogLevel::kInfo, LogFormat::kJson});
    spdlog::warn("fail-open");
  });
  ConfigureLogging(LoggingOptions{});
  EXPECT_EQ(out, R"(<4>{"level":"warning","logger":"ocserv-agent","msg":"fail-open"})" "\n");
}

TEST(LoggingTest, AJournalStreamThatIsNotOurStderrChangesNothing) {
  testing::TempDir dir;
  ::setenv("JOURNAL_STREAM", "1:1", 1);  // inherited from a parent whose stderr was the journal; ours is a file
  const std::string out = CaptureStderr(dir, [] {
    ConfigureLogging(LoggingOptions{LogLevel::kInfo, LogFormat::kText});
    spdlog::warn("w");
  });
  ::unsetenv("JOURNAL_STREAM");
  ConfigureLogging(LoggingOptions{});
  EXPECT_THAT(out, Not(HasSubstr("<4>")));
  EXPECT_THAT(out, HasSubstr(" warning: w"));
}

}  // namespace
}  // namespace oa
