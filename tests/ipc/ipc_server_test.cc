// The IPC server with a fake authorizer, over real Unix sockets in a temp directory, with a FakeClock for every
// deadline (the test advances it and pokes the loop; nothing sleeps for a timeout). Each kind of bad input is
// asserted through its counter, and the server is shown to keep serving well-behaved clients afterwards.
#include "ipc/ipc_server.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fake_authorizer.h"
#include "fake_clock.h"
#include "ipc/wire_frame.h"
#include "ipc_server_peer.h"
#include "ipc_test_client.h"
#include "log_capture.h"

namespace oa {
namespace {

using namespace std::chrono_literals;
using testing::ConnectRequest;
using testing::FakeAuthorizer;
using testing::RoundTrip;
using testing::WaitFor;

class IpcServerTest : public ::testing::Test {
 protected:
  IpcServerTest() {
    options_.socket_path = dir_.path() + "/auth.sock";
    options_.allowed_uids = {::getuid()};
  }

  void StartServer(IpcServerTuning tuning = {}) {
    server_ = std::make_unique<IpcServer>(options_, authorizer_, &events_, clock_, tuning);
    ASSERT_TRUE(server_->Start().ok());
  }

  IpcServerCounters::Snapshot counters() const { return server_->counters(); }

  int Connect() { return testing::ConnectUnix(options_.socket_path); }

  // Sends raw bytes on a fresh connection and returns the fd (the caller closes it).
  int SendRaw(const std::string& bytes) {
    const int fd = Connect();
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(testing::SendAll(fd, bytes));
    return fd;
  }

  void Advance(std::chrono::milliseconds d) {
    clock_.advance(d);
    testing::IpcServerPeer::WakeLoop(*server_);
  }

  void ExpectStillServing() {
    auto r = RoundTrip(options_.socket_path, ConnectRequest("still-served"));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->error.empty());
  }

  testing::TempDir dir_;
  IpcServerOptions options_;
  testing::FakeClock clock_;
  FakeAuthorizer authorizer_;
  testing::FakeSessionEventSink events_;
  std::unique_ptr<IpcServer> server_;
};

std::string Frame(const std::string& body) {
  std::string f;
  AppendFrame(body, &f);
  return f;
}

TEST_F(IpcServerTest, AllowAndDenyReachTheClient) {
  StartServer();
  auto r = RoundTrip(options_.socket_path, ConnectRequest("alice"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->version, kIpcVersion);
  EXPECT_EQ(r->request_id, "test-alice");
  EXPECT_EQ(r->verdict, WireVerdict::kAllow);
  EXPECT_EQ(r->source, WireSource::kPortal);

  authorizer_.set_decision({Verdict::kDeny, DecisionSource::kCache, "account locked"});
  r = RoundTrip(options_.socket_path, ConnectRequest("bob"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->verdict, WireVerdict::kDeny);
  EXPECT_EQ(r->source, WireSource::kCache);
  EXPECT_EQ(r->reason, "account locked");

  const auto c = counters();
  EXPECT_EQ(c.accepted, 2u);
  EXPECT_EQ(c.replies_allow, 1u);
  EXPECT_EQ(c.replies_deny, 1u);
  ASSERT_EQ(authorizer_.requests().size(), 2u);
  EXPECT_EQ(authorizer_.requests()[1]->username, "bob");
  EXPECT_EQ(authorizer_.requests()[1]->routes, (std::vector<std::string>{"10.0.0.0/255.0.0.0"}));
}

// A local client chooses request_id, ip, id (and everything else it sends): none of them may end the audit line or
// pose as one of its fields. Each is quoted and escaped, so the deny below stays one line with one verdict.
TEST_F(IpcServerTest, TheDecisionLineEscapesEveryFieldTheClientSent) {
  authorizer_.set_decision({Verdict::kDeny, DecisionSource::kPortal, "no"});
  StartServer();
  testing::LogCapture logs;
  IpcRequest req = ConnectRequest("mallory");
  req.request_id = "r1\ndecision user=\"admin\" verdict=allow";
  req.ip_real = "10.0.0.1 verdict=allow";
  req.id = "7\" verdict=\"allow";
  auto r = RoundTrip(options_.socket_path, req);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->verdict, WireVerdict::kDeny);
  const auto lines = logs.lines_with("decision ");
  ASSERT_EQ(lines.size(), 1u) << "a second line was forged";
  const std::string& line = lines[0];
  EXPECT_NE(line.find(R"(ip="10.0.0.1 verdict=allow")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(id="7\" verdict=\"allow")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(request_id="r1\ndecision user=\"admin\" verdict=allow")"), std::string::npos) << line;
  EXPECT_NE(line.find(" verdict=deny "), std::string::npos) << line;
  EXPECT_EQ(line.find(" verdict=allow "), std::string::npos) << line;
}

TEST_F(IpcServerTest, CompletionFromAnotherThread) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  const int fd = SendRaw([] {
    std::string f;
    EncodeRequestFrame(ConnectRequest("carol"), &f);
    return f;
  }());
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  std::thread portal([&] { authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""}); });
  auto r = testing::ReadResponse(fd);
  portal.join();
  ::close(fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->verdict, WireVerdict::kAllow);
}

TEST_F(IpcServerTest, SessionEventsAreAcknowledgedAtOnceAndRecorded) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);  // the authorizer is not consulted for events
  StartServer();
  IpcRequest q = ConnectRequest("dave");
  q.reason = IpcReason::kDisconnect;
  q.stats_bytes_in = 1000;
  q.stats_bytes_out = 2000;
  q.stats_duration = 30;
  auto r = RoundTrip(options_.socket_path, q);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->source, WireSource::kAck);
  EXPECT_EQ(r->verdict, WireVerdict::kUnspecified);
  q.reason = IpcReason::kHostUpdate;
  ASSERT_TRUE(RoundTrip(options_.socket_path, q).has_value());
  ASSERT_TRUE(WaitFor([&] { return events_.events().size() == 2; }));
  EXPECT_EQ(events_.events()[0]->reason, IpcReason::kDisconnect);
  EXPECT_EQ(events_.events()[0]->stats_bytes_out, 2000u);
  EXPECT_EQ(events_.events()[1]->reason, IpcReason::kHostUpdate);
  EXPECT_EQ(authorizer_.held(), 0u);
  EXPECT_EQ(counters().session_events, 2u);
  EXPECT_EQ(counters().replies_ack, 2u);
}

TEST_F(IpcServerTest, ZeroLengthFrame) {
  StartServer();
  const int fd = SendRaw(std::string(4, '\0'));
  auto r = testing::ReadResponse(fd);
  ::close(fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error.empty());
  EXPECT_EQ(counters().bad_frame_zero_len, 1u);
  ExpectStillServing();
}

TEST_F(IpcServerTest, OversizeFrame) {
  options_.max_frame_bytes = 1024;
  StartServer();
  const int fd = SendRaw(std::string("\x00\x00\x04\x01", 4) + std::string(100, 'x'));
  EXPECT_TRUE(testing::WaitForEof(fd));
  ::close(fd);
  EXPECT_EQ(counters().oversize, 1u);
  EXPECT_TRUE(authorizer_.requests().empty());
  ExpectStillServing();
}

TEST_F(IpcServerTest, TruncatedFrame) {
  StartServer();
  const int fd = SendRaw(std::string("\x00\x00\x00\x64", 4) + "only ten b");
  ASSERT_TRUE(WaitFor([&] { return counters().accepted == 1; }));
  ::close(fd);
  ASSERT_TRUE(WaitFor([&] { return counters().truncated == 1; }));
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  ExpectStillServing();
}

TEST_F(IpcServerTest, GarbageBody) {
  StartServer();
  const int fd = SendRaw(Frame("\xff\xff\xff\xff garbage"));
  auto r = testing::ReadResponse(fd);
  ::close(fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->error.find("malformed"), std::string::npos);
  EXPECT_EQ(counters().garbage, 1u);
  EXPECT_EQ(counters().replies_error, 1u);
  ExpectStillServing();
}

TEST_F(IpcServerTest, UnknownVersion) {
  StartServer();
  IpcRequest q = ConnectRequest();
  q.version = 2;
  auto r = RoundTrip(options_.socket_path, q);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error.empty());
  EXPECT_EQ(r->verdict, WireVerdict::kUnspecified);
  EXPECT_EQ(counters().bad_version, 1u);
  EXPECT_TRUE(authorizer_.requests().empty());
  ExpectStillServing();
}

TEST_F(IpcServerTest, UnknownReason) {
  StartServer();
  IpcRequest q = ConnectRequest();
  q.reason = static_cast<IpcReason>(9);
  auto r = RoundTrip(options_.socket_path, q);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error.empty());
  EXPECT_EQ(counters().bad_request, 1u);
}

TEST_F(IpcServerTest, PeerThatSendsNothingIsCutOffAtTheReadTimeout) {
  StartServer();
  const int silent = Connect();
  const int partial = SendRaw("\x00\x00");
  ASSERT_TRUE(WaitFor([&] { return counters().accepted == 2; }));
  ExpectStillServing();  // the silent peers hold nobody up
  Advance(options_.read_timeout - 1ms);
  EXPECT_EQ(counters().read_timeout, 0u);
  Advance(2ms);
  ASSERT_TRUE(WaitFor([&] { return counters().read_timeout == 2; }));
  EXPECT_TRUE(testing::WaitForEof(silent));
  EXPECT_TRUE(testing::WaitForEof(partial));
  ::close(silent);
  ::close(partial);
}

TEST_F(IpcServerTest, PeerThatNeverReadsItsReplyIsCutOffAtTheWriteTimeout) {
  // A reply larger than the (tiny) send buffer: the write blocks until the peer reads, which it never does.
  authorizer_.set_decision({Verdict::kDeny, DecisionSource::kPortal, std::string(60000, 'r')});
  StartServer(IpcServerTuning{.send_buffer_bytes = 4096});
  std::string f;
  EncodeRequestFrame(ConnectRequest("slow-reader"), &f);
  const int fd = SendRaw(f);
  ASSERT_TRUE(WaitFor([&] { return counters().replies_deny == 1; }));
  EXPECT_EQ(server_->open_connections(), 1u);
  ExpectStillServing();
  Advance(options_.read_timeout + 1ms);
  ASSERT_TRUE(WaitFor([&] { return counters().write_timeout == 1; }));
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  ::close(fd);
}

// Sends a request on a connection the server refuses on accept. The server does not read it and may have answered
// and closed before it goes out, so the send may fail (EPIPE): the reply must be readable either way.
void SendRequestMaybeTooLate(int fd, const std::string& user) {
  std::string request;
  EncodeRequestFrame(ConnectRequest(user), &request);
  [[maybe_unused]] const bool sent = testing::SendAll(fd, request);
}

// A refused peer is told so (an error reply, then the close), so that a helper never takes a refusal for an agent
// that is down. Here the allowed list leaves out the test's own uid.
TEST_F(IpcServerTest, DisallowedUidIsRefusedWithAnErrorReply) {
  options_.allowed_uids = {::getuid() + 1};
  StartServer();
  const int fd = Connect();
  ASSERT_GE(fd, 0);
  SendRequestMaybeTooLate(fd, "mallory");
  auto r = testing::ReadResponse(fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->error.find("ipc.allowed_uids"), std::string::npos) << r->error;
  EXPECT_EQ(r->verdict, WireVerdict::kUnspecified);
  EXPECT_TRUE(testing::WaitForEof(fd));
  ::close(fd);
  EXPECT_EQ(counters().refused_uid, 1u);
  EXPECT_EQ(counters().refusal_reply_failed, 0u);
  EXPECT_EQ(counters().accepted, 0u);
  EXPECT_TRUE(authorizer_.requests().empty());
}

TEST_F(IpcServerTest, PastMaxConnectionsAPeerIsRefusedWithAnErrorReply) {
  options_.max_connections = 1;
  StartServer();
  const int held = Connect();  // sends nothing: stays open until the read timeout, which the FakeClock never reaches
  ASSERT_GE(held, 0);
  ASSERT_TRUE(WaitFor([&] { return server_->open_connections() == 1; }));
  const int fd = Connect();
  ASSERT_GE(fd, 0);
  SendRequestMaybeTooLate(fd, "late");
  auto r = testing::ReadResponse(fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->error.find("ipc.max_connections"), std::string::npos) << r->error;
  EXPECT_TRUE(testing::WaitForEof(fd));
  ::close(fd);
  EXPECT_EQ(counters().too_many_connections, 1u);
  EXPECT_EQ(counters().refusal_reply_failed, 0u);
  EXPECT_TRUE(authorizer_.requests().empty());
  ::close(held);
  ASSERT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  ExpectStillServing();
}

TEST_F(IpcServerTest, ThousandsOfConnectionsAtOnce) {
  // Client and server ends both live in this process: make room for them (the soft limit may be 1024).
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  const int clients = static_cast<int>(std::min<rlim_t>(2000, lim.rlim_cur > 300 ? lim.rlim_cur - 200 : 100));
  options_.max_connections = 64;
  StartServer();
  std::vector<int> fds;
  for (int i = 0; i < clients; ++i) {
    const int fd = Connect();
    if (fd >= 0) fds.push_back(fd);
  }
  ASSERT_EQ(fds.size(), static_cast<std::size_t>(clients));
  ASSERT_TRUE(WaitFor([&] {
    const auto c = counters();
    return c.accepted + c.too_many_connections == fds.size();
  }));
  EXPECT_EQ(counters().accepted, 64u);
  EXPECT_EQ(counters().too_many_connections, fds.size() - 64);
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  ExpectStillServing();
}

// Holds the loop thread inside Authorize until released, then keeps the request undecided: lets a test line up what
// the kernel queues (a connection, its peer's shutdown) before the loop sees any of it.
class GateAuthorizer final : public Authorizer {
 public:
  void Authorize(std::shared_ptr<const IpcRequest>, Clock::MonoTime, Done done) override {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    held_.push_back(std::move(done));
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool released_ = false;
  std::vector<Done> held_;
};

// A refused peer that cannot take its error reply any more (here: it shut down its reading side before the server
// got to it) is counted; the refusal itself stands.
TEST_F(IpcServerTest, ARefusalThatCannotBeDeliveredIsCounted) {
  options_.max_connections = 1;
  GateAuthorizer gate;
  server_ = std::make_unique<IpcServer>(options_, gate, &events_, clock_);
  ASSERT_TRUE(server_->Start().ok());
  const int held = Connect();  // takes the only slot and stays undecided
  ASSERT_GE(held, 0);
  std::string request;
  EncodeRequestFrame(ConnectRequest("first"), &request);
  ASSERT_TRUE(testing::SendAll(held, request));
  gate.WaitEntered();  // the loop thread is inside Authorize: nothing below is accepted before Release
  const int late = Connect();
  ASSERT_GE(late, 0);
  ASSERT_EQ(::shutdown(late, SHUT_RD), 0);  // on AF_UNIX this shuts the server's sending side of the connection
  gate.Release();
  ASSERT_TRUE(WaitFor([&] { return counters().refusal_reply_failed == 1; }));
  EXPECT_EQ(counters().too_many_connections, 1u);
  ::close(late);
  ::close(held);
  server_.reset();  // before `gate`, which it uses
}

TEST_F(IpcServerTest, BackstopDeniesWhenTheAuthorizerNeverAnswers) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  std::string f;
  EncodeRequestFrame(ConnectRequest("erin"), &f);
  const int fd = SendRaw(f);
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  EXPECT_EQ(authorizer_.deadlines()[0], clock_.now() + options_.decision_timeout);
  Advance(options_.decision_timeout);  // the authorizer's own deadline: still its turn
  Advance(60ms);                       // past the backstop grace
  auto r = testing::ReadResponse(fd);
  ::close(fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->verdict, WireVerdict::kDeny);
  EXPECT_EQ(r->source, WireSource::kFailClose);
  EXPECT_EQ(counters().backstop_timeouts, 1u);
  authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""});
  ASSERT_TRUE(WaitFor([&] { return counters().late_completions == 1; }));
  EXPECT_EQ(counters().replies_allow, 0u);
}

TEST_F(IpcServerTest, HelperDeadlineShortensTheAuthorizerDeadline) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  IpcRequest q = ConnectRequest();
  q.deadline_ms = 1000;
  std::string f;
  EncodeRequestFrame(q, &f);
  const int fd = SendRaw(f);
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  // What the helper has left, minus the margin for the reply to travel.
  EXPECT_EQ(authorizer_.deadlines()[0], clock_.now() + 900ms);
  authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""});
  EXPECT_TRUE(testing::ReadResponse(fd).has_value());
  ::close(fd);
}

TEST_F(IpcServerTest, HelperThatLeavesWhileWeDecide) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  std::string f;
  EncodeRequestFrame(ConnectRequest(), &f);
  const int fd = SendRaw(f);
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  ::close(fd);  // ocserv killed the helper
  ASSERT_TRUE(WaitFor([&] { return counters().peer_gone == 1; }));
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""});
  ASSERT_TRUE(WaitFor([&] { return counters().late_completions == 1; }));
}

TEST_F(IpcServerTest, RefusesToStartWhileAnotherAgentListens) {
  StartServer();
  IpcServer second(options_, authorizer_, nullptr, clock_);
  const absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  ExpectStillServing();  // and the first one's socket is untouched
}

TEST_F(IpcServerTest, ReplacesAStaleSocketFile) {
  {  // a socket file whose owner died: bound, never listening, closed
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, options_.socket_path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  StartServer();
  ExpectStillServing();
}

TEST_F(IpcServerTest, RefusesToReplaceAFileThatIsNotASocket) {
  std::ofstream(options_.socket_path) << "not a socket";
  IpcServer server(options_, authorizer_, nullptr, clock_);
  EXPECT_EQ(server.Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(IpcServerTest, CreatesTheDirectoryAndSetsTheSocketMode) {
  options_.socket_path = dir_.path() + "/run/ocserv-agent/auth.sock";
  StartServer();
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() + "/run/ocserv-agent").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat(options_.socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  server_->Stop(0ms);
  EXPECT_NE(::stat(options_.socket_path.c_str(), &st), 0);  // removed on stop
}

TEST_F(IpcServerTest, StopDrainsRequestsInFlight) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  std::string f;
  EncodeRequestFrame(ConnectRequest(), &f);
  const int fd = SendRaw(f);
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  std::thread stopper([&] { server_->Stop(10s); });
  struct stat st {};
  ASSERT_TRUE(WaitFor([&] { return ::stat(options_.socket_path.c_str(), &st) != 0; }));  // no longer accepting
  authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""});
  auto r = testing::ReadResponse(fd);
  stopper.join();
  ::close(fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->verdict, WireVerdict::kAllow);
  EXPECT_EQ(counters().abandoned_at_stop, 0u);
}

TEST_F(IpcServerTest, StopAbandonsWhatIsLeftAfterTheGracePeriod) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  std::string f;
  EncodeRequestFrame(ConnectRequest(), &f);
  const int fd = SendRaw(f);
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  server_->Stop(20ms);
  EXPECT_TRUE(testing::WaitForEof(fd));
  ::close(fd);
  EXPECT_EQ(counters().abandoned_at_stop, 1u);
  authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""});  // after Stop: a harmless no-op
}

TEST_F(IpcServerTest, ConcurrentClientsWithCompletionsFromAnotherThread) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  std::atomic<bool> done{false};
  std::thread portal([&] {
    while (!done.load()) {
      authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""});
      std::this_thread::yield();
    }
  });
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = RoundTrip(options_.socket_path, ConnectRequest("u" + std::to_string(t)));
        if (r && r->verdict == WireVerdict::kAllow) ok.fetch_add(1);
      }
    });
  }
  for (auto& c : clients) c.join();
  done.store(true);
  portal.join();
  EXPECT_EQ(ok.load(), 400);
  EXPECT_EQ(counters().replies_allow, 400u);
}

// "Only real sessions": a connect is recorded (OnAdmitDelivered) only when its allow was written to a helper that
// was still waiting — never for a deny, an answer after the helper left, or one after the backstop answered.
TEST_F(IpcServerTest, AdmitIsRecordedOnlyWhenWrittenToAWaitingHelper) {
  StartServer();
  ASSERT_TRUE(RoundTrip(options_.socket_path, ConnectRequest("alice")).has_value());
  ASSERT_TRUE(WaitFor([&] { return events_.admits().size() == 1; }));
  EXPECT_EQ(events_.admits()[0].first->username, "alice");
  EXPECT_EQ(events_.admits()[0].second, DecisionSource::kPortal);
  authorizer_.set_decision({Verdict::kDeny, DecisionSource::kPortal, "no"});
  ASSERT_TRUE(RoundTrip(options_.socket_path, ConnectRequest("bob")).has_value());
  authorizer_.set_decision({Verdict::kAllow, DecisionSource::kFailOpen, ""});
  ASSERT_TRUE(RoundTrip(options_.socket_path, ConnectRequest("carol")).has_value());
  ASSERT_TRUE(WaitFor([&] { return events_.admits().size() == 2; }));
  EXPECT_EQ(events_.admits()[1].first->username, "carol") << "the deny for bob is no session";
  EXPECT_EQ(events_.admits()[1].second, DecisionSource::kFailOpen);
}

// The loop records delivered admits once nothing else is ready (or 64 have gathered), so that building the session
// event never stands between a reply and the next request: under a load that keeps it busy every admit is still
// recorded exactly once, and those delivered just before Stop are recorded by Stop.
TEST_F(IpcServerTest, EveryDeliveredAdmitIsRecordedOnceUnderLoadAndAtStop) {
  StartServer();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        auto r = RoundTrip(options_.socket_path, ConnectRequest("u" + std::to_string(t)));
        if (r && r->verdict == WireVerdict::kAllow) ok.fetch_add(1);
      }
    });
  }
  for (auto& c : clients) c.join();
  server_->Stop(1s);
  EXPECT_EQ(ok.load(), 800);
  EXPECT_EQ(events_.admits().size(), 800u) << "no waiting: Stop records what is left";
}

TEST_F(IpcServerTest, NoAdmitIsRecordedForAHelperThatLeftBeforeTheAnswer) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  std::string f;
  EncodeRequestFrame(ConnectRequest("gone"), &f);
  const int fd = SendRaw(f);
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  ::close(fd);  // ocserv killed the helper (or it timed out) before the agent answered
  ASSERT_TRUE(WaitFor([&] { return counters().peer_gone == 1; }));
  authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""});
  // The late completion is handled on the loop thread, where an admit would have been recorded first.
  ASSERT_TRUE(WaitFor([&] { return counters().late_completions == 1; }));
  EXPECT_TRUE(events_.admits().empty());
}

TEST_F(IpcServerTest, NoAdmitIsRecordedForAnAllowAfterTheBackstop) {
  authorizer_.set_mode(FakeAuthorizer::Mode::kHold);
  StartServer();
  std::string f;
  EncodeRequestFrame(ConnectRequest("slow"), &f);
  const int fd = SendRaw(f);
  ASSERT_TRUE(WaitFor([&] { return authorizer_.held() == 1; }));
  Advance(options_.decision_timeout);
  Advance(60ms);  // the backstop denies
  auto r = testing::ReadResponse(fd);
  ::close(fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->verdict, WireVerdict::kDeny);
  authorizer_.CompleteAll({Verdict::kAllow, DecisionSource::kPortal, ""});
  ASSERT_TRUE(WaitFor([&] { return counters().late_completions == 1; }));
  EXPECT_TRUE(events_.admits().empty());
}

}  // namespace
}  // namespace oa
