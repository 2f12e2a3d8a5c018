// The gRPC EventReporter against the reference portal over loopback mTLS: reports arrive, failures are counted,
// and the bound on reports in flight drops (never queues) the excess.
#include "agent/portal/event_reporter.h"

#include <gtest/gtest.h>

#include <thread>

#include "dev_pki.h"
#include "fake_clock.h"
#include "portal_sim.h"

namespace oa {
namespace {

using namespace std::chrono_literals;
using sim::DevPki;

class GrpcEventReporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::PortalSimOptions o;
    o.cert_file = DevPki("portal.pem");
    o.key_file = DevPki("portal.key");
    o.client_ca_file = DevPki("ca.pem");
    auto s = sim::PortalSim::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = *std::move(s);
  }

  std::unique_ptr<EventReporter> Reporter(std::size_t max_in_flight = 256) {
    PortalOptions o;
    o.address = sim_->address();
    o.ca_file = DevPki("ca.pem");
    o.cert_file = DevPki("agent-client.pem");
    o.key_file = DevPki("agent-client.key");
    auto r = MakeGrpcEventReporter(o, clock_, max_in_flight);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : nullptr;
  }

  // Waits (bounded) until the reporter has no report in flight.
  static void WaitIdle(const EventReporter& r) {
    for (int i = 0; i < 500 && r.stats().in_flight > 0; ++i) std::this_thread::sleep_for(10ms);
  }

  testing::FakeClock clock_;
  std::unique_ptr<sim::PortalSim> sim_;
};

TEST_F(GrpcEventReporterTest, ConnectAndDisconnectReachThePortal) {
  auto r = Reporter();
  ASSERT_TRUE(r);
  r->ReportConnect({.username = "alice", .session_id = "42", .client_ip = "198.51.100.7", .vpn_ip = "10.10.0.2",
                    .device = "vpns0", .groupname = "staff", .connected_at = {}, .metadata = {}});
  r->ReportDisconnect({.username = "alice", .session_id = "42", .disconnected_at = {},
                       .reason = DisconnectReason::kUserInitiated, .duration_seconds = 60, .bytes_received = 1,
                       .bytes_sent = 2, .metadata = {}});
  WaitIdle(*r);
  EXPECT_EQ(r->stats().sent, 2u);
  EXPECT_EQ(r->stats().succeeded, 2u);
  EXPECT_EQ(sim_->Stats().calls("ReportConnect"), 1u);
  EXPECT_EQ(sim_->Stats().calls("ReportDisconnect"), 1u);
}

TEST_F(GrpcEventReporterTest, PortalErrorsAreCountedNotRetried) {
  sim_->SetFaults({.latency_ms = 0, .error_rate = 1.0, .error_code = 14, .hang = false});
  auto r = Reporter();
  ASSERT_TRUE(r);
  r->ReportConnect({});
  WaitIdle(*r);
  EXPECT_EQ(r->stats().failed, 1u);
  EXPECT_EQ(sim_->Stats().calls("ReportConnect"), 1u);
}

TEST_F(GrpcEventReporterTest, ExcessReportsAreDroppedAndShutdownCancelsTheRest) {
  sim_->SetFaults({.latency_ms = 0, .error_rate = 0, .error_code = 14, .hang = true});
  auto r = Reporter(/*max_in_flight=*/2);
  ASSERT_TRUE(r);
  for (int i = 0; i < 5; ++i) r->ReportConnect({});
  EXPECT_EQ(r->stats().sent, 2u);
  EXPECT_EQ(r->stats().dropped, 3u);
  r->Shutdown(0ms);
  EXPECT_EQ(r->stats().in_flight, 0u);
  EXPECT_EQ(r->stats().failed, 2u);
  r->ReportDisconnect({});
  EXPECT_EQ(r->stats().dropped, 4u);
}

}  // namespace
}  // namespace oa
