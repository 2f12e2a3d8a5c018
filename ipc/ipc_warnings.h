// The IPC server's rate-limited warnings: one limiter slot per kind of bad peer or failure, so that a flood of one
// kind neither floods the log nor hides the other kinds (common/warn_limiter.h). The counters still see every event.
// Included by the loop (ipc_server.cc) and the connection (ipc_connection.cc) only: it pulls in spdlog.
//
// Thread-safety: none; the loop thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/warn_limiter.h"
#include "resilience/clock.h"

namespace oa {

enum IpcWarnKind : std::size_t {
  kWarnRefusedUid, kWarnTooMany, kWarnAccept, kWarnZeroLen, kWarnOversize, kWarnTruncated, kWarnEmpty, kWarnGarbage,
  kWarnBadVersion, kWarnBadRequest, kWarnReadTimeout, kWarnWriteTimeout, kWarnPeerGone, kWarnBackstop, kWarnLate,
  kWarnRefusalReply, kIpcWarnKinds
};

class IpcWarnings {
 public:
  explicit IpcWarnings(const Clock& clock) : clock_(clock) {}

  template <class... Args>
  void Warn(IpcWarnKind kind, spdlog::format_string_t<Args...> fmt, Args&&... args) {
    std::uint64_t suppressed = 0;
    if (!limiter_.Allow(kind, clock_.now(), &suppressed)) return;
    std::string line = fmt::format(fmt, std::forward<Args>(args)...);
    if (suppressed > 0) {
      spdlog::warn("{} ({} similar lines suppressed)", line, suppressed);
    } else {
      spdlog::warn("{}", line);
    }
  }

 private:
  const Clock& clock_;
  WarnLimiter<kIpcWarnKinds> limiter_;
};

}  // namespace oa
