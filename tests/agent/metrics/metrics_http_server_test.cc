// The metrics HTTP server over real loopback sockets: the scrape itself, 404/405, oversize and malformed requests,
// silent clients cut off at the read timeout, the connection limit — each with its counter — and that one stuck
// client does not stall a scrape. Every wait is bounded; nothing sleeps to wait for a timeout blindly.
#include "agent/metrics/metrics_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "agent/metrics/prometheus_format.h"
#include "fake_clock.h"
#include "full_descriptor_table.h"

namespace oa {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

class Client {
 public:
  // connect_now false: the socket is made now, connected by Connect() later (when no descriptor may be left).
  explicit Client(int port, bool connect_now = true) : port_(port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect_now) Connect();
  }
  void Connect() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const std::string& s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()); }
  // Everything until the server closes (or `timeout`); `closed` says whether it did close.
  std::string ReadAll(std::chrono::milliseconds timeout = 10s, bool* closed = nullptr) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) {
        if (closed) *closed = true;
        return out;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    if (closed) *closed = false;
    return out;
  }

 private:
  int port_ = 0;
  int fd_ = -1;
  bool connected_ = false;
};

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void Start(MetricsHttpServerOptions o = {}) {
    o.listen = "127.0.0.1:0";
    server_ = std::make_unique<MetricsHttpServer>(
        o,
        [this] {
          renders_.fetch_add(1);
          return std::string("ocserv_agent_test_total 42\n");
        },
        SystemClock::instance());
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }
  std::string Get(const std::string& request) {
    Client c(server_->port());
    EXPECT_TRUE(c.connected());
    EXPECT_TRUE(c.Send(request));
    return c.ReadAll();
  }

  std::atomic<int> renders_{0};
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(MetricsHttpServerTest, ServesMetricsWithThePrometheusContentType) {
  Start();
  const std::string r = Get("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_THAT(r, HasSubstr("Content-Length: 27\r\n"));
  EXPECT_THAT(r, HasSubstr("Connection: close\r\n\r\nocserv_agent_test_total 42\n"));
  EXPECT_EQ(renders_.load(), 1);
  // A query string is ignored; HEAD gets the headers only.
  EXPECT_THAT(Get("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), StartsWith("HTTP/1.1 200 OK"));
  const std::string head = Get("HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");
  EXPECT_EQ(server_->counters().scrapes, 3u);
}

TEST_F(MetricsHttpServerTest, ARequestArrivingInPiecesIsServed) {
  Start();
  Client c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /met"));
  ASSERT_TRUE(c.Send("rics HTTP/1.1\r\nHost: x\r\n"));
  ASSERT_TRUE(c.Send("\r\n"));
  EXPECT_THAT(c.ReadAll(), StartsWith("HTTP/1.1 200 OK"));
}

TEST_F(MetricsHttpServerTest, OtherPathsAre404AndOtherMethods405) {
  Start();
  EXPECT_THAT(Get("GET / HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(Get("GET /metricsx HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(Get("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), StartsWith("HTTP/1.1 405"));
  EXPECT_EQ(server_->counters().not_found, 3u);
  EXPECT_EQ(renders_.load(), 0);
}

TEST_F(MetricsHttpServerTest, MalformedAndOversizeRequestsAreRefused) {
  MetricsHttpServerOptions o;
  o.max_request_bytes = 1024;
  Start(o);
  EXPECT_THAT(Get("hello\r\n\r\n"), StartsWith("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(Get("GET /metrics\r\n\r\n"), StartsWith("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(Get("GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(2000, 'a') + "\r\n\r\n"),
              StartsWith("HTTP/1.1 431"));
  EXPECT_EQ(server_->counters().bad_requests, 3u);
  EXPECT_EQ(renders_.load(), 0);
}

TEST_F(MetricsHttpServerTest, SilentClientIsCutOffAndDoesNotStallScrapes) {
  MetricsHttpServerOptions o;
  o.read_timeout = 300ms;
  Start(o);
  Client silent(server_->port());
  Client half(server_->port());
  ASSERT_TRUE(silent.connected());
  ASSERT_TRUE(half.connected());
  ASSERT_TRUE(half.Send("GET /metrics HTTP/1.1\r\n"));  // never finishes its headers
  // Meanwhile a scrape is served at once.
  EXPECT_THAT(Get("GET /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 200 OK"));
  bool closed = false;
  EXPECT_EQ(silent.ReadAll(10s, &closed), "");
  EXPECT_TRUE(closed) << "the server closes a silent connection at its read timeout";
  closed = false;
  EXPECT_EQ(half.ReadAll(10s, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(server_->counters().read_timeouts, 2u);
}

TEST_F(MetricsHttpServerTest, IdleConnectionsAtTheLimitDoNotKeepAScrapeOut) {
  // Issue 14 item 4: 16 connections that never send a request used to deny /metrics for 5 s each.
  MetricsHttpServerOptions o;
  o.read_timeout = 60s;  // far beyond the test: only eviction can make room
  Start(o);
  std::vector<std::unique_ptr<Client>> idle;
  for (std::size_t i = 0; i < o.max_connections; ++i) {
    idle.push_back(std::make_unique<Client>(server_->port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  // The idle connections wait in the backlog ahead of the scrape, so the server takes them first.
  EXPECT_THAT(Get("GET /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_EQ(server_->counters().idle_evicted, 1u);
  EXPECT_EQ(server_->counters().too_many_connections, 0u);
  bool closed = false;
  EXPECT_EQ(idle.front()->ReadAll(10s, &closed), "");
  EXPECT_TRUE(closed) << "the oldest idle connection made room";
  // The others are still open and are served when they ask.
  ASSERT_TRUE(idle.back()->Send("GET /metrics HTTP/1.1\r\n\r\n"));
  EXPECT_THAT(idle.back()->ReadAll(), StartsWith("HTTP/1.1 200 OK"));
}

TEST_F(MetricsHttpServerTest, ConnectionsAboveTheLimitAreClosedWhenNoneIsIdle) {
  server_ = std::make_unique<MetricsHttpServer>(
      MetricsHttpServerOptions{"127.0.0.1:0", 8192, 60s, 2},
      [] { return std::string(32 << 20, 'x'); },  // a reply far larger than the socket buffers: stays "replying"
      SystemClock::instance());
  ASSERT_TRUE(server_->Start().ok());
  Client a(server_->port()), b(server_->port());
  ASSERT_TRUE(a.connected() && b.connected());
  ASSERT_TRUE(a.Send("GET /metrics HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /metrics HTTP/1.1\r\n\r\n"));
  for (int i = 0; i < 1000 && server_->counters().scrapes < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server_->counters().scrapes, 2u);  // both are being answered, neither reads
  Client c(server_->port());
  bool closed = false;
  EXPECT_EQ(c.ReadAll(10s, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(server_->counters().too_many_connections, 1u);
  EXPECT_EQ(server_->counters().idle_evicted, 0u);
}

TEST_F(MetricsHttpServerTest, AcceptPausesOnDescriptorExhaustionInsteadOfSpinning) {
  // Issue 14 item 1: at EMFILE the listen socket stays readable, and the loop used to retry at 100 % CPU. Time is a
  // FakeClock that does not move: after one failure the listener must stay unwatched, so the count stays at 1.
  testing::FakeClock clock;
  server_ = std::make_unique<MetricsHttpServer>(MetricsHttpServerOptions{"127.0.0.1:0", 8192, 60s, 16},
                                                [] { return std::string("ok 1\n"); }, clock);
  ASSERT_TRUE(server_->Start().ok());
  Client client(server_->port(), /*connect_now=*/false);  // its socket exists before the table is full
  testing::FullDescriptorTable table;
  ASSERT_TRUE(table.full());
  // The connection arrives while the table is full: its accept fails.
  client.Connect();
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 1000 && server_->counters().accept_errors == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->counters().accept_errors, 1u);
  std::this_thread::sleep_for(300ms);  // long enough for thousands of retries if the loop spun
  EXPECT_EQ(server_->counters().accept_errors, 1u) << "accepts are paused until the clock moves";
  table.Release();
  clock.advance(200ms);
  ASSERT_TRUE(client.Send("GET /metrics HTTP/1.1\r\n\r\n"));
  EXPECT_THAT(client.ReadAll(), StartsWith("HTTP/1.1 200 OK")) << "the waiting connection is served afterwards";
  EXPECT_EQ(server_->counters().accept_errors, 1u);
}

TEST_F(MetricsHttpServerTest, BadListenAddressesAreErrorsNamingTheKey) {
  MetricsHttpServer s({"no-port", 8192, 1s, 4}, [] { return std::string(); }, SystemClock::instance());
  auto st = s.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("metrics.listen"));
  Start();
  MetricsHttpServer taken({"127.0.0.1:" + std::to_string(server_->port()), 8192, 1s, 4}, [] { return std::string(); },
                          SystemClock::instance());
  st = taken.Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(st.message()), HasSubstr("cannot listen"));
}

TEST_F(MetricsHttpServerTest, StopIsIdempotentAndCountersOutliveIt) {
  Start();
  EXPECT_THAT(Get("GET /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 200 OK"));
  server_->Stop();
  server_->Stop();
  EXPECT_EQ(server_->counters().scrapes, 1u);
}

}  // namespace
}  // namespace oa
