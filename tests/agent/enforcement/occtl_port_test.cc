// The real OcctlPort (occtl_port.h) over tests/fakes/fake_occtl.sh: what live enforcement reads from `occtl --json
// show users` (IDs, users, groups, RX/TX byte counts) and how an occtl that fails, hangs or prints something that is
// not JSON comes back — a status the caller counts and logs, never a crash or a half-read list (issue 11 "Bad input").
#include "agent/enforcement/occtl_port.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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
}

TEST_F(OcctlPortTest, FailingOcctlIsUnavailable) {
  Mode("fail");
  auto list = Port()->ListSessions();
  EXPECT_EQ(list.status().code(), absl::StatusCode::kUnavailable) << list.status();
  EXPECT_EQ(Port()->Disconnect("1234").code(), absl::StatusCode::kUnavailable);
}

TEST_F(OcctlPortTest, HangingOcctlIsKilledAtItsDeadline) {
  Mode("sleep");  // sleeps 30 s
  auto list = Port(300ms)->ListSessions();
  EXPECT_EQ(list.status().code(), absl::StatusCode::kDeadlineExceeded) << list.status();
  EXPECT_EQ(Port(300ms)->Disconnect("1234").code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(OcctlPortTest, OutputThatIsNotJsonIsDataLoss) {
  Mode("binary");  // bytes that are neither JSON nor UTF-8
  auto list = Port()->ListSessions();
  EXPECT_EQ(list.status().code(), absl::StatusCode::kDataLoss) << list.status();
}

TEST_F(OcctlPortTest, AnIdThatIsNotANumberNeverReachesOcctl) {
  EXPECT_FALSE(Port()->Disconnect("1234; reboot").ok());
  EXPECT_FALSE(std::filesystem::exists(occtl_ + ".calls"));
}

}  // namespace
}  // namespace oa::testing
