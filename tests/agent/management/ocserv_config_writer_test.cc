#include "agent/management/ocserv_config_writer.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fake_clock.h"

namespace oa {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "oa-cfg-XXXXXX").string();
    path_ = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(ConfigName, AcceptsUsualNames) {
  for (const char* n : {"alice", "bob.smith", "vpn-users", "user@example.com", "g_1", "a+b"}) {
    EXPECT_TRUE(ValidateConfigName(n).ok()) << n;
  }
}

TEST(ConfigName, RefusesTraversalAndOddNames) {
  for (const std::string& n : std::vector<std::string>{"../../etc/passwd", "a/b", ".", "..", "", "a..b", ".hidden", "-rf", "a b", "a\nb",
                              "a\\b", "é", std::string("a\0b", 3), std::string(129, 'a'), "/etc/passwd"}) {
    EXPECT_EQ(ValidateConfigName(n).code(), absl::StatusCode::kInvalidArgument) << n;
  }
}

TEST(ConfigContent, NormalisesAllowedDirectives) {
  auto out = ValidatePerEntityConfig(
      "# a comment\n\nroute = 10.0.0.0/255.0.0.0\nroute=192.168.0.0/16\n  dns = 10.0.0.53  \n"
      "restrict-user-to-routes = true\nmax-same-clients = 2\nidle-timeout=600\nsplit-dns = corp.example\n"
      "iroute = 10.20.0.0/16\nexplicit-ipv4 = 10.10.0.5\nno-route = 10.1.0.0/16\n");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out,
            "route = 10.0.0.0/255.0.0.0\nroute = 192.168.0.0/16\ndns = 10.0.0.53\nrestrict-user-to-routes = true\n"
            "max-same-clients = 2\nidle-timeout = 600\nsplit-dns = corp.example\niroute = 10.20.0.0/16\n"
            "explicit-ipv4 = 10.10.0.5\nno-route = 10.1.0.0/16\n");
}

TEST(ConfigContent, RefusesInjectionAndUnknownDirectives) {
  for (const std::string& c : std::vector<std::string>{
           "route = 10.0.0.0/8\nconnect-script = /tmp/evil",  // a second directive through a newline
           "route = 10.0.0.0/8\rconnect-script = /tmp/evil",  // a carriage return is not a line end for us
           std::string("route = 10.0.0.0/8\0connect-script = /tmp/evil", 45),
           "route = 10.0.0.0/8\x1b[2J",
           "cgroup = cpuset,cpu:test",
           "user-profile = /etc/passwd",
           "auth = plain[passwd=/etc/passwd]",
           "route",
           "= 10.0.0.0/8",
           "route =",
           "max-same-clients = two",
           "max-same-clients = -1",
           "restrict-user-to-routes = yes",
           "route = 10.0.0.0/8 # comment",
           std::string(70 * 1024, '#'),
       }) {
    EXPECT_EQ(ValidatePerEntityConfig(c).status().code(), absl::StatusCode::kInvalidArgument) << c.substr(0, 60);
  }
}

// ocserv parses these numbers with atoi() into an int: 9999999999 would overflow there. mtu and ipv6-prefix have
// narrower ranges (ocserv_config_writer.cc says where they come from).
TEST(ConfigContent, NumbersMustBeInTheirDirectivesRange) {
  for (const std::string& c : std::vector<std::string>{
           "mtu = 9999999999", "mtu = 65536", "mtu = 575", "mtu = 0", "ipv6-prefix = 129", "ipv6-prefix = 10",
           "idle-timeout = 2147483648", "max-same-clients = 4294967296", "rx-data-per-sec = 9999999999"}) {
    const auto st = ValidatePerEntityConfig(c).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c;
    EXPECT_NE(st.message().find("is outside"), std::string::npos) << st;
  }
  for (const std::string& c : std::vector<std::string>{"mtu = 576", "mtu = 1420", "mtu = 65535", "ipv6-prefix = 64",
                                                       "ipv6-prefix = 128", "idle-timeout = 2147483647",
                                                       "max-same-clients = 0", "session-timeout = 0"}) {
    EXPECT_TRUE(ValidatePerEntityConfig(c).ok()) << c;
  }
}

TEST(ConfigContent, MainConfigNeedsKeyValueLines) {
  EXPECT_TRUE(ValidateMainConfig("tcp-port = 443\n# c\nauth = \"plain[passwd=/etc/ocserv/passwd]\"\n").ok());
  EXPECT_FALSE(ValidateMainConfig("tcp-port = 443\x07").ok());
  EXPECT_FALSE(ValidateMainConfig("garbage line").ok());
}

TEST(ConfigWriter, WritesAtomicallyWithTimestampedBackup) {
  TempDir dir;
  testing::FakeClock clock;
  {
    std::ofstream(dir.path() / "alice") << "route = 10.0.0.0/8\n";
  }
  ::chmod((dir.path() / "alice").c_str(), 0640);
  ConfigWriteRequest req{dir.path().string(), "alice", "dns = 10.0.0.53\n", true, {}};
  auto res = WriteConfigFile(req, clock);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(Slurp(dir.path() / "alice"), "dns = 10.0.0.53\n");
  ASSERT_FALSE(res->backup_path.empty());
  EXPECT_EQ(fs::path(res->backup_path), fs::canonical(res->backup_path));
  EXPECT_EQ(fs::path(res->backup_path).parent_path(), fs::canonical(dir.path() / ".backup"));
  // FakeClock's wall time starts at 1'790'000'000 s = 2026-09-21T14:13:20Z.
  EXPECT_EQ(fs::path(res->backup_path).filename(), "alice.20260921T141320.000Z");
  EXPECT_EQ(Slurp(res->backup_path), "route = 10.0.0.0/8\n");
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "alice").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u) << "the previous file's mode is kept";

  // A second write in the same millisecond gets a distinct backup name.
  req.content = "dns = 10.0.0.54\n";
  auto again = WriteConfigFile(req, clock);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->backup_path, res->backup_path);
  EXPECT_EQ(Slurp(again->backup_path), "dns = 10.0.0.53\n");
}

TEST(ConfigWriter, NewFileHasNoBackup) {
  TempDir dir;
  testing::FakeClock clock;
  auto res = WriteConfigFile({dir.path().string(), "newgroup", "dns = 10.0.0.53\n", true, {}}, clock);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_TRUE(res->backup_path.empty());
  EXPECT_EQ(Slurp(dir.path() / "newgroup"), "dns = 10.0.0.53\n");
}

TEST(ConfigWriter, FailureBeforeRenameLeavesExistingFileAndNoTemp) {
  TempDir dir;
  testing::FakeClock clock;
  std::ofstream(dir.path() / "alice") << "route = 10.0.0.0/8\n";
  ConfigWriteRequest req{dir.path().string(), "alice", "dns = 10.0.0.53\n", true,
                         [] { return absl::InternalError("injected fsync failure"); }};
  auto res = WriteConfigFile(req, clock);
  EXPECT_EQ(res.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Slurp(dir.path() / "alice"), "route = 10.0.0.0/8\n");
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1) << "no temp file or backup left behind";
}

// After the rename the update has happened: a failed directory fsync must not be reported as a failed write.
TEST(ConfigWriter, DirectorySyncFailureAfterTheRenameIsAWarning) {
  TempDir dir;
  testing::FakeClock clock;
  std::ofstream(dir.path() / "alice") << "route = 10.0.0.0/8\n";
  ConfigWriteRequest req{dir.path().string(), "alice", "dns = 10.0.0.53\n", true, {}};
  req.sync_directory = [] { return absl::InternalError("injected directory fsync failure"); };
  auto res = WriteConfigFile(req, clock);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_NE(res->warning.find("injected directory fsync failure"), std::string::npos) << res->warning;
  EXPECT_EQ(Slurp(dir.path() / "alice"), "dns = 10.0.0.53\n");
  ASSERT_FALSE(res->backup_path.empty()) << "the caller must learn where the previous file went";
  EXPECT_EQ(Slurp(res->backup_path), "route = 10.0.0.0/8\n");

  req.sync_directory = {};
  auto clean = WriteConfigFile(req, clock);
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->warning.empty()) << clean->warning;
}

// ocserv may read these files as another user or group: a replacement keeps them (and the mode).
TEST(ConfigWriter, ReplacementKeepsOwnerAndGroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root can give a file to another owner";
  TempDir dir;
  testing::FakeClock clock;
  const fs::path file = dir.path() / "alice";
  std::ofstream(file) << "route = 10.0.0.0/8\n";
  ASSERT_EQ(::chown(file.c_str(), 4321, 8765), 0);
  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  auto res = WriteConfigFile({dir.path().string(), "alice", "dns = 10.0.0.53\n", false, {}}, clock);
  ASSERT_TRUE(res.ok()) << res.status();
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(Slurp(file), "dns = 10.0.0.53\n");
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_gid, 8765u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  // A new file is simply ours.
  auto fresh = WriteConfigFile({dir.path().string(), "bob", "dns = 10.0.0.53\n", false, {}}, clock);
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(::stat((dir.path() / "bob").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

// The systemd unit keeps CAP_CHOWN alone (packaging/systemd/ocserv-agent.service): replacing a file that belongs to
// another user still works without CAP_FOWNER and CAP_DAC_OVERRIDE (the mode is set while the file is still ours).
// In a child process, which drops the other capabilities for itself only.
TEST(ConfigWriter, ReplacementNeedsOnlyCapChown) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root can give a file to another owner";
  TempDir dir;
  const fs::path file = dir.path() / "alice";
  std::ofstream(file) << "route = 10.0.0.0/8\n";
  ASSERT_EQ(::chown(file.c_str(), 4321, 8765), 0);
  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct caps[2]{};
    caps[0].effective = caps[0].permitted = 1u << CAP_CHOWN;
    if (::syscall(SYS_capset, &header, caps) != 0) ::_exit(2);
    testing::FakeClock clock;
    auto res = WriteConfigFile({dir.path().string(), "alice", "dns = 10.0.0.53\n", false, {}}, clock);
    ::_exit(res.ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "1: the write failed with CAP_CHOWN alone; 2: capset failed";
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(Slurp(file), "dns = 10.0.0.53\n");
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_gid, 8765u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(ConfigWriter, BackupFailureAbortsTheWrite) {
  TempDir dir;
  testing::FakeClock clock;
  std::ofstream(dir.path() / "alice") << "route = 10.0.0.0/8\n";
  std::ofstream(dir.path() / ".backup") << "not a directory";
  auto res = WriteConfigFile({dir.path().string(), "alice", "dns = 10.0.0.53\n", true, {}}, clock);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(Slurp(dir.path() / "alice"), "route = 10.0.0.0/8\n");
}

TEST(ConfigWriter, RefusesSymlinkTargetAndMissingDirectory) {
  TempDir dir;
  testing::FakeClock clock;
  fs::create_symlink("/etc/passwd", dir.path() / "mallory");
  EXPECT_EQ(WriteConfigFile({dir.path().string(), "mallory", "dns = 10.0.0.53\n", false, {}}, clock).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(WriteConfigFile({(dir.path() / "nope").string(), "a", "dns = 1.1.1.1\n", false, {}}, clock).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(WriteConfigFile({dir.path().string(), "../x", "dns = 1.1.1.1\n", false, {}}, clock).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace oa
