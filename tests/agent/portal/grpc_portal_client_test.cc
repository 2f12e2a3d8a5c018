// The real gRPC portal client against the real reference portal (tests/fakes/portal_sim) over loopback mTLS, with
// the dev PKI (scripts/dev-pki.sh): outcomes, TTL and epoch carried, deadlines, unreachable and untrusted portals,
// server-name override, factory errors, concurrency without a thread per call, shutdown.
#include "agent/portal/grpc_portal_client.h"
#include "agent/portal/portal_channel.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <optional>
#include <string_view>
#include <gtest/gtest.h>
#include <thread>

#include "dev_pki.h"
#include "fake_clock.h"
#include "portal_sim.h"
#include "slow_handshake_proxy.h"

namespace oa {
namespace {

using namespace std::chrono_literals;
using sim::DevPki;

constexpr char kPolicy[] = R"(
epoch: 7
cidr_rules:
  - { cidr: 203.0.113.0/24, allow: false, reason: "blocked network" }
users:
  alice: { allow: true, ttl: 60, routes: [10.0.0.0/8], dns: [10.0.0.53] }
  bob: { allow: false, reason: "account suspended", ttl: 0 }
groups:
  staff: { allow: true }
)";

std::string WritePolicy() {
  const std::string path = sim::DevPkiDir() + "/client-test-policy.yaml";
  std::ofstream(path) << kPolicy;
  return path;
}

sim::PortalSimOptions SimOptions() {
  sim::PortalSimOptions o;
  o.cert_file = DevPki("portal.pem");
  o.key_file = DevPki("portal.key");
  o.client_ca_file = DevPki("ca.pem");
  o.policy_file = WritePolicy();
  return o;
}

PortalOptions ClientOptions(const std::string& address) {
  PortalOptions o;
  o.address = address;
  o.ca_file = DevPki("ca.pem");
  o.cert_file = DevPki("agent-client.pem");
  o.key_file = DevPki("agent-client.key");
  return o;
}

PolicyQuery Query(std::string user, std::string group = "", std::string ip = "198.51.100.7") {
  PolicyQuery q;
  q.request.username = std::move(user);
  q.request.groupname = std::move(group);
  q.request.ip_real = std::move(ip);
  return q;
}

PolicyAnswer Ask(PortalClient& client, PolicyQuery q, std::chrono::milliseconds timeout = 2000ms) {
  std::promise<PolicyAnswer> promise;
  auto future = promise.get_future();
  client.CheckPolicy(std::move(q), timeout, [&promise](PolicyAnswer a) { promise.set_value(std::move(a)); });
  return future.get();
}

int ThreadCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// A loopback port on which nothing listens (bound, then closed).
int DeadPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  bind(fd, reinterpret_cast<sockaddr*>(&a), len);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class GrpcPortalClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = sim::PortalSim::Start(SimOptions());
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = *std::move(s);
    auto c = MakeGrpcPortalClient(ClientOptions(sim_->address()), clock_);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
  }

  testing::FakeClock clock_;
  std::unique_ptr<sim::PortalSim> sim_;
  std::unique_ptr<PortalClient> client_;
};

TEST_F(GrpcPortalClientTest, AllowCarriesTtlEpochRoutesAndDns) {
  const PolicyAnswer a = Ask(*client_, Query("alice"));
  ASSERT_EQ(a.outcome, PortalOutcome::kAllow) << a.error;
  ASSERT_TRUE(a.cache_ttl.has_value());
  EXPECT_EQ(*a.cache_ttl, 60s);
  EXPECT_EQ(a.policy_epoch, 7u);
  EXPECT_EQ(a.routes, std::vector<std::string>{"10.0.0.0/8"});
  EXPECT_EQ(a.dns_servers, std::vector<std::string>{"10.0.0.53"});
  EXPECT_EQ(client_->stats().allowed, 1u);
  EXPECT_EQ(sim_->Stats().check_policy_by_user.at("alice"), 1u);
}

TEST_F(GrpcPortalClientTest, DenyCarriesReasonAndTtlZero) {
  const PolicyAnswer a = Ask(*client_, Query("bob"));
  ASSERT_EQ(a.outcome, PortalOutcome::kDeny) << a.error;
  EXPECT_EQ(a.deny_reason, "account suspended");
  ASSERT_TRUE(a.cache_ttl.has_value());
  EXPECT_EQ(*a.cache_ttl, 0s);
  EXPECT_TRUE(a.error.ok());
  EXPECT_EQ(client_->stats().denied, 1u);
  EXPECT_EQ(client_->stats().errors, 0u);
}

TEST_F(GrpcPortalClientTest, TtlAbsentWhenThePolicyGivesNone) {
  const PolicyAnswer a = Ask(*client_, Query("carol", "staff"));  // groupname reached the portal
  ASSERT_EQ(a.outcome, PortalOutcome::kAllow) << a.error;
  EXPECT_FALSE(a.cache_ttl.has_value());
}

TEST_F(GrpcPortalClientTest, ClientIpReachesThePortal) {
  const PolicyAnswer a = Ask(*client_, Query("alice", "", "203.0.113.9"));
  ASSERT_EQ(a.outcome, PortalOutcome::kDeny);
  EXPECT_EQ(a.deny_reason, "blocked network");
}

TEST_F(GrpcPortalClientTest, HungPortalEndsAtTheDeadline) {
  ASSERT_EQ(Ask(*client_, Query("alice")).outcome, PortalOutcome::kAllow);  // connected: the call reaches the sim
  sim_->SetFaults({.latency_ms = 0, .error_rate = 0, .error_code = 14, .hang = true});
  const auto start = std::chrono::steady_clock::now();
  const PolicyAnswer a = Ask(*client_, Query("alice"), 300ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 300ms + 500ms);  // the deadline plus a margin for a loaded 2-core machine
  EXPECT_EQ(sim_->Stats().hung, 1u);
  EXPECT_EQ(client_->stats().errors, 1u);
  EXPECT_EQ(client_->stats().allowed, 1u);
}

TEST_F(GrpcPortalClientTest, SlowPortalEndsAtTheDeadlineAndAFastEnoughOneAnswers) {
  ASSERT_EQ(Ask(*client_, Query("alice")).outcome, PortalOutcome::kAllow);  // connected: the call reaches the sim
  sim_->SetFaults({.latency_ms = 1000, .error_rate = 0, .error_code = 14, .hang = false});
  const auto start = std::chrono::steady_clock::now();
  const PolicyAnswer slow = Ask(*client_, Query("alice"), 150ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 150ms + 500ms);
  EXPECT_EQ(slow.outcome, PortalOutcome::kError);
  EXPECT_EQ(slow.error.code(), absl::StatusCode::kDeadlineExceeded);

  sim_->SetFaults({.latency_ms = 50, .error_rate = 0, .error_code = 14, .hang = false});
  EXPECT_EQ(Ask(*client_, Query("alice"), 2000ms).outcome, PortalOutcome::kAllow);
}

TEST_F(GrpcPortalClientTest, InjectedStatusCodesAreCarried) {
  for (int code : {8 /*RESOURCE_EXHAUSTED*/, 7 /*PERMISSION_DENIED*/, 13 /*INTERNAL*/}) {
    sim_->SetFaults({.latency_ms = 0, .error_rate = 1.0, .error_code = code, .hang = false});
    const PolicyAnswer a = Ask(*client_, Query("alice"));
    EXPECT_EQ(a.outcome, PortalOutcome::kError);
    EXPECT_EQ(static_cast<int>(a.error.code()), code);
    EXPECT_FALSE(a.malformed_reply);
  }
}

TEST_F(GrpcPortalClientTest, HundredConcurrentCallsNeedNoThreadEach) {
  // Warm the channel so connection setup is not part of what is measured.
  ASSERT_EQ(Ask(*client_, Query("alice")).outcome, PortalOutcome::kAllow);
  sim_->SetFaults({.latency_ms = 500, .error_rate = 0, .error_code = 14, .hang = false});
  const int threads_before = ThreadCount();
  constexpr int kCalls = 100;
  std::atomic<int> allowed{0}, finished{0};
  std::promise<void> all_done;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    client_->CheckPolicy(Query("alice"), 5000ms, [&](PolicyAnswer a) {
      if (a.outcome == PortalOutcome::kAllow) allowed.fetch_add(1);
      if (finished.fetch_add(1) + 1 == kCalls) all_done.set_value();
    });
  }
  // While every call is held by the portal's latency, count the threads of this process (client and portal).
  for (int i = 0; i < 400 && sim_->Stats().in_flight < kCalls; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(client_->stats().in_flight, static_cast<std::uint64_t>(kCalls));
  const int threads_during = ThreadCount();
  all_done.get_future().wait();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(allowed.load(), kCalls);
  EXPECT_LT(threads_during - threads_before, 20) << "before " << threads_before << ", during " << threads_during;
  RecordProperty("threads_before", threads_before);
  RecordProperty("threads_during", threads_during);
  EXPECT_LT(elapsed, 3s);  // one after another they would take 50 s
}

TEST_F(GrpcPortalClientTest, ShutdownCancelsCallsInFlightAndRefusesNewOnes) {
  sim_->SetFaults({.latency_ms = 0, .error_rate = 0, .error_code = 14, .hang = true});
  std::promise<PolicyAnswer> held;
  client_->CheckPolicy(Query("alice"), 10000ms, [&](PolicyAnswer a) { held.set_value(std::move(a)); });
  for (int i = 0; i < 1000 && sim_->Stats().hung < 1; ++i) std::this_thread::sleep_for(1ms);
  const auto start = std::chrono::steady_clock::now();
  client_->Shutdown(100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  auto f = held.get_future();
  ASSERT_EQ(f.wait_for(0s), std::future_status::ready);  // Shutdown returned after `done`
  const PolicyAnswer a = f.get();
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kCancelled);

  const PolicyAnswer refused = Ask(*client_, Query("alice"));
  EXPECT_EQ(refused.outcome, PortalOutcome::kError);
  EXPECT_EQ(refused.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client_->stats().refused_after_shutdown, 1u);
}

TEST_F(GrpcPortalClientTest, ServerNameOverride) {
  // portal.pem names localhost, 127.0.0.1 and portal.test.
  PortalOptions good = ClientOptions(sim_->address());
  good.server_name = "portal.test";
  auto c = MakeGrpcPortalClient(good, clock_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Ask(**c, Query("alice")).outcome, PortalOutcome::kAllow);

  PortalOptions bad = ClientOptions(sim_->address());
  bad.server_name = "not-the-portal.test";
  auto d = MakeGrpcPortalClient(bad, clock_);
  ASSERT_TRUE(d.ok());
  const PolicyAnswer a = Ask(**d, Query("alice"));
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kUnavailable);
}

// Issue 14 item 8: one connection attempt may take portal.timeout. It used to be cut at a fixed 500 ms (gRPC's
// min_reconnect_backoff_ms, which is the minimum connect deadline), so a portal whose TLS handshake takes longer —
// far away, or behind a slow middlebox — failed every first attempt with UNAVAILABLE. 1.5 s is three times the old
// cut and far below the 10 s timeout, so neither outcome depends on how loaded the machine is.
TEST_F(GrpcPortalClientTest, SlowHandshakeWithinPortalTimeoutConnectsOnTheFirstAttempt) {
  testing::SlowHandshakeProxy proxy(sim_->port(), 1500ms);
  PortalOptions o = ClientOptions(proxy.address());
  o.timeout = 10000ms;
  auto c = MakeGrpcPortalClient(o, clock_);
  ASSERT_TRUE(c.ok()) << c.status();
  const PolicyAnswer a = Ask(**c, Query("alice"), 10000ms);
  EXPECT_EQ(a.outcome, PortalOutcome::kAllow) << a.error;
  EXPECT_EQ(proxy.connections(), 1);  // the first attempt was not abandoned

  // Below the floor an attempt gets 500 ms — what every portal got before, whatever its timeout: it never connects
  // through this proxy, and the call fails although its own deadline is 10 s away.
  testing::SlowHandshakeProxy old_proxy(sim_->port(), 1500ms);
  PortalOptions old = ClientOptions(old_proxy.address());
  old.timeout = 100ms;
  auto d = MakeGrpcPortalClient(old, clock_);
  ASSERT_TRUE(d.ok()) << d.status();
  const PolicyAnswer b = Ask(**d, Query("alice"), 10000ms);
  EXPECT_EQ(b.outcome, PortalOutcome::kError);
  EXPECT_EQ(b.error.code(), absl::StatusCode::kUnavailable) << b.error;
}

TEST(PortalConnectTimeout, IsPortalTimeoutButNeverLessThanHalfASecond) {
  PortalOptions o;
  o.timeout = 2000ms;
  EXPECT_EQ(PortalConnectTimeout(o), 2000ms);
  o.timeout = 100ms;
  EXPECT_EQ(PortalConnectTimeout(o), kMinPortalConnectTimeout);
}

// The channel the agent opens to the portal sends no BDP pings (a PING per received message that the portal must
// acknowledge: pure per-event cost for messages this small, BENCHMARKS.md fan-out), and still keeps its keepalive.
TEST(PortalChannelArguments, NoBdpProbingButKeepaliveKept) {
  auto integer = [](const grpc::ChannelArguments& args, const char* key) -> std::optional<int> {
    const grpc_channel_args c = args.c_channel_args();
    for (std::size_t i = 0; i < c.num_args; ++i) {
      if (std::string_view(c.args[i].key) == key && c.args[i].type == GRPC_ARG_INTEGER) return c.args[i].value.integer;
    }
    return std::nullopt;
  };
  PortalOptions o;
  o.keepalive_time = 30000ms;
  const grpc::ChannelArguments args = PortalChannelArguments(o);
  EXPECT_EQ(integer(args, GRPC_ARG_HTTP2_BDP_PROBE), 0);
  EXPECT_EQ(integer(args, GRPC_ARG_KEEPALIVE_TIME_MS), 30000);
  EXPECT_EQ(integer(args, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS), 1);
  o.keepalive_time = 0ms;  // keepalive off does not bring BDP probing back
  EXPECT_EQ(integer(PortalChannelArguments(o), GRPC_ARG_HTTP2_BDP_PROBE), 0);
  EXPECT_EQ(integer(PortalChannelArguments(o), GRPC_ARG_KEEPALIVE_TIME_MS), std::nullopt);
}

TEST(GrpcPortalClient, NothingListeningIsUnavailable) {
  testing::FakeClock clock;
  auto c = MakeGrpcPortalClient(ClientOptions("127.0.0.1:" + std::to_string(DeadPort())), clock);
  ASSERT_TRUE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  const PolicyAnswer a = Ask(**c, Query("alice"), 2000ms);
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);  // refused at once, not at the deadline
}

TEST(GrpcPortalClient, PortalCertificateFromAnotherCaIsErrorNeverAllow) {
  sim::PortalSimOptions o = SimOptions();
  o.cert_file = DevPki("rogue-portal.pem");  // same names, signed by the rogue CA
  o.key_file = DevPki("rogue-portal.key");
  auto rogue = sim::PortalSim::Start(o);
  ASSERT_TRUE(rogue.ok()) << rogue.status();
  testing::FakeClock clock;
  auto c = MakeGrpcPortalClient(ClientOptions((*rogue)->address()), clock);
  ASSERT_TRUE(c.ok());
  for (const char* user : {"alice", "bob"}) {
    const PolicyAnswer a = Ask(**c, Query(user));
    EXPECT_EQ(a.outcome, PortalOutcome::kError) << user;
    EXPECT_EQ(a.error.code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ((*rogue)->Stats().calls("CheckPolicy"), 0u);  // the rogue portal never saw a request
}

TEST(GrpcPortalClient, PortalRefusesAClientCertificateFromAnotherCa) {
  auto s = sim::PortalSim::Start(SimOptions());
  ASSERT_TRUE(s.ok());
  PortalOptions o = ClientOptions((*s)->address());
  o.cert_file = DevPki("rogue-client.pem");
  o.key_file = DevPki("rogue-client.key");
  testing::FakeClock clock;
  auto c = MakeGrpcPortalClient(o, clock);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Ask(**c, Query("alice")).outcome, PortalOutcome::kError);
  EXPECT_EQ((*s)->Stats().calls("CheckPolicy"), 0u);
}

TEST(GrpcPortalClient, PortalThatClosesConnectionsIsUnavailable) {
  sim::PortalSimOptions o = SimOptions();
  o.refuse_tls = true;
  auto s = sim::PortalSim::Start(o);
  ASSERT_TRUE(s.ok()) << s.status();
  testing::FakeClock clock;
  auto c = MakeGrpcPortalClient(ClientOptions((*s)->address()), clock);
  ASSERT_TRUE(c.ok());
  const PolicyAnswer a = Ask(**c, Query("alice"));
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kUnavailable);
}

TEST(GrpcPortalClient, FactoryNamesTheBadFile) {
  testing::FakeClock clock;
  PortalOptions missing = ClientOptions("127.0.0.1:1");
  missing.ca_file = "/nonexistent/ca.pem";
  auto a = MakeGrpcPortalClient(missing, clock);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(a.status().message().find("portal.ca_file"), std::string::npos);
  EXPECT_NE(a.status().message().find("/nonexistent/ca.pem"), std::string::npos);

  PortalOptions no_key = ClientOptions("127.0.0.1:1");
  no_key.key_file = "";
  auto b = MakeGrpcPortalClient(no_key, clock);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("portal.key_file"), std::string::npos);

  PortalOptions swapped = ClientOptions("127.0.0.1:1");
  swapped.key_file = DevPki("agent-client.pem");  // a certificate where the key should be
  auto c = MakeGrpcPortalClient(swapped, clock);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("portal.key_file"), std::string::npos);

  PortalOptions unreadable = ClientOptions("127.0.0.1:1");
  unreadable.cert_file = sim::DevPkiDir();  // a directory: opens, but cannot be read as a file
  auto d = MakeGrpcPortalClient(unreadable, clock);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("portal.cert_file"), std::string::npos);
}

}  // namespace
}  // namespace oa
