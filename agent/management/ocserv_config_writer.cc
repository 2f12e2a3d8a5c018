#include "agent/management/ocserv_config_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace oa {
namespace {

enum class ValueKind { kText, kUint, kBool };

// ocserv reads every numeric per-user/per-group value with atoi() into an int (READ_RAW_NUMERIC in ocserv's
// src/sup-config/file.c): anything above INT_MAX overflows there, so no number may exceed it.
constexpr std::uint64_t kOcservIntMax = 2147483647;

struct Directive {
  std::string_view name;
  ValueKind kind;
  std::uint64_t min = 0;              // kUint only
  std::uint64_t max = kOcservIntMax;  // kUint only
};

// What ocserv accepts in config-per-user / config-per-group files and is safe to let the portal set. Nothing that
// names a program, a script or a file (cgroup, user-profile, connect-script...) is here. Numbers are seconds, bytes
// per second or counts (0 = ocserv's "unset/unlimited") up to kOcservIntMax, except where ocserv or IP itself is
// narrower: ipv6-prefix 11..128 (ocserv's valid_ipv6_prefix(), src/ip-util.h) and mtu 576..65535 (576: the datagram
// every IPv4 host must accept, RFC 791; 65535: the largest the IP length field and a Linux tun device allow).
constexpr std::array kDirectives{
    Directive{"route", ValueKind::kText},
    Directive{"no-route", ValueKind::kText},
    Directive{"iroute", ValueKind::kText},
    Directive{"dns", ValueKind::kText},
    Directive{"nbns", ValueKind::kText},
    Directive{"split-dns", ValueKind::kText},
    Directive{"tunnel-all-dns", ValueKind::kBool},
    Directive{"explicit-ipv4", ValueKind::kText},
    Directive{"explicit-ipv6", ValueKind::kText},
    Directive{"ipv4-network", ValueKind::kText},
    Directive{"ipv4-netmask", ValueKind::kText},
    Directive{"ipv6-network", ValueKind::kText},
    Directive{"ipv6-prefix", ValueKind::kUint, 11, 128},
    Directive{"restrict-user-to-routes", ValueKind::kBool},
    Directive{"restrict-user-to-ports", ValueKind::kText},
    Directive{"max-same-clients", ValueKind::kUint},
    Directive{"idle-timeout", ValueKind::kUint},
    Directive{"mobile-idle-timeout", ValueKind::kUint},
    Directive{"session-timeout", ValueKind::kUint},
    Directive{"rx-data-per-sec", ValueKind::kUint},
    Directive{"tx-data-per-sec", ValueKind::kUint},
    Directive{"net-priority", ValueKind::kText},
    Directive{"stats-report-time", ValueKind::kUint},
    Directive{"keepalive", ValueKind::kUint},
    Directive{"dpd", ValueKind::kUint},
    Directive{"mobile-dpd", ValueKind::kUint},
    Directive{"deny-roaming", ValueKind::kBool},
    Directive{"interim-update-secs", ValueKind::kUint},
    Directive{"mtu", ValueKind::kUint, 576, 65535},
};

const Directive* FindDirective(std::string_view name) {
  for (const auto& d : kDirectives) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("._@+-").find(c) != std::string_view::npos;
}

absl::Status CheckPrintable(std::string_view v, std::size_t line_no) {
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": control character in value"));
    }
  }
  return absl::OkStatus();
}

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

struct Line {
  std::string key;
  std::string value;
  bool skip = false;
};

// Splits content into lines; '\n' is the only line end ocserv knows, so a '\r' (or any other control character)
// inside a line is an error, not a second line.
absl::StatusOr<std::vector<Line>> ParseLines(std::string_view content) {
  if (content.size() > kMaxConfigContentBytes) {
    return absl::InvalidArgumentError(absl::StrCat("content is larger than ", kMaxConfigContentBytes, " bytes"));
  }
  std::vector<Line> out;
  std::size_t line_no = 0;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(content.data(), content.size()), '\n')) {
    ++line_no;
    for (const char ch : raw) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": control character"));
      }
    }
    const std::string_view s = Trim(std::string_view(raw.data(), raw.size()));
    Line line;
    if (s.empty() || s.front() == '#') {
      line.skip = true;
      out.push_back(std::move(line));
      continue;
    }
    const auto eq = s.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": expected 'directive = value'"));
    }
    line.key = std::string(Trim(s.substr(0, eq)));
    line.value = std::string(Trim(s.substr(eq + 1)));
    if (line.key.empty() || line.value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": empty directive or value"));
    }
    for (const char c : line.key) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": bad directive name"));
      }
    }
    if (auto st = CheckPrintable(line.value, line_no); !st.ok()) return st;
    out.push_back(std::move(line));
  }
  return out;
}

std::string Timestamp(Clock::WallTime t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : Errno("fsync", dir);
}

// Links the current file into dir/.backup under a timestamped name; returns its real path.
absl::StatusOr<std::string> MakeBackup(const std::string& dir, const std::string& name, const std::string& target,
                                       const Clock& clock) {
  const std::string backup_dir = dir + "/.backup";
  if (::mkdir(backup_dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno("mkdir", backup_dir);
  struct stat st {};
  if (::lstat(backup_dir.c_str(), &st) != 0) return Errno("stat", backup_dir);
  if (!S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(backup_dir + " exists and is not a directory");
  const std::string base = absl::StrCat(backup_dir, "/", name, ".", Timestamp(clock.wall_now()));
  for (int i = 0; i < 100; ++i) {
    const std::string candidate = i == 0 ? base : absl::StrCat(base, "-", i);
    if (::link(target.c_str(), candidate.c_str()) == 0) {
      char real[PATH_MAX];
      if (::realpath(candidate.c_str(), real) == nullptr) return Errno("realpath", candidate);
      if (auto s = FsyncDir(backup_dir); !s.ok()) return s;
      return std::string(real);
    }
    if (errno != EEXIST) return Errno("link", candidate);
  }
  return absl::AlreadyExistsError("too many backups with the same timestamp");
}

std::mutex& WriterMutex() {
  static std::mutex m;
  return m;
}

}  // namespace

absl::Status ValidateConfigName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("config name is empty");
  if (name.size() > kMaxConfigNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("config name is longer than ", kMaxConfigNameBytes, " bytes"));
  }
  if (name.front() == '.' || name.front() == '-') {
    return absl::InvalidArgumentError("config name starts with '.' or '-'");
  }
  if (name.find("..") != std::string_view::npos) return absl::InvalidArgumentError("config name contains '..'");
  for (const char c : name) {
    if (!IsNameChar(c)) return absl::InvalidArgumentError("config name has a character outside [A-Za-z0-9._@+-]");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ValidatePerEntityConfig(std::string_view content) {
  auto lines = ParseLines(content);
  if (!lines.ok()) return lines.status();
  std::string out;
  std::size_t line_no = 0;
  for (const auto& line : *lines) {
    ++line_no;
    if (line.skip) continue;
    const Directive* d = FindDirective(line.key);
    if (d == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": directive '", line.key.substr(0, 64), "' is not allowed"));
    }
    if (line.value.size() > 1024) return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": value too long"));
    if (d->kind == ValueKind::kUint) {
      if (line.value.size() > 10 || line.value.find_first_not_of("0123456789") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", std::string(d->name), " needs a number"));
      }
      const std::uint64_t n = std::stoull(line.value);  // at most 10 digits: fits
      if (n < d->min || n > d->max) {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", std::string(d->name), " = ", n,
                                                       " is outside ", d->min, "..", d->max));
      }
    } else if (d->kind == ValueKind::kBool) {
      if (line.value != "true" && line.value != "false") {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", std::string(d->name), " needs true or false"));
      }
    } else if (line.value.find('#') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": '#' in value"));
    }
    absl::StrAppend(&out, std::string(d->name), " = ", line.value, "\n");
  }
  return out;
}

absl::StatusOr<std::string> ValidateMainConfig(std::string_view content) {
  auto lines = ParseLines(content);
  if (!lines.ok()) return lines.status();
  std::string out;
  for (const auto& line : *lines) {
    if (!line.skip) absl::StrAppend(&out, line.key, " = ", line.value, "\n");
  }
  return out;
}

absl::StatusOr<ConfigWriteResult> WriteConfigFile(const ConfigWriteRequest& req, const Clock& clock) {
  if (auto st = ValidateConfigName(req.name); !st.ok()) return st;
  struct stat dst {};
  if (::stat(req.directory.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("config directory ", req.directory, " does not exist"));
  }
  const std::lock_guard lock(WriterMutex());
  ConfigWriteResult result;
  result.path = absl::StrCat(req.directory, "/", req.name);

  mode_t mode = 0644;
  struct stat cur {};
  const bool exists = ::lstat(result.path.c_str(), &cur) == 0;
  if (exists) {
    if (!S_ISREG(cur.st_mode)) return absl::FailedPreconditionError(result.path + " is not a regular file");
    mode = cur.st_mode & 07777;
  }

  std::string tmp = absl::StrCat(req.directory, "/.", req.name, ".tmp.XXXXXX");
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return Errno("mkstemp", tmp);
  bool committed = false;
  auto cleanup = [&](absl::Status st) -> absl::Status {
    if (!committed) ::unlink(tmp.c_str());
    return st;
  };
  absl::Status st = WriteAll(fd, req.content, tmp);
  // ocserv reads these files, possibly as another user or group than ours: keep the previous mode and owner (only
  // root may give a file away). chmod first, while the file is still ours: after the chown only CAP_FOWNER could
  // change its mode, and the systemd unit keeps CAP_CHOWN alone. (A chown by root clears set-user/group-ID bits,
  // which ocserv's config files do not carry.)
  if (st.ok() && ::fchmod(fd, mode) != 0) st = Errno("fchmod", tmp);
  if (st.ok() && exists && ::geteuid() == 0 && ::fchown(fd, cur.st_uid, cur.st_gid) != 0) st = Errno("fchown", tmp);
  if (st.ok() && ::fsync(fd) != 0) st = Errno("fsync", tmp);
  if (::close(fd) != 0 && st.ok()) st = Errno("close", tmp);
  if (!st.ok()) return cleanup(st);
  if (req.before_commit) {
    if (auto hook = req.before_commit(); !hook.ok()) return cleanup(hook);
  }
  if (req.backup && exists) {
    auto backup = MakeBackup(req.directory, req.name, result.path, clock);
    if (!backup.ok()) return cleanup(backup.status());
    result.backup_path = *backup;
  }
  if (::rename(tmp.c_str(), result.path.c_str()) != 0) return cleanup(Errno("rename", result.path));
  committed = true;
  // The file is replaced and the backup made: an error now would tell the caller the update failed (and lose the
  // backup's path) when ocserv already reads the new file.
  const absl::Status synced = req.sync_directory ? req.sync_directory() : FsyncDir(req.directory);
  if (!synced.ok()) result.warning = absl::StrCat("file replaced, but not yet durable: ", synced.message());
  return result;
}

}  // namespace oa
