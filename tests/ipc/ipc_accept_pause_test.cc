// Issue 14 item 1, the IPC side: when accept() fails for lack of descriptors, the IPC server stops watching its
// listener for a moment (it does not spin), counts the failure, and takes the waiting connection once descriptors are
// free again — so a VPN login that arrives during a descriptor flood is served late rather than lost. Time is a
// FakeClock; the waits are bounded and wait for counters.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fake_authorizer.h"
#include "fake_clock.h"
#include "full_descriptor_table.h"
#include "ipc/ipc_server.h"
#include "ipc/wire_frame.h"
#include "ipc_server_peer.h"
#include "ipc_test_client.h"

namespace oa {
namespace {

using namespace std::chrono_literals;

TEST(IpcAcceptPauseTest, DescriptorExhaustionPausesAcceptsAndTheConnectionIsServedAfterwards) {
  testing::TempDir dir;
  IpcServerOptions options;
  options.socket_path = dir.path() + "/auth.sock";
  options.allowed_uids = {::getuid()};
  testing::FakeClock clock;
  testing::FakeAuthorizer authorizer;
  testing::FakeSessionEventSink events;
  IpcServer server(options, authorizer, &events, clock, {});
  ASSERT_TRUE(server.Start().ok());

  const int late = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);  // made before the table is full
  ASSERT_GE(late, 0);
  testing::FullDescriptorTable table;
  ASSERT_TRUE(table.full());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", options.socket_path.c_str());
  ASSERT_EQ(::connect(late, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);

  ASSERT_TRUE(testing::WaitFor([&] { return server.counters().accept_errors >= 1; }));
  std::this_thread::sleep_for(300ms);  // thousands of retries, had the loop spun
  EXPECT_EQ(server.counters().accept_errors, 1u) << "accepts stay paused until the (fake) clock moves";
  EXPECT_EQ(server.counters().accepted, 0u);

  table.Release();
  clock.advance(200ms);
  testing::IpcServerPeer::WakeLoop(server);
  std::string frame;
  EncodeRequestFrame(testing::ConnectRequest("during-flood"), &frame);
  ASSERT_TRUE(testing::SendAll(late, frame));
  auto reply = testing::ReadResponse(late);
  ::close(late);
  ASSERT_TRUE(reply.has_value()) << "the login that waited in the backlog is answered";
  EXPECT_EQ(reply->verdict, WireVerdict::kAllow);
  EXPECT_EQ(server.counters().accepted, 1u);
  EXPECT_EQ(server.counters().accept_errors, 1u);
  server.Stop(0ms);
}

}  // namespace
}  // namespace oa
