// A lying portal on the wire (issue 14 items 2 and 7): a real mTLS gRPC server on loopback (tests/fakes RawPortal)
// answers CheckPolicy and the session reports with hand-made bytes — valid `allowed=true` followed by garbage, an OK
// status with no message, a zero-length message, 150 000 metadata entries. A reply that cannot be believed must be
// an Error for the portal client (malformed_replies), a failure for the breaker and the fail mode's answer for the
// authorizer — never a verdict with source=portal, never cached. The request on the wire stays the one
// protocol-reference.md describes.
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <gtest/gtest.h>

#include "agent/authorizer/policy_authorizer.h"
#include "agent/portal/check_policy_result.h"
#include "agent/portal/grpc_event_delivery.h"
#include "agent/portal/grpc_portal_client.h"
#include "dev_pki.h"
#include "events/delivery_policy.h"
#include "fake_clock.h"
#include "manual_scheduler.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "raw_portal.h"
#include "vpn/v1/auth.grpc.pb.h"
#include "vpn/v1/events.pb.h"

namespace oa {
namespace {

using namespace std::chrono_literals;
using sim::DevPki;
using sim::RawReply;

std::unique_ptr<sim::RawPortal> StartRawPortal() {
  auto p = sim::RawPortal::Start(DevPki("portal.pem"), DevPki("portal.key"), DevPki("ca.pem"));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

PortalOptions ClientOptions(const std::string& address) {
  PortalOptions o;
  o.address = address;
  o.ca_file = DevPki("ca.pem");
  o.cert_file = DevPki("agent-client.pem");
  o.key_file = DevPki("agent-client.key");
  return o;
}

std::string AllowBytes() {
  vpn::v1::CheckPolicyResponse reply;
  reply.set_allowed(true);
  reply.set_cache_ttl_seconds(3600);
  return reply.SerializeAsString();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

RawReply AllowThenGarbage() { return {true, AllowBytes() + "\xff\xff\xff"}; }
const RawReply kOkWithoutMessage{false, ""};
const RawReply kZeroLengthMessage{true, ""};

PolicyAnswer Ask(PortalClient& client, const std::string& user) {
  PolicyQuery q;
  q.request.username = user;
  q.request.ip_real = "198.51.100.7";
  std::promise<PolicyAnswer> promise;
  client.CheckPolicy(q, 5000ms, [&promise](PolicyAnswer a) { promise.set_value(std::move(a)); });
  return promise.get_future().get();
}

class LyingPortalClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    portal_ = StartRawPortal();
    ASSERT_NE(portal_, nullptr);
    auto c = MakeGrpcPortalClient(ClientOptions(portal_->address()), clock_);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
  }

  testing::FakeClock clock_;
  std::unique_ptr<sim::RawPortal> portal_;
  std::unique_ptr<PortalClient> client_;
};

TEST_F(LyingPortalClientTest, AllowFollowedByGarbageIsMalformedNotAllow) {
  portal_->SetReply(AllowThenGarbage());
  const PolicyAnswer a = Ask(*client_, "alice");
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_TRUE(a.malformed_reply);
  EXPECT_EQ(a.error.code(), absl::StatusCode::kInternal) << a.error;
  EXPECT_FALSE(a.cache_ttl.has_value());
  EXPECT_EQ(client_->stats().malformed_replies, 1u);
  EXPECT_EQ(client_->stats().errors, 1u);
  EXPECT_EQ(client_->stats().allowed, 0u);
}

TEST_F(LyingPortalClientTest, OkWithoutMessageIsMalformedNotDeny) {
  portal_->SetReply(kOkWithoutMessage);
  const PolicyAnswer a = Ask(*client_, "alice");
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_TRUE(a.malformed_reply);
  EXPECT_EQ(client_->stats().malformed_replies, 1u);
  EXPECT_EQ(client_->stats().denied, 0u);
}

TEST_F(LyingPortalClientTest, ZeroLengthMessageIsAValidDenyWithoutReason) {
  // Not a lie: proto3 encodes CheckPolicyResponse{allowed: false} as zero bytes (check_policy_result.h).
  portal_->SetReply(kZeroLengthMessage);
  const PolicyAnswer a = Ask(*client_, "alice");
  EXPECT_EQ(a.outcome, PortalOutcome::kDeny) << a.error;
  EXPECT_FALSE(a.malformed_reply);
  EXPECT_EQ(client_->stats().malformed_replies, 0u);
}

TEST_F(LyingPortalClientTest, WellFormedReplyStillAllowsAndTheRequestIsUnchangedOnTheWire) {
  portal_->SetReply({true, AllowBytes()});
  PolicyQuery q;
  q.request.username = "alice";
  q.request.groupname = "staff";
  q.request.ip_real = "198.51.100.7";
  q.request.request_id = "req-1";
  std::promise<PolicyAnswer> promise;
  client_->CheckPolicy(q, 5000ms, [&promise](PolicyAnswer a) { promise.set_value(std::move(a)); });
  const PolicyAnswer a = promise.get_future().get();
  ASSERT_EQ(a.outcome, PortalOutcome::kAllow) << a.error;
  ASSERT_TRUE(a.cache_ttl.has_value());
  EXPECT_EQ(*a.cache_ttl, 3600s);

  const auto calls = portal_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "/vpn.v1.AuthService/CheckPolicy");
  vpn::v1::CheckPolicyRequest expected;
  FillCheckPolicyRequest(q, clock_.wall_now(), &expected);
  EXPECT_EQ(calls[0].request_bytes, expected.SerializeAsString());  // byte for byte what the generated stub sent
}

// Why the client does not use the generated stub (strict_reply.h): gRPC 1.51's callback unary call reports OK for
// both lies and leaves a reply that reads as a verdict. If a gRPC upgrade changes this, this test says so.
TEST_F(LyingPortalClientTest, GeneratedCallbackStubOfGrpcBelievesBothLies) {
  auto channel = grpc::CreateCustomChannel(portal_->address(), grpc::SslCredentials([] {
                                             grpc::SslCredentialsOptions tls;
                                             tls.pem_root_certs = ReadAll(DevPki("ca.pem"));
                                             tls.pem_cert_chain = ReadAll(DevPki("agent-client.pem"));
                                             tls.pem_private_key = ReadAll(DevPki("agent-client.key"));
                                             return tls;
                                           }()),
                                           grpc::ChannelArguments());
  auto stub = vpn::v1::AuthService::NewStub(channel);
  auto call = [&stub] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    vpn::v1::CheckPolicyRequest request;
    vpn::v1::CheckPolicyResponse reply;
    std::promise<grpc::Status> done;
    stub->async()->CheckPolicy(&context, &request, &reply, [&done](grpc::Status s) { done.set_value(s); });
    const grpc::Status status = done.get_future().get();
    return std::make_pair(status.ok(), reply.allowed());
  };
  portal_->SetReply(AllowThenGarbage());
  EXPECT_EQ(call(), std::make_pair(true, true));   // "OK, allowed" from bytes that do not parse
  portal_->SetReply(kOkWithoutMessage);
  EXPECT_EQ(call(), std::make_pair(true, false));  // "OK, denied" from no message at all
}

// Issue 14 item 7: 150 000 metadata entries (about 2 MB, under gRPC's 4 MiB receive limit) used to be parsed, copied
// and cached (0.5 s per decision, +30 MB). Now the reply is refused by its size before any parsing.
TEST_F(LyingPortalClientTest, HugeMetadataIsMalformedAndNotKept) {
  vpn::v1::CheckPolicyResponse huge;
  huge.set_allowed(true);
  for (int i = 0; i < 150'000; ++i) (*huge.mutable_metadata())["k" + std::to_string(i)] = "v";
  const std::string bytes = huge.SerializeAsString();
  ASSERT_GT(bytes.size(), kMaxCheckPolicyReplyBytes);
  ASSERT_LT(bytes.size(), 4u * 1024 * 1024);
  portal_->SetReply({true, bytes});
  const auto start = std::chrono::steady_clock::now();
  const PolicyAnswer a = Ask(*client_, "alice");
  RecordProperty("huge_metadata_call_us",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::steady_clock::now() - start).count()));
  EXPECT_EQ(a.outcome, PortalOutcome::kError);
  EXPECT_TRUE(a.malformed_reply);
  EXPECT_TRUE(a.metadata.empty());
  EXPECT_EQ(client_->stats().malformed_replies, 1u);

  // Just over the entry limit, small in bytes: refused by the field check after parsing.
  vpn::v1::CheckPolicyResponse many;
  many.set_allowed(true);
  for (std::size_t i = 0; i <= kMaxMetadataEntries; ++i) (*many.mutable_metadata())["k" + std::to_string(i)] = "v";
  portal_->SetReply({true, many.SerializeAsString()});
  const PolicyAnswer b = Ask(*client_, "alice");
  EXPECT_EQ(b.outcome, PortalOutcome::kError);
  EXPECT_TRUE(b.malformed_reply);
  EXPECT_EQ(client_->stats().malformed_replies, 2u);
}

// The authorizer sees what the operator configured for a failing portal: the fail mode answers, the breaker counts
// a failure, nothing is cached — whichever way the reply lies.
class LyingPortalAuthorizerTest : public LyingPortalClientTest {
 protected:
  void MakeAuthorizer(FailMode mode) {
    breaker_ = std::make_unique<CircuitBreaker>(CircuitBreakerOptions{}, clock_, nullptr, [] { return 0.5; });
    cache_ = std::make_unique<DecisionCache>(DecisionCacheOptions{}, clock_, 42);
    auto builder = CacheKeyBuilder::Create(DecisionCacheOptions{}.key_fields);
    ASSERT_TRUE(builder.ok());
    AuthorizerSettings settings;
    settings.portal_timeout = 5000ms;
    settings.fail_mode = {mode, StaleFallback::kClose};
    authorizer_ = std::make_unique<PolicyAuthorizer>(
        PolicyAuthorizer::Deps{clock_, *client_, *breaker_, *cache_, scheduler_, counters_, nullptr},
        std::move(*builder), settings);
  }
  void TearDown() override {
    if (client_) client_->Shutdown(5000ms);  // completions reach the authorizer while it is alive
  }

  Decision Authorize(const std::string& user) {
    auto request = std::make_shared<IpcRequest>();
    request->reason = IpcReason::kConnect;
    request->username = user;
    request->ip_real = "198.51.100.7";
    request->id = "1001";
    std::promise<Decision> promise;
    authorizer_->Authorize(request, clock_.now() + 10s, [&promise](IpcReply r) { promise.set_value(r.decision); });
    return promise.get_future().get();
  }

  testing::ManualScheduler scheduler_;
  AuthorizerCounters counters_;
  std::unique_ptr<CircuitBreaker> breaker_;
  std::unique_ptr<DecisionCache> cache_;
  std::unique_ptr<PolicyAuthorizer> authorizer_;
};

TEST_F(LyingPortalAuthorizerTest, GarbageAfterAllowUnderFailCloseIsFailCloseNotPortalAllow) {
  MakeAuthorizer(FailMode::kClose);
  portal_->SetReply(AllowThenGarbage());
  const Decision d = Authorize("alice");
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.source, DecisionSource::kFailClose);
  EXPECT_EQ(breaker_->counters().failures, 1u);
  EXPECT_EQ(cache_->size(), 0u);
  EXPECT_EQ(cache_->stats().insertions, 0u);
  EXPECT_EQ(counters_.snapshot().source_portal, 0u);
}

TEST_F(LyingPortalAuthorizerTest, OkWithoutMessageUnderFailOpenIsFailOpenNotPortalDeny) {
  MakeAuthorizer(FailMode::kOpen);
  portal_->SetReply(kOkWithoutMessage);
  const Decision d = Authorize("alice");
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.source, DecisionSource::kFailOpen);
  EXPECT_EQ(breaker_->counters().failures, 1u);
  EXPECT_EQ(cache_->stats().insertions, 0u);
  EXPECT_EQ(counters_.snapshot().source_portal, 0u);
}

// The session reports are received the same strict way: an unparsable "success" is a retryable error, never a
// success that would delete the event from the outbox.
TEST(LyingPortalEventDelivery, MalformedRepliesAreRetryableErrorsNotSuccesses) {
  auto portal = StartRawPortal();
  ASSERT_NE(portal, nullptr);
  testing::FakeClock clock;
  vpn::v1::ReportConnectResponse ok;
  ok.set_success(true);
  struct Case {
    RawReply reply;
    bool succeeds;
  };
  const Case cases[] = {{{true, ok.SerializeAsString()}, true},
                        {{true, ok.SerializeAsString() + "\xff\xff\xff"}, false},
                        {{false, ""}, false}};
  std::uint64_t malformed = 0;
  for (const Case& c : cases) {
    auto d = MakeGrpcEventDelivery(ClientOptions(portal->address()), clock);
    ASSERT_TRUE(d.ok()) << d.status();
    portal->SetReply(c.reply);
    for (SessionEventKind kind : {SessionEventKind::kConnect, SessionEventKind::kDisconnect}) {
      StoredEvent e;
      e.event_id = "e-1";
      e.event.kind = kind;
      e.event.username = "alice";
      e.event.session_id = "1001";
      std::promise<absl::Status> done;
      (*d)->Deliver(e, [&done](absl::Status s) { done.set_value(std::move(s)); });
      const absl::Status s = done.get_future().get();
      if (c.succeeds) {
        EXPECT_TRUE(s.ok()) << s;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
        EXPECT_EQ(ClassifyDelivery(s.code()), DeliveryVerdict::kRetry) << s;
      }
    }
    EXPECT_EQ((*d)->malformed_replies(), c.succeeds ? 0u : 2u);
    malformed += (*d)->malformed_replies();
    (*d)->Shutdown(10s);
  }
  EXPECT_EQ(malformed, 4u);
  const auto calls = portal->calls();
  ASSERT_EQ(calls.size(), 6u);
  std::multiset<std::string> methods;
  for (const auto& c : calls) methods.insert(c.method);
  EXPECT_EQ(methods.count("/vpn.v1.EventService/ReportConnect"), 3u);
  EXPECT_EQ(methods.count("/vpn.v1.EventService/ReportDisconnect"), 3u);
}

}  // namespace
}  // namespace oa
