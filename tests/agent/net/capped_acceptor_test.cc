// CappedAcceptor over real loopback sockets: the cap (with connections the "server" has closed forgotten), and the
// pause after accept() fails for lack of descriptors. Time is a FakeClock; every wait is bounded and waits for a
// counter, never for a duration to pass.
#include "agent/net/capped_acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "agent/net/tcp_listen.h"
#include "fake_clock.h"
#include "full_descriptor_table.h"

namespace oa {
namespace {

using namespace std::chrono_literals;

template <class F>
bool WaitUntil(F f) {
  for (int i = 0; i < 2000; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

class CappedAcceptorTest : public ::testing::Test {
 protected:
  void Start(std::size_t max_connections) {
    auto fd = ListenTcp("127.0.0.1:0", "test.listen");
    ASSERT_TRUE(fd.ok());
    port_ = BoundPort(*fd);
    CappedAcceptorOptions o;
    o.name = "test";
    o.max_connections = max_connections;
    acceptor_ = std::make_unique<CappedAcceptor>(
        *fd, o,
        [this](int, int fd) {
          std::lock_guard lock(mu_);
          handed_.push_back(fd);
        },
        clock_);
    ASSERT_TRUE(acceptor_->Start().ok());
  }
  void TearDown() override {
    if (acceptor_) acceptor_->Stop();
    for (int fd : handed_) ::close(fd);
    for (int fd : clients_) ::close(fd);
  }
  int NewSocket() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    clients_.push_back(fd);
    return fd;
  }
  bool Connect(int fd) const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  std::size_t handed() {
    std::lock_guard lock(mu_);
    return handed_.size();
  }

  testing::FakeClock clock_;
  int port_ = 0;
  std::unique_ptr<CappedAcceptor> acceptor_;
  std::mutex mu_;
  std::vector<int> handed_;
  std::vector<int> clients_;
};

TEST_F(CappedAcceptorTest, PastTheCapConnectionsAreClosedUntilTheServerClosesOne) {
  Start(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Connect(NewSocket()));
  ASSERT_TRUE(WaitUntil([&] { return acceptor_->counters().accepted + acceptor_->counters().refused_at_cap == 5; }));
  EXPECT_EQ(acceptor_->counters().accepted, 3u);
  EXPECT_EQ(acceptor_->counters().refused_at_cap, 2u);
  EXPECT_EQ(handed(), 3u);
  // The server closes one: the next connection takes its place.
  {
    std::lock_guard lock(mu_);
    ::close(handed_.front());
    handed_.erase(handed_.begin());
  }
  ASSERT_TRUE(Connect(NewSocket()));
  ASSERT_TRUE(WaitUntil([&] { return acceptor_->counters().accepted == 4; }));
  EXPECT_EQ(acceptor_->counters().refused_at_cap, 2u);
  EXPECT_EQ(acceptor_->counters().open, 3u);
}

TEST_F(CappedAcceptorTest, AcceptPausesOnDescriptorExhaustionInsteadOfSpinning) {
  Start(16);
  const int late = NewSocket();  // made before the table is full
  testing::FullDescriptorTable table;
  ASSERT_TRUE(table.full());
  ASSERT_TRUE(Connect(late));
  ASSERT_TRUE(WaitUntil([&] { return acceptor_->counters().accept_errors >= 1; }));
  std::this_thread::sleep_for(300ms);  // thousands of retries, had the loop spun
  EXPECT_EQ(acceptor_->counters().accept_errors, 1u) << "the listener is not watched until the (fake) clock moves";
  table.Release();
  clock_.advance(200ms);
  ASSERT_TRUE(WaitUntil([&] { return acceptor_->counters().accepted == 1; })) << "the waiting connection is taken";
  EXPECT_EQ(acceptor_->counters().accept_errors, 1u);
}

TEST_F(CappedAcceptorTest, BadAddressNamesTheKey) {
  auto fd = ListenTcp("no-port", "management.listen");
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(std::string(fd.status().message()).find("management.listen"), std::string::npos);
}

}  // namespace
}  // namespace oa
