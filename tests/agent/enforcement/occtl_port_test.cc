// The real OcctlPort (occtl_port.h) over tests/fakes/fake_occtl.sh: what live enforcement reads from `occtl --json
// show users` (IDs, users, groups, RX/TX byte counts) and how an occtl that fails, hangs or prints something that is
// not JSON comes back — a status the caller counts and logs, never a crash or a half-read list (issue 11 "Bad input").
#include "agent/enforcement/occtl_port.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>

#include "agent/enforcement/session_enforcer.h"
#include "common/scheduler.h"
#include "temp_dir.h"

namespace oa::testing {
namespace {

using namespace std::chrono_literals;

class OcctlPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    occtl_ = dir_.path() + "/occtl";
    std::filesystem::copy_file(OA_FAKE_OCCTL, occtl_);
    std::filesystem::permissions(occtl_, std::filesystem::perms::owner_all);
  }
  std::unique_ptr<OcctlPort> Port(std::chrono::milliseconds timeout = 20s) {
    OcservOptions o;
    o.occtl_path = occtl_;
    o.occtl_socket = dir_.path() + "/occtl.socket";
    return MakeOcctlPort(o, timeout, SystemClock::instance());
  }
  void Mode(const std::string& mode) { std::ofstream(occtl_ + ".mode") << mode; }

  // The supervised form, driven the way SessionEnforcer's thread drives it: start, then Poll until `done` ran.
  static absl::StatusOr<std::vector<SessionRecord>> SupervisedList(OcctlPort& port) {
    std::optional<absl::StatusOr<std::vector<SessionRecord>>> out;
    port.StartListSessions([&](absl::StatusOr<std::vector<SessionRecord>> r) { out = std::move(r); });
    while (!out) port.Poll(1s);
    return *std::move(out);
  }
  static absl::Status SupervisedDisconnect(OcctlPort& port, const std::string& id) {
    std::optional<absl::Status> out;
    port.StartDisconnect(id, [&](absl::Status st) { out = st; });
    while (!out) port.Poll(1s);
    return *out;
  }

  TempDir dir_;
  std::string occtl_;
};

TEST_F(OcctlPortTest, ListsSessionsWithOcctlsByteCounts) {
  auto list = Port()->ListSessions();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  const SessionRecord& alice = (*list)[0].username == "alice" ? (*list)[0] : (*list)[1];
  const SessionRecord& bob = (*list)[0].username == "bob" ? (*list)[0] : (*list)[1];
  EXPECT_EQ(alice.id, "1234");
  EXPECT_EQ(alice.groupname, "staff");
  EXPECT_EQ(alice.ip_real, "198.51.100.7");
  EXPECT_EQ(alice.vpn_ip, "10.10.0.2");
  EXPECT_EQ(alice.bytes_received, 1000u) << "occtl RX: what the server received";
  EXPECT_EQ(alice.bytes_sent, 2000u);
  EXPECT_TRUE(alice.reconstructed);
  EXPECT_EQ(bob.groupname, "") << "occtl's (none)";
  EXPECT_EQ(bob.bytes_received, 0u) << "no RX printed: 0, not a failed listing";
  auto supervised = SupervisedList(*Port());
  ASSERT_TRUE(supervised.ok()) << supervised.status();
  EXPECT_EQ(supervised->size(), 2u);
  EXPECT_TRUE(SupervisedDisconnect(*Port(), "1234").ok());
}

TEST_F(OcctlPortTest, FailingOcctlIsUnavailable) {
  Mode("fail");
  auto list = Port()->ListSessions();
  EXPECT_EQ(list.status().code(), absl::StatusCode::kUnavailable) << list.status();
  EXPECT_EQ(Port()->Disconnect("1234").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SupervisedList(*Port()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SupervisedDisconnect(*Port(), "1234").code(), absl::StatusCode::kUnavailable);
}

TEST_F(OcctlPortTest, HangingOcctlIsKilledAtItsDeadline) {
  Mode("sleep");  // sleeps 30 s
  auto list = Port(300ms)->ListSessions();
  EXPECT_EQ(list.status().code(), absl::StatusCode::kDeadlineExceeded) << list.status();
  EXPECT_EQ(Port(300ms)->Disconnect("1234").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(SupervisedList(*Port(300ms)).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(SupervisedDisconnect(*Port(300ms), "1234").code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(OcctlPortTest, OutputThatIsNotJsonIsDataLoss) {
  Mode("binary");  // bytes that are neither JSON nor UTF-8
  auto list = Port()->ListSessions();
  EXPECT_EQ(list.status().code(), absl::StatusCode::kDataLoss) << list.status();
  EXPECT_EQ(SupervisedList(*Port()).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(OcctlPortTest, AnOcctlThatCannotStartEndsTheSupervisedCallAtOnce) {
  OcservOptions o;
  o.occtl_path = dir_.path() + "/no-such-occtl";
  auto port = MakeOcctlPort(o, 20s, SystemClock::instance());
  bool called = false;
  port->StartDisconnect("1234", [&](absl::Status st) {
    called = true;
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  });
  EXPECT_TRUE(called) << "no child to wait for";
}

// A scheduler that is never due: these tests schedule nothing.
class NoScheduler final : public Scheduler {
 public:
  void RunAt(Clock::MonoTime, std::function<void()>) override { ADD_FAILURE() << "nothing is scheduled here"; }
};

// Issue 11's thread budget with real children: SessionEnforcer's one thread keeps `disconnect_concurrency` occtl
// processes running at once, and kills and reaps the one that hangs at its deadline while the others complete.
TEST_F(OcctlPortTest, OneThreadSupervisesConcurrentOcctlChildrenAndKillsTheHungOne) {
  std::ofstream(occtl_ + ".hang_id") << "7003";
  auto port = Port(500ms);
  NoScheduler scheduler;
  SessionRegistry registry;
  SessionEnforcer::Options options;
  options.concurrency = 4;
  SessionEnforcer enforcer({SystemClock::instance(), scheduler, registry, *port, nullptr, nullptr}, options);
  for (int i = 0; i < 6; ++i) {
    SessionRecord r;
    r.id = std::to_string(7001 + i);
    r.username = "u" + std::to_string(i);
    r.groupname = "burst";
    registry.Admit(r);
  }
  Revocation revocation;
  revocation.subject = Subject::Group("burst");
  revocation.reason = "burst";
  enforcer.DisconnectRevoked(revocation, std::nullopt);  // queued: the thread starts with all six waiting
  enforcer.Start();
  enforcer.WaitIdle();
  const auto c = enforcer.counters();
  EXPECT_EQ(c.disconnected_revocation, 5u);
  EXPECT_EQ(c.disconnect_timed_out, 1u) << "7003 hung: killed at its 500 ms deadline";
  EXPECT_EQ(c.disconnect_failed, 0u);
  EXPECT_EQ(c.in_flight_peak, 4u) << "four occtl children at once";
  EXPECT_EQ(c.workers_started, 1u) << "one thread for all of them";
  EXPECT_EQ(c.workers_peak, 1u);
  const auto hung = registry.Find("7003");
  ASSERT_TRUE(hung.has_value());
  EXPECT_FALSE(hung->forced.has_value()) << "the hung call's session stays, unmarked";
  enforcer.Stop();
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1) << "every child was reaped";
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(OcctlPortTest, AnIdThatIsNotANumberNeverReachesOcctl) {
  EXPECT_FALSE(Port()->Disconnect("1234; reboot").ok());
  EXPECT_FALSE(std::filesystem::exists(occtl_ + ".calls"));
}

}  // namespace
}  // namespace oa::testing
