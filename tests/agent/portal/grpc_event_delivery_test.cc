// The gRPC EventDelivery against the reference portal over loopback mTLS: each kind of event arrives with its
// event_id, a redelivery is dropped by the portal's dedup, and the outcome of each call reaches `done`.
#include "agent/portal/grpc_event_delivery.h"

#include <gtest/gtest.h>

#include <future>

#include "dev_pki.h"
#include "fake_clock.h"
#include "portal_sim.h"

namespace oa {
namespace {

using sim::DevPki;

class GrpcEventDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::PortalSimOptions o;
    o.cert_file = DevPki("portal.pem");
    o.key_file = DevPki("portal.key");
    o.client_ca_file = DevPki("ca.pem");
    auto s = sim::PortalSim::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = *std::move(s);
    PortalOptions p;
    p.address = sim_->address();
    p.ca_file = DevPki("ca.pem");
    p.cert_file = DevPki("agent-client.pem");
    p.key_file = DevPki("agent-client.key");
    auto d = MakeGrpcEventDelivery(p, clock_, "agent-7");
    ASSERT_TRUE(d.ok()) << d.status();
    delivery_ = *std::move(d);
  }

  // Delivers and waits for the outcome (the call has a deadline: this cannot hang).
  absl::Status DeliverNow(const StoredEvent& e) {
    std::promise<absl::Status> done;
    auto f = done.get_future();
    delivery_->Deliver(e, [&done](absl::Status s) { done.set_value(std::move(s)); });
    return f.get();
  }

  static StoredEvent Stored(std::string id, SessionEventKind kind, std::string user) {
    StoredEvent s;
    s.event_id = std::move(id);
    s.event.kind = kind;
    s.event.username = std::move(user);
    s.event.session_id = "77";
    s.event.metadata["admitted_by"] = "portal";
    s.event.bytes_received = 100;
    s.event.bytes_sent = 200;
    s.event.duration_seconds = 3;
    return s;
  }

  testing::FakeClock clock_;
  std::unique_ptr<sim::PortalSim> sim_;
  std::unique_ptr<EventDelivery> delivery_;
};

TEST_F(GrpcEventDeliveryTest, DeliversEachKindAndThePortalDropsDuplicatesByEventId) {
  EXPECT_TRUE(DeliverNow(Stored("e1", SessionEventKind::kConnect, "alice")).ok());
  EXPECT_TRUE(DeliverNow(Stored("e1", SessionEventKind::kConnect, "alice")).ok()) << "a redelivery succeeds too";
  EXPECT_TRUE(DeliverNow(Stored("e2", SessionEventKind::kHostUpdate, "alice")).ok());
  EXPECT_TRUE(DeliverNow(Stored("e3", SessionEventKind::kDisconnect, "alice")).ok());
  EXPECT_TRUE(DeliverNow(Stored("e3", SessionEventKind::kDisconnect, "alice")).ok());
  const auto s = sim_->Stats();
  EXPECT_EQ(s.calls("ReportConnect"), 2u);
  EXPECT_EQ(s.calls("ReportSessionUpdate"), 1u);
  EXPECT_EQ(s.calls("ReportDisconnect"), 2u);
  EXPECT_EQ(s.events_received, 4u);
  EXPECT_EQ(s.events_unique, 2u);
  EXPECT_EQ(s.events_duplicate, 2u);
  EXPECT_EQ(s.events_without_id, 0u);
  EXPECT_EQ(s.reported_connects_by_user.at("alice"), 1u) << "the duplicate connect is not counted twice";
  EXPECT_EQ(s.reported_bytes_received, 100u) << "nor the duplicate disconnect's bytes";
  EXPECT_EQ(s.reported_duration_seconds, 3);
}

TEST_F(GrpcEventDeliveryTest, ReportsThePortalsErrorCode) {
  sim_->SetFaults({.error_rate = 1.0, .error_code = 3 /* INVALID_ARGUMENT */});
  EXPECT_EQ(DeliverNow(Stored("e1", SessionEventKind::kConnect, "alice")).code(),
            absl::StatusCode::kInvalidArgument);
  sim_->SetFaults({.error_rate = 1.0});
  EXPECT_EQ(DeliverNow(Stored("e1", SessionEventKind::kConnect, "alice")).code(), absl::StatusCode::kUnavailable);
}

TEST_F(GrpcEventDeliveryTest, AnUnreachablePortalIsUnavailable) {
  sim_->Shutdown();
  const auto s = DeliverNow(Stored("e1", SessionEventKind::kDisconnect, "alice"));
  EXPECT_TRUE(s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kDeadlineExceeded) << s;
}

TEST_F(GrpcEventDeliveryTest, AfterShutdownDeliveriesEndCancelled) {
  delivery_->Shutdown(std::chrono::milliseconds(0));
  EXPECT_EQ(DeliverNow(Stored("e1", SessionEventKind::kConnect, "alice")).code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace oa
