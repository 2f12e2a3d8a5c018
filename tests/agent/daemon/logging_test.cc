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

#include "agent/authorizer/audit_log.h"
#include "agent/daemon/audit_json.h"
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

// logging.format: json puts the audit lines' fields in JSON fields of their own (numbers as numbers), not in the
// message string: the decision line as the IPC server writes it, a session line from the audit writer, a management
// audit line. Values that try to forge a line or a field stay one JSON string. Other lines keep "msg" only.
TEST(LoggingTest, JsonAuditLinesCarryTheirFieldsAsJsonFields) {
  testing::TempDir dir;
  const std::string out = CaptureAsJournal(dir, [] {
    ConfigureLogging(LoggingOptions{LogLevel::kInfo, LogFormat::kJson});
    // ipc/ipc_server.cc's format, verbatim.
    spdlog::warn("decision user={:?} group={:?} ip={:?} id={:?} verdict={} source={} latency_ms={:.3f} reason={:?} "
                 "request_id={:?}",
                 std::string("al\"ice\n verdict=allow"), std::string(""), std::string("10.0.0.2"), std::string("12"),
                 "allow", "fail_open", 0.8121, std::string("portal down"), std::string("r-\xc3\xa9"));
    IpcRequest r;
    r.reason = IpcReason::kDisconnect;
    r.id = "12";
    r.username = "bob";
    r.ip_real = "10.0.0.3";
    r.ip_remote = "192.168.1.7";
    r.stats_bytes_in = 100;
    r.stats_bytes_out = 2000;
    r.stats_duration = 30;
    SessionRecord admitted;
    admitted.admitted_by = DecisionSource::kCache;
    LogSessionEvent(r, admitted);
    spdlog::info(R"(management audit: identity=portal-admin role=admin rpc=/vpn.v1.AgentControl/Revoke result=OK )"
                 R"(user="carol\x0a" reason="")");
    spdlog::info("decision cache: 3 entries dropped");  // not an audit line: the message as it is
  });
  ConfigureLogging(LoggingOptions{});
  EXPECT_EQ(out,
            R"(<4>{"level":"warning","logger":"ocserv-agent","msg":"decision","user":"al\"ice\n verdict=allow",)"
            R"("group":"","ip":"10.0.0.2","id":"12","verdict":"allow","source":"fail_open","latency_ms":0.812,)"
            R"("reason":"portal down","request_id":"r-)" "\xc3\xa9" R"("})" "\n"
            R"(<6>{"level":"info","logger":"ocserv-agent","msg":"session disconnect","id":"12","user":"bob",)"
            R"("group":"","ip":"10.0.0.3","vpn_ip":"192.168.1.7","bytes_in":100,"bytes_out":2000,"duration_s":30,)"
            R"("admitted_by":"cache"})" "\n"
            R"(<6>{"level":"info","logger":"ocserv-agent","msg":"management audit","identity":"portal-admin",)"
            R"("role":"admin","rpc":"/vpn.v1.AgentControl/Revoke","result":"OK","user":"carol\u000a","reason":""})"
            "\n"
            R"(<6>{"level":"info","logger":"ocserv-agent","msg":"decision cache: 3 entries dropped"})" "\n");
}

// What is not exactly an audit line is left to the caller, who writes it as the plain message: nothing is lost.
TEST(AuditJson, OnlyWellFormedAuditLinesBecomeFields) {
  EXPECT_EQ(AuditLineJsonMembers(R"(session host-update id="1" bytes_in=0 duration_s=007)"),
            R"("msg":"session host-update","id":"1","bytes_in":0,"duration_s":"007")");
  EXPECT_EQ(AuditLineJsonMembers(R"(decision user="\U0001f600\u00e9\'")"),
            R"("msg":"decision","user":"\ud83d\ude00\u00e9'")");
  EXPECT_EQ(AuditLineJsonMembers("decision"), std::nullopt);                          // no fields
  EXPECT_EQ(AuditLineJsonMembers("decision made for 3 users"), std::nullopt);         // prose
  EXPECT_EQ(AuditLineJsonMembers(R"(decision user="x" msg="y")"), std::nullopt);      // would clash with "msg"
  EXPECT_EQ(AuditLineJsonMembers(R"(decision user="x\q")"), std::nullopt);            // unknown escape
  EXPECT_EQ(AuditLineJsonMembers(R"(decision user="x)"), std::nullopt);               // unterminated
  EXPECT_EQ(AuditLineJsonMembers(R"(decision user="x"verdict=allow)"), std::nullopt); // no space after the value
  EXPECT_EQ(AuditLineJsonMembers("ipc: listening on /run/x"), std::nullopt);          // not an audit event
}

// The text format is unchanged by it: the audit line is the message as written.
TEST(LoggingTest, TextAuditLinesStayAsWritten) {
  testing::TempDir dir;
  const std::string out = CaptureAsJournal(dir, [] {
    ConfigureLogging(LoggingOptions{LogLevel::kInfo, LogFormat::kText});
    spdlog::info("decision user={:?} verdict={} latency_ms={:.3f}", std::string("a\"b"), "deny", 1.0);
  });
  ConfigureLogging(LoggingOptions{});
  EXPECT_EQ(out, "<6>info: decision user=\"a\\\"b\" verdict=deny latency_ms=1.000\n");
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
