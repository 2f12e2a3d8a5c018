#include "agent/management/access_policy.h"

#include <gtest/gtest.h>

#include <set>

#include "agent/v1/agent.pb.h"
#include "ocserv_agent/v1/control.pb.h"

namespace oa {
namespace {

constexpr std::string_view kExec = "/agent.v1.AgentService/ExecuteCommand";
constexpr std::string_view kHealth = "/agent.v1.AgentService/HealthCheck";
constexpr std::string_view kInvalidate = "/ocserv_agent.v1.AgentControl/InvalidateCache";

AccessPolicy Policy() {
  return AccessPolicy({{"spiffe://portal/admin", ManagementRole::kAdmin},
                       {"admin.test", ManagementRole::kAdmin},
                       {"operator.test", ManagementRole::kOperator},
                       {"viewer.test", ManagementRole::kViewer},
                       {"cn-only.test", ManagementRole::kViewer}});
}

TEST(AccessPolicy, UriSanWinsOverDnsSan) {
  PeerCertNames n{{"spiffe://portal/admin"}, {"viewer.test"}, "whatever"};
  const auto c = Policy().Identify(n);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->identity, "spiffe://portal/admin");
  EXPECT_EQ(c->role, ManagementRole::kAdmin);
}

TEST(AccessPolicy, DnsSanIdentifies) {
  const auto c = Policy().Identify({{}, {"unlisted.test", "operator.test"}, ""});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->identity, "operator.test");
}

TEST(AccessPolicy, CommonNameOnlyWithoutSans) {
  EXPECT_TRUE(Policy().Identify({{}, {}, "cn-only.test"}).has_value());
  // A certificate with SANs is never identified by its CN, even if the CN is listed.
  EXPECT_FALSE(Policy().Identify({{}, {"stranger.test"}, "admin.test"}).has_value());
}

TEST(AccessPolicy, NoNamesAndEmptyNamesAreNotIdentified) {
  EXPECT_FALSE(Policy().Identify({}).has_value());
  EXPECT_FALSE(AccessPolicy({{"", ManagementRole::kAdmin}}).Identify({{}, {}, ""}).has_value());
}

TEST(AccessPolicy, UnlistedIsUnauthenticated) {
  const auto d = Policy().Check({{}, {"stranger.test"}, "stranger.test"}, kHealth);
  EXPECT_EQ(d.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(d.identity, "stranger.test");
}

TEST(AccessPolicy, RolesAreOrdered) {
  const auto p = Policy();
  const PeerCertNames viewer{{}, {"viewer.test"}, ""};
  const PeerCertNames op{{}, {"operator.test"}, ""};
  const PeerCertNames admin{{}, {"admin.test"}, ""};
  EXPECT_TRUE(p.Check(viewer, kHealth).status.ok());
  EXPECT_EQ(p.Check(viewer, kInvalidate).status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(p.Check(viewer, kExec).status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(p.Check(op, kHealth).status.ok());
  EXPECT_TRUE(p.Check(op, kInvalidate).status.ok());
  EXPECT_EQ(p.Check(op, kExec).status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(p.Check(admin, kExec).status.ok());
  EXPECT_TRUE(p.Check(admin, kInvalidate).status.ok());
}

TEST(AccessPolicy, UnknownRpcIsDeniedEvenToAdmin) {
  const auto d = Policy().Check({{}, {"admin.test"}, ""}, "/agent.v1.AgentService/AgentStream");
  EXPECT_EQ(d.status.code(), absl::StatusCode::kPermissionDenied);
}

// Reflection is open to every listed identity; its handler is gRPC's, so it is checked before the handler runs.
TEST(AccessPolicy, ReflectionNeedsViewerAndIsCheckedBeforeTheHandler) {
  constexpr std::string_view kReflection = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  EXPECT_EQ(RequiredRole(kReflection), ManagementRole::kViewer);
  EXPECT_FALSE(CheckedByHandler(kReflection));
  EXPECT_FALSE(CheckedByHandler("/agent.v1.AgentService/AgentStream")) << "not in the table: checked before";
  EXPECT_FALSE(CheckedByHandler(""));
  for (auto m : KnownRpcs()) {
    if (m != kReflection) {
      EXPECT_TRUE(CheckedByHandler(m)) << m;
    }
  }
}

// Every method of both services has a row in the role table (a new RPC cannot ship without a role), and the table
// names nothing that does not exist.
TEST(AccessPolicy, TableCoversExactlyTheServedRpcs) {
  std::set<std::string> served;
  for (const auto* svc : {agent::v1::CommandRequest::descriptor()->file()->FindServiceByName("AgentService"),
                          ocserv_agent::v1::GetStatusRequest::descriptor()->file()->FindServiceByName("AgentControl")}) {
    ASSERT_NE(svc, nullptr);
    for (int i = 0; i < svc->method_count(); ++i) served.insert("/" + svc->full_name() + "/" + svc->method(i)->name());
  }
  served.insert("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");  // when management.reflection
  std::set<std::string> table;
  for (auto m : KnownRpcs()) table.emplace(m);
  EXPECT_EQ(served, table);
  EXPECT_EQ(RequiredRole("/agent.v1.AgentService/UpdateConfig"), ManagementRole::kAdmin);
  EXPECT_EQ(RequiredRole("/ocserv_agent.v1.AgentControl/SetFailMode"), ManagementRole::kOperator);
  EXPECT_EQ(RequiredRole("/ocserv_agent.v1.AgentControl/ListSessions"), ManagementRole::kViewer);
}

}  // namespace
}  // namespace oa
