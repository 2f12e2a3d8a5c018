// The management API over real mTLS on loopback: handshake refusals, identities and roles, occtl allow-listing with
// a recording occtl double (tests/fakes/fake_occtl.sh), UpdateConfig file handling, health tiers, logs, AgentControl
// against a FakeControlPlane, reflection, and the negotiated TLS versions.
#include "agent/management/management_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "agent/v1/agent.grpc.pb.h"
#include "common/log_ring_sink.h"
#include "fake_control_plane.h"
#include "ocserv_agent/v1/control.grpc.pb.h"

namespace oa {
namespace {

namespace fs = std::filesystem;
namespace av1 = agent::v1;
namespace cv1 = ocserv_agent::v1;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ManagementServerTest : public ::testing::Test {
 protected:
  // The PKI is made at build time (tests/agent/management/CMakeLists.txt), shared read-only by every test.
  static void SetUpTestSuite() { ASSERT_TRUE(fs::exists(pki_ / ".complete")) << pki_; }

  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "oa-mgmt-XXXXXX").string();
    dir_ = ::mkdtemp(t.data());
    fs::create_directory(dir_ / "per-user");
    fs::create_directory(dir_ / "per-group");
    fs::copy_file(OA_FAKE_OCCTL, dir_ / "occtl");
    fs::permissions(dir_ / "occtl", fs::perms::owner_all);
    ring_ = std::make_shared<LogRing>(256);

    mopts_.listen = "127.0.0.1:0";
    mopts_.cert_file = (pki_ / "management.pem").string();
    mopts_.key_file = (pki_ / "management.key").string();
    mopts_.client_ca = (pki_ / "ca.pem").string();
    mopts_.clients = {{"admin.test", ManagementRole::kAdmin},
                      {"operator.test", ManagementRole::kOperator},
                      {"viewer.test", ManagementRole::kViewer},
                      {"cn-only.test", ManagementRole::kViewer}};
    oopts_.occtl_path = (dir_ / "occtl").string();
    oopts_.occtl_socket = (dir_ / "occtl.socket").string();
    oopts_.config_per_user_dir = (dir_ / "per-user").string();
    oopts_.config_per_group_dir = (dir_ / "per-group").string();
    oopts_.main_config_path = (dir_ / "ocserv.conf").string();
    oopts_.command_timeout_max = std::chrono::seconds(30);
  }

  void TearDown() override {
    if (server_) server_->Stop(std::chrono::milliseconds(100));
    server_.reset();
    if (audit_sink_) {
      auto& sinks = spdlog::default_logger()->sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), audit_sink_), sinks.end());
    }
    if (occtl_listener_ >= 0) ::close(occtl_listener_);
    fs::remove_all(dir_);
  }

  void Start() {
    server_ = std::make_unique<ManagementServer>(mopts_, oopts_, control_, SystemClock::instance(), ring_);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  // "admin" -> mgmt-admin.pem, "rogue" -> rogue-client.pem (other CA), "" -> no client certificate.
  std::shared_ptr<grpc::Channel> Channel(const std::string& who) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = Slurp(pki_ / "ca.pem");
    if (!who.empty()) {
      const std::string base = who == "rogue" ? "rogue-client" : "mgmt-" + who;
      o.pem_cert_chain = Slurp(pki_ / (base + ".pem"));
      o.pem_private_key = Slurp(pki_ / (base + ".key"));
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::SslCredentials(o), args);
  }
  std::unique_ptr<av1::AgentService::Stub> Agent(const std::string& who) { return av1::AgentService::NewStub(Channel(who)); }
  std::unique_ptr<cv1::AgentControl::Stub> Control(const std::string& who) {
    return cv1::AgentControl::NewStub(Channel(who));
  }

  static void Deadline(grpc::ClientContext& ctx, std::chrono::seconds s = std::chrono::seconds(10)) {
    ctx.set_deadline(std::chrono::system_clock::now() + s);
  }

  grpc::Status Health(const std::string& who, int tier, av1::HealthCheckResponse* resp = nullptr) {
    grpc::ClientContext ctx;
    Deadline(ctx);
    av1::HealthCheckRequest req;
    req.set_tier(tier);
    av1::HealthCheckResponse local;
    return Agent(who)->HealthCheck(&ctx, req, resp ? resp : &local);
  }

  grpc::Status Exec(const std::string& who, const std::string& type, std::vector<std::string> args,
                    av1::CommandResponse* resp = nullptr, int timeout_seconds = 0) {
    grpc::ClientContext ctx;
    Deadline(ctx, std::chrono::seconds(20));
    av1::CommandRequest req;
    req.set_request_id("r1");
    req.set_command_type(type);
    for (auto& a : args) req.add_args(a);
    req.set_timeout_seconds(timeout_seconds);
    av1::CommandResponse local;
    return Agent(who)->ExecuteCommand(&ctx, req, resp ? resp : &local);
  }

  grpc::Status Update(av1::ConfigType type, const std::string& name, const std::string& content,
                      av1::ConfigUpdateResponse* resp = nullptr, bool validate_only = false, bool backup = true,
                      const std::string& who = "admin") {
    grpc::ClientContext ctx;
    Deadline(ctx);
    av1::ConfigUpdateRequest req;
    req.set_config_type(type);
    req.set_config_name(name);
    req.set_config_content(content);
    req.set_validate_only(validate_only);
    req.set_create_backup(backup);
    av1::ConfigUpdateResponse local;
    return Agent(who)->UpdateConfig(&ctx, req, resp ? resp : &local);
  }

  // Each recorded occtl invocation as its argv (without argv[0]).
  std::vector<std::vector<std::string>> OcctlCalls() const {
    std::vector<std::vector<std::string>> calls;
    std::ifstream in(dir_ / "occtl.calls");
    std::vector<std::string> cur;
    for (std::string line; std::getline(in, line);) {
      if (line == "----") {
        calls.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(line);
      }
    }
    return calls;
  }
  // From now on, every line the default logger writes is also kept, to read back with AuditLines().
  void CaptureLogs() {
    audit_ring_ = std::make_shared<LogRing>(1024);
    audit_sink_ = MakeLogRingSink(audit_ring_);
    spdlog::default_logger()->sinks().push_back(audit_sink_);
  }
  // Each log record that contains "management audit:", as one string per record (one spdlog call).
  std::vector<std::string> AuditLines() const {
    std::vector<std::string> out;
    for (const auto& r : audit_ring_->Since({})) {
      if (r.message.find("management audit:") != std::string::npos) out.push_back(r.message);
    }
    return out;
  }

  void OcctlMode(const std::string& mode) { std::ofstream(dir_ / "occtl.mode") << mode; }

  void ListenOnOcctlSocket() {
    occtl_listener_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", oopts_.occtl_socket.c_str());
    ASSERT_EQ(::bind(occtl_listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(occtl_listener_, 8), 0);
  }

  static inline const fs::path pki_{OA_TEST_PKI_DIR};
  fs::path dir_;
  ManagementOptions mopts_;
  OcservOptions oopts_;
  testing::FakeControlPlane control_;
  std::shared_ptr<LogRing> ring_;
  std::unique_ptr<ManagementServer> server_;
  int occtl_listener_ = -1;
  std::shared_ptr<LogRing> audit_ring_;
  std::shared_ptr<spdlog::sinks::sink> audit_sink_;
};

// --- TLS and identity -------------------------------------------------------------------------------------------

TEST_F(ManagementServerTest, AdminIsServed) {
  Start();
  av1::HealthCheckResponse resp;
  ASSERT_TRUE(Health("admin", 1, &resp).ok());
  EXPECT_TRUE(resp.healthy());
  EXPECT_EQ(resp.checks().at("alive"), "ok");
  EXPECT_GT(resp.timestamp().seconds(), 0);
  EXPECT_EQ(server_->counters().ok, 1u);
}

TEST_F(ManagementServerTest, MissingClientCertificateIsRejectedAtHandshake) {
  Start();
  const auto st = Health("", 1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_EQ(server_->counters().calls, 0u) << "no RPC may reach a handler";
}

TEST_F(ManagementServerTest, CertificateFromAnotherCaIsRejectedAtHandshake) {
  Start();
  const auto st = Health("rogue", 1);  // SAN admin.test, but signed by the rogue CA
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_EQ(server_->counters().calls, 0u);
}

TEST_F(ManagementServerTest, UnlistedIdentityIsUnauthenticated) {
  Start();
  EXPECT_EQ(Health("stranger", 1).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(server_->counters().unauthenticated, 1u);
}

TEST_F(ManagementServerTest, CommonNameIdentifiesACertificateWithoutSan) {
  Start();
  EXPECT_TRUE(Health("cn-only", 1).ok());
  server_->Stop(std::chrono::milliseconds(100));
  mopts_.clients = {{"admin.test", ManagementRole::kAdmin}};
  Start();
  EXPECT_EQ(Health("cn-only", 1).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ManagementServerTest, ViewerCannotExecuteCommands) {
  Start();
  EXPECT_EQ(Exec("viewer", "occtl", {"show", "users"}).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Exec("operator", "occtl", {"show", "users"}).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(OcctlCalls().empty());
  EXPECT_EQ(server_->counters().permission_denied, 2u);
}

TEST_F(ManagementServerTest, RolesGateEveryService) {
  Start();
  EXPECT_EQ(Update(av1::CONFIG_TYPE_PER_USER, "alice", "dns = 10.0.0.53", nullptr, false, true, "operator")
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::SetFailModeRequest req;
    req.set_fail_mode(cv1::FAIL_MODE_OPEN);
    cv1::SetFailModeResponse resp;
    EXPECT_EQ(Control("viewer")->SetFailMode(&ctx, req, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(control_.fail_mode(), FailMode::kStale);
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::GetStatusResponse resp;
    EXPECT_TRUE(Control("viewer")->GetStatus(&ctx, {}, &resp).ok());
  }
  EXPECT_FALSE(fs::exists(dir_ / "per-user" / "alice"));
}

// AgentControl.Revoke / Restore: operator role; a bad subject is INVALID_ARGUMENT before the control plane is asked
// (the fake control plane does not implement revocations: UNIMPLEMENTED shows the call got through the gate).
TEST_F(ManagementServerTest, RevokeAndRestoreNeedTheOperatorRoleAndASubject) {
  Start();
  auto revoke = [&](const std::string& who, const std::string& user) {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::RevokeRequest req;
    if (!user.empty()) req.set_user(user);
    cv1::RevokeResponse resp;
    return Control(who)->Revoke(&ctx, req, &resp).error_code();
  };
  EXPECT_EQ(revoke("viewer", "alice"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(revoke("operator", ""), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(revoke("operator", "alice"), grpc::StatusCode::UNIMPLEMENTED);
  grpc::ClientContext ctx;
  Deadline(ctx);
  cv1::RestoreRequest req;
  req.set_group("staff");
  cv1::RestoreResponse resp;
  EXPECT_EQ(Control("viewer")->Restore(&ctx, req, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// --- ExecuteCommand -----------------------------------------------------------------------------------------------

TEST_F(ManagementServerTest, AllowListedCommandRunsWithExactArgv) {
  Start();
  av1::CommandResponse resp;
  ASSERT_TRUE(Exec("admin", "occtl", {"show", "status"}, &resp).ok());
  EXPECT_TRUE(resp.success());
  EXPECT_EQ(resp.request_id(), "r1");
  EXPECT_EQ(resp.exit_code(), 0);
  EXPECT_NE(resp.stdout().find("Status: online"), std::string::npos);
  ASSERT_TRUE(Exec("admin", "disconnect user", {"alice"}, &resp).ok());
  const auto calls = OcctlCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], (std::vector<std::string>{"-s", oopts_.occtl_socket, "-j", "show", "status"}));
  EXPECT_EQ(calls[1], (std::vector<std::string>{"-s", oopts_.occtl_socket, "disconnect", "user", "alice"}));
}

TEST_F(ManagementServerTest, FailingCommandReportsItsExitCodeAndStderr) {
  Start();
  OcctlMode("fail");
  av1::CommandResponse resp;
  ASSERT_TRUE(Exec("admin", "occtl", {"show", "users"}, &resp).ok());
  EXPECT_FALSE(resp.success());
  EXPECT_EQ(resp.exit_code(), 3);
  EXPECT_NE(resp.stderr().find("could not connect"), std::string::npos);
}

// Output that is not UTF-8 must still arrive as a parsable response (proto3 strings are checked on parse).
TEST_F(ManagementServerTest, CommandOutputThatIsNotUtf8StillArrives) {
  Start();
  OcctlMode("binary");
  av1::CommandResponse resp;
  ASSERT_TRUE(Exec("admin", "occtl", {"show", "status"}, &resp).ok());
  EXPECT_EQ(resp.stdout(), "user ?? caf\xc3\xa9\n");
  EXPECT_EQ(resp.stderr(), "warn ?\n");
  EXPECT_TRUE(resp.success());
}

TEST_F(ManagementServerTest, InjectionAttemptsRunNothing) {
  Start();
  const std::vector<std::pair<std::string, std::vector<std::string>>> attempts = {
      {"occtl", {"show", "user", "alice;reboot"}},
      {"occtl", {"show", "user", "alice|id"}},
      {"occtl", {"show", "user", "$(id)"}},
      {"occtl", {"show", "user", "`id`"}},
      {"occtl", {"show", "user", "alice\nreload"}},
      {"occtl", {"show", "user", "-j"}},
      {"occtl", {"-s", "/tmp/other.socket", "show", "users"}},
      {"occtl", {"show", "user", "../../etc/passwd"}},
      {"occtl", {"show", "user", std::string(10 * 1024, 'x')}},
      {"occtl", {"stop", "now"}},
      {"sh", {"-c", "id"}},
      {"show users; id", {}},
  };
  for (const auto& [type, args] : attempts) {
    EXPECT_EQ(Exec("admin", type, args).error_code(), grpc::StatusCode::INVALID_ARGUMENT) << type;
  }
  EXPECT_TRUE(OcctlCalls().empty()) << "occtl must not have run";
  EXPECT_EQ(server_->counters().commands_run, 0u);
  EXPECT_EQ(server_->counters().invalid_argument, attempts.size());
}

TEST_F(ManagementServerTest, CommandTimeoutKillsOcctl) {
  Start();
  OcctlMode("sleep");
  av1::CommandResponse resp;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Exec("admin", "occtl", {"show", "users"}, &resp, /*timeout_seconds=*/1).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_FALSE(resp.success());
  EXPECT_EQ(resp.exit_code(), 128 + SIGKILL);
  EXPECT_NE(resp.error_message().find("killed"), std::string::npos);
  EXPECT_EQ(server_->counters().commands_timed_out, 1u);
}

TEST_F(ManagementServerTest, RequestedTimeoutIsCappedByConfig) {
  oopts_.command_timeout_max = std::chrono::milliseconds(500);
  Start();
  OcctlMode("sleep");
  av1::CommandResponse resp;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Exec("admin", "occtl", {"show", "users"}, &resp, /*timeout_seconds=*/600).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_FALSE(resp.success());
}

// --- UpdateConfig -------------------------------------------------------------------------------------------------

TEST_F(ManagementServerTest, BadConfigNamesAndInjectedDirectivesAreRefused) {
  Start();
  for (const std::string name : {"../../etc/passwd", "a/b", ".", "..", ""}) {
    EXPECT_EQ(Update(av1::CONFIG_TYPE_PER_USER, name, "dns = 10.0.0.53").error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << name;
  }
  EXPECT_EQ(Update(av1::CONFIG_TYPE_PER_USER, "alice", "route = 10.0.0.0/8\nconnect-script = /tmp/evil").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Update(av1::CONFIG_TYPE_PER_GROUP, "staff", "dns = 10.0.0.53\r\nauth = plain").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Update(av1::CONFIG_TYPE_UNSPECIFIED, "alice", "dns = 10.0.0.53").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(fs::is_empty(dir_ / "per-user"));
  EXPECT_TRUE(fs::is_empty(dir_ / "per-group"));
  EXPECT_FALSE(fs::exists("/etc/passwd.tmp"));
}

TEST_F(ManagementServerTest, ValidateOnlyWritesNothing) {
  Start();
  av1::ConfigUpdateResponse resp;
  ASSERT_TRUE(Update(av1::CONFIG_TYPE_PER_USER, "alice", "dns = 10.0.0.53", &resp, /*validate_only=*/true).ok());
  EXPECT_TRUE(resp.success());
  EXPECT_TRUE(fs::is_empty(dir_ / "per-user"));
}

TEST_F(ManagementServerTest, WritesPerUserAndPerGroupWithBackup) {
  Start();
  std::ofstream(dir_ / "per-user" / "alice") << "route = 10.0.0.0/8\n";
  av1::ConfigUpdateResponse resp;
  ASSERT_TRUE(Update(av1::CONFIG_TYPE_PER_USER, "alice", "dns = 10.0.0.53\nroute=10.1.0.0/16\n", &resp).ok());
  EXPECT_TRUE(resp.success());
  EXPECT_EQ(Slurp(dir_ / "per-user" / "alice"), "dns = 10.0.0.53\nroute = 10.1.0.0/16\n");
  ASSERT_FALSE(resp.backup_path().empty());
  EXPECT_EQ(fs::path(resp.backup_path()), fs::canonical(resp.backup_path()));
  EXPECT_EQ(Slurp(resp.backup_path()), "route = 10.0.0.0/8\n");

  ASSERT_TRUE(Update(av1::CONFIG_TYPE_PER_GROUP, "staff", "max-same-clients = 2", &resp).ok());
  EXPECT_EQ(Slurp(dir_ / "per-group" / "staff"), "max-same-clients = 2\n");
  EXPECT_TRUE(resp.backup_path().empty()) << "there was nothing to back up";
  EXPECT_EQ(server_->counters().config_writes, 2u);
}

TEST_F(ManagementServerTest, FailedWriteLeavesTheExistingFileIntact) {
  Start();
  std::ofstream(dir_ / "per-user" / "alice") << "route = 10.0.0.0/8\n";
  std::ofstream(dir_ / "per-user" / ".backup") << "a file where the backup directory should be";
  av1::ConfigUpdateResponse resp;
  const auto st = Update(av1::CONFIG_TYPE_PER_USER, "alice", "dns = 10.0.0.53", &resp);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(Slurp(dir_ / "per-user" / "alice"), "route = 10.0.0.0/8\n");
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir_ / "per-user")) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{".backup", "alice"})) << "no temp file left behind";
}

TEST_F(ManagementServerTest, MainConfigIsRefusedUnlessEnabled) {
  Start();
  EXPECT_EQ(Update(av1::CONFIG_TYPE_MAIN, "ocserv.conf", "tcp-port = 443").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_FALSE(fs::exists(dir_ / "ocserv.conf"));
  server_->Stop(std::chrono::milliseconds(100));
  mopts_.allow_main_config_update = true;
  Start();
  ASSERT_TRUE(Update(av1::CONFIG_TYPE_MAIN, "ignored", "tcp-port = 443").ok());
  EXPECT_EQ(Slurp(dir_ / "ocserv.conf"), "tcp-port = 443\n");
}

// --- HealthCheck ----------------------------------------------------------------------------------------------------

TEST_F(ManagementServerTest, HealthTiersRunRealChecks) {
  ListenOnOcctlSocket();
  Start();
  av1::HealthCheckResponse resp;
  ASSERT_TRUE(Health("viewer", 3, &resp).ok());
  EXPECT_TRUE(resp.healthy()) << resp.status_message();
  for (const char* c : {"alive", "ipc_socket", "portal_breaker", "occtl_socket", "occtl_show_status",
                        "config_per_user_dir_writable", "config_per_group_dir_writable"}) {
    ASSERT_TRUE(resp.checks().contains(c)) << c;
    EXPECT_EQ(resp.checks().at(c).substr(0, 2), "ok") << c << ": " << resp.checks().at(c);
  }
  EXPECT_EQ(OcctlCalls().size(), 1u);

  ASSERT_TRUE(Health("viewer", 1, &resp).ok());
  EXPECT_EQ(resp.checks().size(), 1u);
}

TEST_F(ManagementServerTest, HealthReportsWhatFailed) {
  Start();  // nothing listens on the occtl socket
  control_.set_ipc_listening(false);
  control_.set_breaker_state("open");
  OcctlMode("fail");
  fs::remove_all(dir_ / "per-group");
  av1::HealthCheckResponse resp;
  ASSERT_TRUE(Health("viewer", 3, &resp).ok());
  EXPECT_FALSE(resp.healthy());
  EXPECT_EQ(resp.checks().at("alive"), "ok");
  EXPECT_EQ(resp.checks().at("ipc_socket"), "not listening");
  EXPECT_EQ(resp.checks().at("portal_breaker"), "open");
  EXPECT_NE(resp.checks().at("occtl_socket").substr(0, 2), "ok");
  EXPECT_EQ(resp.checks().at("occtl_show_status"), "exit code 3");
  EXPECT_EQ(resp.checks().at("config_per_user_dir_writable"), "ok");
  EXPECT_NE(resp.checks().at("config_per_group_dir_writable"), "ok");
}

// --- StreamLogs -----------------------------------------------------------------------------------------------------

TEST_F(ManagementServerTest, StreamLogsServesTheRingAndFollows) {
  Start();
  LogRecord r;
  r.time = std::chrono::system_clock::now();
  r.level = "warning";
  r.message = "portal breaker opened";
  ring_->Append(r);

  grpc::ClientContext ctx;
  Deadline(ctx);
  av1::LogStreamRequest req;
  req.set_log_source("agent");
  req.set_follow(true);
  auto stub = Agent("viewer");
  auto reader = stub->StreamLogs(&ctx, req);
  av1::LogEntry e;
  bool found = false;
  while (!found && reader->Read(&e)) found = e.message() == "portal breaker opened";
  ASSERT_TRUE(found);
  EXPECT_EQ(e.level(), "warning");
  EXPECT_EQ(e.source(), "agent");

  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r.message = "appended while following";
    ring_->Append(r);
  });
  found = false;
  while (!found && reader->Read(&e)) found = e.message() == "appended while following";
  later.join();
  EXPECT_TRUE(found);
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(ManagementServerTest, StreamLogsSendsValidUtf8) {
  Start();
  LogRecord r;
  r.time = std::chrono::system_clock::now();
  r.level = "info";
  r.logger = "ipc\xff";
  r.message = "helper sent hostname \xc0\xaf" "etc caf\xc3\xa9";
  ring_->Append(r);
  grpc::ClientContext ctx;
  Deadline(ctx);
  av1::LogStreamRequest req;
  auto reader = Agent("viewer")->StreamLogs(&ctx, req);
  av1::LogEntry e;
  ASSERT_TRUE(reader->Read(&e)) << "an invalid proto3 string would fail the client's parse";
  EXPECT_EQ(e.message(), "helper sent hostname ??etc caf\xc3\xa9");
  EXPECT_EQ(e.fields().at("logger"), "ipc?");
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(ManagementServerTest, StreamLogsOtherSourcesAreUnimplemented) {
  Start();
  grpc::ClientContext ctx;
  Deadline(ctx);
  av1::LogStreamRequest req;
  req.set_log_source("ocserv");
  auto reader = Agent("viewer")->StreamLogs(&ctx, req);
  av1::LogEntry e;
  EXPECT_FALSE(reader->Read(&e));
  const auto st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(st.error_message().find("agent"), std::string::npos);
}

TEST_F(ManagementServerTest, StreamLogsStartTimeIsValidatedAndClamped) {
  // Issue 14 item 7: seconds = INT64_MAX overflowed the nanosecond conversion (undefined behaviour).
  Start();
  LogRecord r;
  r.time = std::chrono::system_clock::now();
  r.level = "info";
  r.message = "a line from now";
  ring_->Append(r);
  auto read_all = [&](std::int64_t seconds, int nanos, std::vector<std::string>* messages) {
    grpc::ClientContext ctx;
    Deadline(ctx);
    av1::LogStreamRequest req;
    req.mutable_start_time()->set_seconds(seconds);
    req.mutable_start_time()->set_nanos(nanos);
    auto reader = Agent("viewer")->StreamLogs(&ctx, req);
    av1::LogEntry e;
    while (reader->Read(&e)) messages->push_back(e.message());
    return reader->Finish();
  };
  std::vector<std::string> got;
  auto st = read_all(std::numeric_limits<std::int64_t>::max(), 0, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_EQ(read_all(std::numeric_limits<std::int64_t>::min(), 0, &got).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(read_all(0, -1, &got).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(got.empty());
  // 9999-12-31T23:59:59Z is a valid Timestamp past system_clock's range: clamped, it selects nothing.
  EXPECT_TRUE(read_all(253402300799, 999999999, &got).ok());
  EXPECT_TRUE(got.empty());
  // 0001-01-01: everything kept.
  EXPECT_TRUE(read_all(-62135596800, 0, &got).ok());
  EXPECT_EQ(got, std::vector<std::string>{"a line from now"});
}

// --- AgentControl ---------------------------------------------------------------------------------------------------

TEST_F(ManagementServerTest, GetStatusReportsTheControlPlane) {
  StatusSnapshot s;
  s.version = "0.1.0";
  s.agent_id = "vpn-1";
  s.uptime = std::chrono::seconds(42);
  s.breaker_counters = {{"failures", 3}};
  s.decisions_by_source = {{"portal", 10}, {"fail_close", 2}};
  s.stale_fallback = StaleFallback::kOpen;
  s.decisions_by_verdict = {{"allow", 10}, {"deny", 2}};
  s.portal = {{"calls", 11}, {"error", 1}};
  s.ipc = {{"accepted", 12}, {"refused_uid", 1}};
  s.sessions = {{"disconnects", 4}};
  control_.set_status(s);
  control_.AddCacheEntry("alice", "staff");
  Start();
  grpc::ClientContext ctx;
  Deadline(ctx);
  cv1::GetStatusResponse resp;
  ASSERT_TRUE(Control("viewer")->GetStatus(&ctx, {}, &resp).ok());
  EXPECT_EQ(resp.version(), "0.1.0");
  EXPECT_EQ(resp.agent_id(), "vpn-1");
  EXPECT_EQ(resp.uptime_seconds(), 42u);
  EXPECT_EQ(resp.fail_mode(), cv1::FAIL_MODE_STALE);
  EXPECT_EQ(resp.fail_mode_name(), "fail-stale");
  EXPECT_EQ(resp.breaker().state(), "closed");
  EXPECT_EQ(resp.breaker().counters().at("failures"), 3u);
  EXPECT_EQ(resp.cache().at("size"), 1u);
  EXPECT_EQ(resp.decisions_by_source().at("fail_close"), 2u);
  EXPECT_EQ(resp.stale_fallback(), "open");
  EXPECT_EQ(resp.decisions_by_verdict().at("allow"), 10u);
  EXPECT_EQ(resp.portal().at("error"), 1u);
  EXPECT_EQ(resp.ipc().at("refused_uid"), 1u);
  EXPECT_EQ(resp.sessions().at("disconnects"), 4u);
  EXPECT_TRUE(resp.ipc_listening());
}

TEST_F(ManagementServerTest, InvalidateCacheAffectsExactlyTheNamedUser) {
  control_.AddCacheEntry("bob", "staff");
  control_.AddCacheEntry("bob", "admins");
  control_.AddCacheEntry("bobby", "staff");
  control_.AddCacheEntry("alice", "staff");
  Start();
  grpc::ClientContext ctx;
  Deadline(ctx);
  cv1::InvalidateCacheRequest req;
  req.set_user("bob");
  cv1::InvalidateCacheResponse resp;
  ASSERT_TRUE(Control("operator")->InvalidateCache(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.removed(), 2u);
  EXPECT_EQ(control_.invalidated_users(), std::vector<std::string>{"bob"});
  EXPECT_TRUE(control_.invalidated_groups().empty());
  EXPECT_EQ(control_.invalidate_all_calls(), 0);
  const auto left = control_.entries();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].user, "bobby");
  EXPECT_EQ(left[1].user, "alice");

  grpc::ClientContext ctx2;
  Deadline(ctx2);
  cv1::InvalidateCacheRequest empty;
  EXPECT_EQ(Control("operator")->InvalidateCache(&ctx2, empty, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// A caller's text with a line break must not become a second, forged audit line.
TEST_F(ManagementServerTest, CallerTextCannotForgeAuditLines) {
  CaptureLogs();
  Start();
  const std::string forged = "bob\nmanagement audit: identity=admin.test role=admin rpc=/x result=OK";
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::InvalidateCacheRequest req;
    req.set_user(forged);
    cv1::InvalidateCacheResponse resp;
    ASSERT_TRUE(Control("operator")->InvalidateCache(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    av1::CommandRequest req;
    req.set_request_id("r1\r\nmanagement audit: forged");
    req.set_command_type("sh");
    av1::CommandResponse resp;
    EXPECT_EQ(Agent("admin")->ExecuteCommand(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  const auto lines = AuditLines();
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) {
    EXPECT_EQ(l.find('\n'), std::string::npos) << l;
    EXPECT_EQ(l.find('\r'), std::string::npos) << l;
    EXPECT_EQ(l.rfind("management audit:", 0), 0u) << l;
  }
  EXPECT_NE(lines[0].find("user=\"bob\\x0amanagement audit:"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("request_id=\"r1\\x0d\\x0amanagement audit: forged\""), std::string::npos) << lines[1];
}

TEST_F(ManagementServerTest, SetFailModeTakesEffectOnTheNextDecision) {
  Start();
  EXPECT_EQ(control_.DecideWithPortalDown().source, DecisionSource::kFailClose);
  grpc::ClientContext ctx;
  Deadline(ctx);
  cv1::SetFailModeRequest req;
  req.set_fail_mode(cv1::FAIL_MODE_OPEN);
  cv1::SetFailModeResponse resp;
  ASSERT_TRUE(Control("operator")->SetFailMode(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.previous(), cv1::FAIL_MODE_STALE);
  EXPECT_EQ(resp.current(), cv1::FAIL_MODE_OPEN);
  const Decision next = control_.DecideWithPortalDown();
  EXPECT_EQ(next.verdict, Verdict::kAllow);
  EXPECT_EQ(next.source, DecisionSource::kFailOpen);

  grpc::ClientContext ctx2;
  Deadline(ctx2);
  req.set_fail_mode(cv1::FAIL_MODE_UNSPECIFIED);
  EXPECT_EQ(Control("operator")->SetFailMode(&ctx2, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(control_.fail_mode(), FailMode::kOpen);
}

TEST_F(ManagementServerTest, SetBreakerOverride) {
  Start();
  grpc::ClientContext ctx;
  Deadline(ctx);
  cv1::SetBreakerRequest req;
  req.set_override(cv1::BREAKER_OVERRIDE_FORCE_OPEN);
  cv1::SetBreakerResponse resp;
  ASSERT_TRUE(Control("operator")->SetBreaker(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.previous(), cv1::BREAKER_OVERRIDE_AUTO);
  EXPECT_EQ(resp.state(), "open");
  EXPECT_EQ(control_.breaker_override(), BreakerOverride::kForceOpen);
}

TEST_F(ManagementServerTest, ListAndDisconnectSessionsThroughOcctl) {
  Start();
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::ListSessionsResponse resp;
    ASSERT_TRUE(Control("viewer")->ListSessions(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.sessions_size(), 2);
    EXPECT_EQ(resp.sessions(0).id(), "1234");
    EXPECT_EQ(resp.sessions(0).username(), "alice");
    EXPECT_EQ(resp.sessions(0).remote_ip(), "198.51.100.7");
  }
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::DisconnectSessionRequest req;
    req.set_id("1234");
    cv1::DisconnectSessionResponse resp;
    ASSERT_TRUE(Control("operator")->DisconnectSession(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.success());
  }
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::DisconnectSessionRequest req;
    req.set_user("bob;reboot");
    cv1::DisconnectSessionResponse resp;
    EXPECT_EQ(Control("operator")->DisconnectSession(&ctx, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  const auto calls = OcctlCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], (std::vector<std::string>{"-s", oopts_.occtl_socket, "-j", "show", "users"}));
  EXPECT_EQ(calls[1], (std::vector<std::string>{"-s", oopts_.occtl_socket, "disconnect", "id", "1234"}));
}

// --- Reflection and TLS versions ------------------------------------------------------------------------------------

// Calls grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with a hand-encoded list_services request
// (field 7, empty string); returns the status and the raw reply.
// `method` lets the same raw call go to a method nobody serves.
grpc::Status ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel, std::string* reply,
    const std::string& method = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(&ctx, method, &cq);
  auto step = [&](auto&& op) {
    void* tag;
    bool ok = false;
    op();
    cq.Next(&tag, &ok);
    return ok;
  };
  step([&] { call->StartCall(reinterpret_cast<void*>(1)); });
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer request(&slice, 1);
  step([&] { call->Write(request, reinterpret_cast<void*>(2)); });
  step([&] { call->WritesDone(reinterpret_cast<void*>(3)); });
  grpc::ByteBuffer response;
  if (step([&] { call->Read(&response, reinterpret_cast<void*>(4)); })) {
    std::vector<grpc::Slice> slices;
    (void)response.Dump(&slices);
    for (const auto& s : slices) reply->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  grpc::Status status;
  step([&] { call->Finish(&status, reinterpret_cast<void*>(5)); });
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

TEST_F(ManagementServerTest, ReflectionIsOffByDefault) {
  Start();
  std::string reply;
  EXPECT_EQ(ListServicesByReflection(Channel("admin"), &reply).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(ListServicesByReflection(Channel("stranger"), &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(reply.empty());
}

TEST_F(ManagementServerTest, ReflectionWhenConfigured) {
  mopts_.reflection = true;
  Start();
  std::string reply;
  EXPECT_TRUE(ListServicesByReflection(Channel("viewer"), &reply).ok()) << "viewer is enough to read the API";
  EXPECT_NE(reply.find("agent.v1.AgentService"), std::string::npos);
  EXPECT_NE(reply.find("ocserv_agent.v1.AgentControl"), std::string::npos);
  EXPECT_EQ(server_->counters().ok, 1u);
}

// Reflection is gRPC's code, not ours: the role check and the audit line must still happen, before its handler.
TEST_F(ManagementServerTest, ReflectionNeedsAListedIdentityAndIsAudited) {
  mopts_.reflection = true;
  CaptureLogs();
  Start();
  std::string reply;
  EXPECT_EQ(ListServicesByReflection(Channel("stranger"), &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(reply.empty()) << "no service list for an unlisted identity";
  EXPECT_TRUE(ListServicesByReflection(Channel("viewer"), &reply).ok());
  const auto counters = server_->counters();
  EXPECT_EQ(counters.calls, 2u);
  EXPECT_EQ(counters.unauthenticated, 1u);
  EXPECT_EQ(counters.ok, 1u);
  const auto lines = AuditLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("identity=stranger.test"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("rpc=/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo result=ERROR code=16"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("identity=viewer.test role=viewer rpc=/grpc.reflection.v1alpha.ServerReflection/"
                          "ServerReflectionInfo result=OK"),
            std::string::npos)
      << lines[1];
}

// A method nobody serves is refused like any other: no listed identity, no answer (not even UNIMPLEMENTED).
TEST_F(ManagementServerTest, UnknownMethodsNeedAListedIdentityToo) {
  Start();
  std::string reply;
  EXPECT_EQ(ListServicesByReflection(Channel("stranger"), &reply, "/agent.v1.AgentService/AgentStream").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListServicesByReflection(Channel("admin"), &reply, "/agent.v1.AgentService/AgentStream").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(server_->counters().calls, 2u);
}

// A raw OpenSSL client with a valid client certificate, limited to [TLS 1.0, max_version]; returns the negotiated
// version or 0 when the handshake failed.
int Handshake(const fs::path& pki, int port, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0);  // let the client offer old versions: the server must be the one refusing
  SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_use_certificate_file(ctx, (pki / "mgmt-admin.pem").c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_use_PrivateKey_file(ctx, (pki / "mgmt-admin.key").c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_load_verify_locations(ctx, (pki / "ca.pem").c_str(), nullptr);
  SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>("\x02h2"), 3);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int version = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) version = SSL_version(ssl);
    SSL_free(ssl);
  }
  ::close(fd);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return version;
}

TEST_F(ManagementServerTest, TlsOneTwoMinimumOneThreePreferred) {
  Start();
  EXPECT_EQ(Handshake(pki_, server_->port(), TLS1_3_VERSION), TLS1_3_VERSION);
  EXPECT_EQ(Handshake(pki_, server_->port(), TLS1_2_VERSION), TLS1_2_VERSION);
  EXPECT_EQ(Handshake(pki_, server_->port(), TLS1_1_VERSION), 0);
  EXPECT_EQ(Handshake(pki_, server_->port(), TLS1_VERSION), 0);
}

TEST_F(ManagementServerTest, StartReportsMissingFiles) {
  mopts_.client_ca = (dir_ / "missing-ca.pem").string();
  ManagementServer server(mopts_, oopts_, control_, SystemClock::instance(), ring_);
  const auto st = server.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("management.client_ca"), std::string::npos);
}

// --- Hostile peers (issue 14) ---------------------------------------------------------------------------------------

// A plain TCP connection to the management port that never starts TLS. Returns -1 if connect failed.
int PlainConnect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Whether the server closes `fd` (EOF or reset) within `bound`. The bound only keeps a broken build from hanging.
bool ClosedByServer(int fd, std::chrono::milliseconds bound = std::chrono::milliseconds(20000)) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(bound.count())) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

std::size_t OpenDescriptors() {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{}));
}

template <class F>
bool WaitUntil(F f, std::chrono::milliseconds bound = std::chrono::milliseconds(20000)) {
  const auto end = std::chrono::steady_clock::now() + bound;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST_F(ManagementServerTest, PlainTcpConnectionsAreDroppedAtTheHandshakeTimeout) {
  // Item 1: gRPC kept a connection that never starts TLS for 120 s.
  mopts_.handshake_timeout = std::chrono::milliseconds(300);
  Start();
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) fds.push_back(PlainConnect(server_->port()));
  for (int fd : fds) {
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(ClosedByServer(fd)) << "a peer that never starts TLS is dropped at the handshake timeout";
    ::close(fd);
  }
  EXPECT_EQ(server_->counters().connections_accepted, 8u);
  EXPECT_TRUE(Health("admin", 1).ok());
}

TEST_F(ManagementServerTest, ConnectionsPastTheCapAreClosedAtOnceAndTakeNoDescriptors) {
  // Item 1: 4300 plain connections exhausted the descriptor table the IPC listener shares.
  mopts_.max_connections = 8;
  mopts_.handshake_timeout = std::chrono::seconds(120);  // only the cap may free a slot during the flood
  Start();
  const std::size_t before = OpenDescriptors();
  constexpr std::size_t kFlood = 200;
  std::vector<int> fds;
  for (std::size_t i = 0; i < kFlood; ++i) {
    const int fd = PlainConnect(server_->port());
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  ASSERT_TRUE(WaitUntil([&] {
    const auto c = server_->counters();
    return c.connections_accepted + c.connections_refused_at_cap == kFlood;
  }));
  EXPECT_EQ(server_->counters().connections_accepted, 8u);
  EXPECT_EQ(server_->counters().connections_refused_at_cap, kFlood - 8);
  // Our client ends, the 8 admitted server ends, and a few of gRPC's own: not one per refused connection.
  EXPECT_LE(OpenDescriptors(), before + kFlood + 8 + 16);
  EXPECT_TRUE(ClosedByServer(fds.back(), std::chrono::milliseconds(5000))) << "refused at once";
  // Once the flood goes away, the slots are free again for a real client.
  for (int fd : fds) ::close(fd);
  EXPECT_TRUE(WaitUntil([&] { return Health("admin", 1).ok(); }));
  EXPECT_TRUE(WaitUntil([&] { return server_->counters().connections_open <= 1; }));
}

TEST_F(ManagementServerTest, ViewerLogFollowsCannotLockOutOperatorsAndAdmins) {
  // Item 3: 31 follow streams used to hold 31 of the 32 handler threads.
  Start();
  LogRecord r;
  r.time = std::chrono::system_clock::now();
  r.level = "info";
  r.message = "a line";
  ring_->Append(r);
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<av1::LogEntry>> reader;
  };
  auto follow = [&](av1::AgentService::Stub& stub, std::vector<std::unique_ptr<Stream>>& open) {
    auto s = std::make_unique<Stream>();
    Deadline(s->ctx, std::chrono::seconds(60));
    av1::LogStreamRequest req;
    req.set_follow(true);
    s->reader = stub.StreamLogs(&s->ctx, req);
    av1::LogEntry e;
    if (s->reader->Read(&e)) {  // served: the ring's line arrives
      open.push_back(std::move(s));
      return grpc::Status::OK;
    }
    return s->reader->Finish();
  };
  std::vector<std::unique_ptr<Stream>> open;
  auto viewer = Agent("viewer");
  int refused = 0;
  for (int i = 0; i < 31; ++i) {
    const auto st = follow(*viewer, open);
    if (!st.ok()) {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
      ++refused;
    }
  }
  EXPECT_EQ(open.size(), 4u) << "follows per identity";
  EXPECT_EQ(refused, 27);
  EXPECT_EQ(server_->counters().follow_refused, 27u);
  // A second viewer identity fills the viewers' slow-call budget (8): now even a viewer's other slow call waits...
  auto other_viewer = Agent("cn-only");
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(follow(*other_viewer, open).ok());
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::ListSessionsResponse resp;
    EXPECT_EQ(Control("viewer")->ListSessions(&ctx, cv1::ListSessionsRequest(), &resp).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(server_->counters().slow_call_refused, 1u);
  }
  // ...but fast calls, and every other role, are served.
  EXPECT_TRUE(Health("viewer", 1).ok());
  EXPECT_TRUE(Health("admin", 1).ok());
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::SetFailModeRequest req;
    req.set_fail_mode(cv1::FAIL_MODE_CLOSE);
    cv1::SetFailModeResponse resp;
    EXPECT_TRUE(Control("admin")->SetFailMode(&ctx, req, &resp).ok());
  }
  auto admin = Agent("admin");
  std::vector<std::unique_ptr<Stream>> admin_open;
  EXPECT_TRUE(follow(*admin, admin_open).ok()) << "the admins' budget is their own";
  for (auto* list : {&open, &admin_open}) {
    for (auto& s : *list) {
      s->ctx.TryCancel();
      s->reader->Finish();
    }
  }
  // Slots come back when the streams end.
  std::vector<std::unique_ptr<Stream>> again;
  EXPECT_TRUE(WaitUntil([&] { return follow(*viewer, again).ok(); }));
  for (auto& s : again) {
    s->ctx.TryCancel();
    s->reader->Finish();
  }
}


// --- StreamLogs as a reactor (item 3: a follow holds no handler thread) ------------------------------------------

struct FollowStream {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<av1::LogEntry>> reader;
};

std::size_t ProcessThreads() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

TEST_F(ManagementServerTest, FollowReceivesALineLoggedAfterItCaughtUp) {
  Start();
  LogRecord r;
  r.time = std::chrono::system_clock::now();
  r.level = "info";
  r.message = "backlog";
  ring_->Append(r);
  FollowStream s;
  Deadline(s.ctx);
  av1::LogStreamRequest req;
  req.set_follow(true);
  auto stub = Agent("viewer");
  s.reader = stub->StreamLogs(&s.ctx, req);
  av1::LogEntry e;
  ASSERT_TRUE(s.reader->Read(&e));
  EXPECT_EQ(e.message(), "backlog");
  // The stream has sent everything the ring held; the next line arrives only through the ring's notification.
  r.message = "logged after the follow caught up";
  ring_->Append(r);
  ASSERT_TRUE(s.reader->Read(&e));
  EXPECT_EQ(e.message(), "logged after the follow caught up");
  EXPECT_EQ(e.fields().at("seq"), "2");
  s.ctx.TryCancel();
  s.reader->Finish();
}

TEST_F(ManagementServerTest, FollowsHoldNoHandlerThreadsAndAdminsAreServed) {
  Start();
  LogRecord r;
  r.time = std::chrono::system_clock::now();
  r.level = "info";
  r.message = "a line";
  ring_->Append(r);
  // Every identity's full follow allowance (4 each, 16 in all: twice what the 32-thread pool keeps beyond the role
  // budgets), each one caught up and waiting for new lines.
  std::vector<std::unique_ptr<av1::AgentService::Stub>> stubs;
  for (const char* who : {"viewer", "cn-only", "operator", "admin"}) stubs.push_back(Agent(who));
  Health("admin", 1);  // warm up the channels' and server's threads before counting
  const std::size_t threads_before = ProcessThreads();
  std::vector<std::unique_ptr<FollowStream>> open;
  for (auto& stub : stubs) {
    for (int i = 0; i < 4; ++i) {
      auto s = std::make_unique<FollowStream>();
      Deadline(s->ctx, std::chrono::seconds(60));
      av1::LogStreamRequest req;
      req.set_follow(true);
      s->reader = stub->StreamLogs(&s->ctx, req);
      av1::LogEntry e;
      ASSERT_TRUE(s->reader->Read(&e)) << "follow " << open.size() << ": " << s->reader->Finish().error_message();
      open.push_back(std::move(s));
    }
  }
  const std::size_t threads_after = ProcessThreads();
  // A sync follow held a handler thread each (16 more threads); the reactors hold none. gRPC's own pollers and
  // executor may add a few, never one per stream.
  EXPECT_LT(threads_after, threads_before + open.size() / 2) << threads_before << " -> " << threads_after;
  EXPECT_TRUE(Health("admin", 1).ok());
  EXPECT_TRUE(Health("operator", 2).ok());
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    cv1::SetFailModeRequest req;
    req.set_fail_mode(cv1::FAIL_MODE_CLOSE);
    cv1::SetFailModeResponse resp;
    EXPECT_TRUE(Control("admin")->SetFailMode(&ctx, req, &resp).ok());
  }
  // Every follow still gets the next line.
  r.message = "to every follower";
  ring_->Append(r);
  for (auto& s : open) {
    av1::LogEntry e;
    ASSERT_TRUE(s->reader->Read(&e));
    EXPECT_EQ(e.message(), "to every follower");
  }
  // Cancelled follows end and give their slots back (OnDone), so the same identity may follow again.
  for (auto& s : open) {
    s->ctx.TryCancel();
    EXPECT_EQ(s->reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  auto viewer = Agent("viewer");
  EXPECT_TRUE(WaitUntil([&] {
    FollowStream s;
    Deadline(s.ctx);
    av1::LogStreamRequest req;
    req.set_follow(true);
    s.reader = viewer->StreamLogs(&s.ctx, req);
    av1::LogEntry e;
    const bool served = s.reader->Read(&e);
    s.ctx.TryCancel();
    s.reader->Finish();
    return served;
  }));
}

TEST_F(ManagementServerTest, StopEndsLiveFollowsWithOkWithoutWaitingForTheGrace) {
  Start();
  CaptureLogs();
  std::vector<std::unique_ptr<FollowStream>> open;
  auto admin = Agent("admin");
  for (int i = 0; i < 3; ++i) {
    auto s = std::make_unique<FollowStream>();
    Deadline(s->ctx, std::chrono::seconds(120));
    av1::LogStreamRequest req;
    req.set_follow(true);
    s->reader = admin->StreamLogs(&s->ctx, req);
    open.push_back(std::move(s));
  }
  // Each follow is live once its STARTED audit line is written (the ring is empty, so nothing is sent before).
  ASSERT_TRUE(WaitUntil([&] {
    std::size_t started = 0;
    for (const auto& line : AuditLines()) started += line.find("result=STARTED") != std::string::npos;
    return started == open.size();
  }));
  // A long grace: were the follows left to Shutdown, it would cancel them only after 60 s, and the clients would see
  // CANCELLED/UNAVAILABLE, not OK.
  server_->Stop(std::chrono::seconds(60));
  for (auto& s : open) {
    av1::LogEntry e;
    while (s->reader->Read(&e)) {
    }
    const auto st = s->reader->Finish();
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  }
  std::size_t ended = 0;
  for (const auto& line : AuditLines()) ended += line.find("follow ended by server stop") != std::string::npos;
  EXPECT_EQ(ended, open.size());
}

}  // namespace
}  // namespace oa
