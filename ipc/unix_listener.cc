#include "ipc/unix_listener.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace oa {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path, int err) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

// mkdir -p with 0755 for every component we create; existing directories are left as they are.
absl::Status MakeParentDirs(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return absl::OkStatus();
  const std::string dir = path.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(dir, " is not a directory"));
    return absl::OkStatus();
  }
  if (auto s = MakeParentDirs(dir); !s.ok()) return s;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Errno("cannot create", dir, errno);
  return absl::OkStatus();
}

bool FillAddress(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

// An existing file at `path`: a live agent (refuse), a stale socket (remove), anything else (refuse: not ours).
absl::Status ClearStaleSocket(const std::string& path, const sockaddr_un& addr, bool* replaced) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno("cannot stat", path, errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a socket; not replacing it"));
  }
  // Non-blocking: a blocking connect to a live agent whose backlog is full sleeps until it accepts, which a wedged
  // agent never does; non-blocking, that case returns EAGAIN at once.
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return Errno("socket for", path, errno);
  const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  ::close(probe);
  if (rc == 0 || err == EAGAIN) {  // EAGAIN: it listens, its backlog is merely full
    return absl::FailedPreconditionError(absl::StrCat("another agent is listening on ", path));
  }
  if (err != ECONNREFUSED) return Errno("cannot probe", path, err);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("cannot remove stale socket", path, errno);
  *replaced = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UnixListener> OpenUnixListener(const std::string& path, unsigned mode, int backlog) {
  sockaddr_un addr{};
  if (!FillAddress(path, &addr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ipc.socket_path must be 1..", sizeof(addr.sun_path) - 1, " bytes: ", path));
  }
  if (auto s = MakeParentDirs(path); !s.ok()) return s;
  UnixListener l;
  if (auto s = ClearStaleSocket(path, addr, &l.replaced_stale); !s.ok()) return s;

  l.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l.fd < 0) return Errno("socket for", path, errno);
  auto fail = [&](absl::string_view what) {
    const int err = errno;
    ::close(l.fd);
    return Errno(what, path, err);
  };
  if (::bind(l.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return fail("cannot bind");
  // Nobody can connect before listen(), so setting the mode here leaves no window with umask permissions.
  if (::chmod(path.c_str(), mode) != 0) {
    auto s = fail("cannot chmod");
    ::unlink(path.c_str());
    return s;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || ::listen(l.fd, backlog) != 0) {
    auto s = fail("cannot listen on");
    ::unlink(path.c_str());
    return s;
  }
  l.dev = st.st_dev;
  l.ino = st.st_ino;
  return l;
}

void RemoveUnixListenerFile(const std::string& path, const UnixListener& l) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && st.st_dev == l.dev && st.st_ino == l.ino) ::unlink(path.c_str());
}

}  // namespace oa
