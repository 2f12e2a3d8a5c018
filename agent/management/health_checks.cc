#include "agent/management/health_checks.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/management/occtl_runner.h"

namespace oa {
namespace {

constexpr std::string_view kOk = "ok";

std::string ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return "bad socket path";
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::StrCat("socket: ", std::strerror(errno));
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? std::string(kOk) : absl::StrCat(path, ": ", std::strerror(err));
}

std::string ProbeWritable(const std::string& dir) {
  std::string tmp = dir + "/.oa-health.XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return absl::StrCat(dir, ": ", std::strerror(errno));
  ::close(fd);
  ::unlink(tmp.c_str());
  return std::string(kOk);
}

}  // namespace

HealthChecker::HealthChecker(ControlPlane& control, OcservOptions ocserv, const Clock& clock)
    : control_(control), ocserv_(std::move(ocserv)), clock_(clock) {}

HealthReport HealthChecker::Run(int tier) const {
  tier = tier < 1 ? 1 : (tier > 3 ? 3 : tier);
  HealthReport r;
  r.checks["alive"] = std::string(kOk);
  if (tier >= 2) {
    r.checks["ipc_socket"] = control_.IpcListening() ? std::string(kOk) : "not listening";
    const std::string breaker = control_.BreakerState();
    r.checks["portal_breaker"] = breaker == "open" ? "open" : absl::StrCat(std::string(kOk), " (", breaker, ")");
    r.checks["occtl_socket"] = ConnectUnix(ocserv_.occtl_socket);
  }
  if (tier >= 3) {
    auto cmd = ParseOcctlCommand("show status", {});
    std::string status = "cannot build command";
    if (cmd.ok()) {
      // Health checks must answer quickly whatever command_timeout_max says.
      auto res = RunOcctl(ocserv_, *cmd, std::chrono::milliseconds(5000), clock_);
      if (!res.ok()) {
        status = std::string(res.status().message());
      } else if (res->timed_out) {
        status = "timed out";
      } else if (res->exit_code != 0) {
        status = absl::StrCat("exit code ", res->exit_code);
      } else {
        status = std::string(kOk);
      }
    }
    r.checks["occtl_show_status"] = status;
    r.checks["config_per_user_dir_writable"] = ProbeWritable(ocserv_.config_per_user_dir);
    r.checks["config_per_group_dir_writable"] = ProbeWritable(ocserv_.config_per_group_dir);
  }
  std::vector<std::string> failed;
  for (const auto& [name, result] : r.checks) {
    if (result.rfind(kOk, 0) != 0) failed.push_back(name);
  }
  r.healthy = failed.empty();
  r.message = r.healthy ? absl::StrCat("healthy (tier ", tier, ")")
                        : absl::StrCat("unhealthy (tier ", tier, "): ", absl::StrJoin(failed, ", "));
  return r;
}

}  // namespace oa
