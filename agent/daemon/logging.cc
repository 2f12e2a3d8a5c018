#include "agent/daemon/logging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "agent/daemon/audit_json.h"
#include "common/utf8.h"

namespace oa {
namespace {

// %* in the JSON pattern: the message as its "msg" member, with JSON string escaping (spdlog's %v writes it raw, and
// a user name or a portal reason may contain quotes, backslashes, control characters or bytes that are not UTF-8 —
// JSON must be). An audit line's fields become members of their own ("msg":"decision","user":"alice",…:
// audit_json.h).
class JsonMessageMembers final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string sanitized;
    if (!IsValidUtf8(payload)) {
      sanitized.assign(payload);
      SanitizeUtf8(&sanitized);  // each stray byte becomes '?'
      payload = sanitized;
    }
    std::string members;
    if (auto audit = AuditLineJsonMembers(payload)) {
      members = std::move(*audit);
    } else {
      members = "\"msg\":\"";
      AppendJsonEscaped(payload, &members);
      members += '"';
    }
    dest.append(members.data(), members.data() + members.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageMembers>(); }
};

// %N: the line's syslog priority as sd-daemon(3) reads it at the start of a line ("<4>" for a warning), so that
// journald files each line at its real priority and `journalctl -p warning` shows fail-open and fail-close.
class SyslogPriorityPrefix final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const char prefix[] = {'<', PriorityDigit(msg.level), '>'};
    dest.append(prefix, prefix + sizeof prefix);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriorityPrefix>(); }

 private:
  static char PriorityDigit(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::critical: return '2';  // LOG_CRIT
      case spdlog::level::err: return '3';       // LOG_ERR
      case spdlog::level::warn: return '4';      // LOG_WARNING
      case spdlog::level::info: return '6';      // LOG_INFO
      default: return '7';                       // LOG_DEBUG (debug, trace)
    }
  }
};

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return spdlog::level::trace;
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
    case LogLevel::kCritical: return spdlog::level::critical;
    case LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

// systemd sets JOURNAL_STREAM to "<device>:<inode>" of the stream it connects to stderr; it is ours only if fd 2 is
// still that stream (a child of a journald-run process inherits the variable with stderr redirected elsewhere).
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

// Under journald each line starts with its priority and carries no timestamp of its own (the journal stamps every
// line; a second one only makes `journalctl` output wider).
std::unique_ptr<spdlog::formatter> MakeFormatter(LogFormat format) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<JsonMessageMembers>('*');
  f->add_flag<SyslogPriorityPrefix>('N');
  const bool journal = StderrIsJournal();
  if (format == LogFormat::kJson) {
    f->set_pattern(journal ? R"(%N{"level":"%l","logger":"%n",%*})"
                           : R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n",%*})");
  } else {
    f->set_pattern(journal ? "%N%l: %v" : "%Y-%m-%d %H:%M:%S.%e %l: %v");
  }
  return f;
}

std::shared_ptr<spdlog::logger> EnsureLogger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("ocserv-agent", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    spdlog::set_default_logger(l);
    return l;
  }();
  return logger;
}

}  // namespace

void InitBootstrapLogging() {
  auto logger = EnsureLogger();
  logger->set_formatter(MakeFormatter(LogFormat::kText));
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
}

void ConfigureLogging(const LoggingOptions& options) {
  auto logger = EnsureLogger();
  logger->set_formatter(MakeFormatter(options.format));
  logger->set_level(ToSpdlog(options.level));
}

}  // namespace oa
