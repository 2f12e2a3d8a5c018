// The real ocserv-agent binary with the management API and the metrics endpoint enabled, against the reference portal
// (ocserv-portal-sim) and the real helper (ocserv-agent-auth): decisions made through the helper show up in
// GET /metrics and in GetStatus over mTLS; InvalidateCache, SetFailMode and SetBreaker change what the next helper is
// told; a SIGHUP re-applies the file's fail mode (the file wins) and keeps the breaker override; StreamLogs serves
// the daemon's own log lines. Both ports are 0 (picked by the kernel) and read from the daemon's log lines.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "agent/v1/agent.grpc.pb.h"
#include "child_process.h"
#include "config_files.h"
#include "ocserv_agent/v1/control.grpc.pb.h"
#include "loopback_http.h"
#include "temp_dir.h"

namespace oa::testing {
namespace {

namespace cv1 = ocserv_agent::v1;
namespace av1 = agent::v1;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr auto kWait = 20s;  // generous for a loaded 2-core machine; every wait ends as soon as it is met

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `text()` until `re` matches; returns the first group, or 0 at the deadline.
template <class F>
int WaitForPort(F text, const std::regex& re, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::smatch m;
    const std::string t = text();
    if (std::regex_search(t, m, re)) return std::stoi(m[1]);
    if (std::chrono::steady_clock::now() >= deadline) return 0;
    std::this_thread::sleep_for(20ms);
  }
}

std::string HttpGet(int port, const std::string& path) {
  return oa::testing::LoopbackHttpGet(port, path, kWait);
}

class DaemonWiringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The PKI is made once at build time (CMakeLists.txt): WriteDevPki only copies it here.
    ASSERT_TRUE(WriteDevPki(dir_, OA_SOURCE_DIR, OA_TEST_PKI_DIR));
    pki_ = OA_TEST_PKI_DIR;
    dir_.WriteFile("policy.yaml",
                   "users:\n"
                   "  alice: { allow: true }\n"
                   "  bob: { allow: false, reason: suspended }\n");
    portal_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{OA_PORTAL_SIM_BINARY, "--listen", "127.0.0.1:0", "--port-file", dir_ / "portal.port",
                                 "--cert", pki_ + "/portal.pem", "--key", pki_ + "/portal.key", "--client-ca",
                                 pki_ + "/ca.pem", "--policy", dir_ / "policy.yaml"},
        std::vector<std::string>{}, dir_ / "portal");
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!std::filesystem::exists(dir_ / "portal.port") && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(std::filesystem::exists(dir_ / "portal.port")) << portal_->Stderr();
    portal_port_ = std::stoi(Slurp(dir_ / "portal.port"));

    config_ = dir_.WriteFile("config.yaml", Config());
    daemon_ = std::make_unique<ChildProcess>(std::vector<std::string>{OA_AGENT_BINARY, "-c", config_},
                                             std::vector<std::string>{}, dir_ / "daemon");
    auto err = [this] { return daemon_->Stderr(); };
    management_port_ = WaitForPort(err, std::regex(R"(management: listening on \S+ \(port (\d+)\))"), kWait);
    metrics_port_ = WaitForPort(err, std::regex(R"(metrics: listening on \S+ \(port (\d+)\))"), kWait);
    ASSERT_GT(management_port_, 0) << daemon_->Stderr();
    ASSERT_GT(metrics_port_, 0) << daemon_->Stderr();
    ASSERT_TRUE(daemon_->WaitForStderr("ready (", kWait)) << daemon_->Stderr();
  }

  void TearDown() override {
    if (daemon_) {
      daemon_->Signal(SIGTERM);
      EXPECT_EQ(daemon_->WaitExit(kWait), 0) << daemon_->Stderr();
    }
    if (portal_) portal_->Signal(SIGTERM);
  }

  std::string Config() const {
    return TestConfigYaml({
        {"agent", "  id: wired-1\n  shutdown_grace: 3s\n"},
        {"ipc", "  socket_path: " + (dir_ / "auth.sock") + "\n  allowed_uids: [" + std::to_string(::getuid()) + "]\n"},
        {"portal",
         "  address: 127.0.0.1:" + std::to_string(portal_port_) +
             "\n  ca_file: pki/portal-ca.pem\n  cert_file: pki/agent-client.pem\n  key_file: pki/agent-client.key\n"},
        {"resilience", "  fail_mode: fail-stale\n  stale_fallback: close\n"},
        {"management",
         "  enabled: true\n  listen: 127.0.0.1:0\n  cert_file: pki/management.pem\n  key_file: pki/management.key\n"
         "  client_ca: pki/management-client-ca.pem\n  clients:\n    - {identity: admin.test, role: admin}\n"},
        {"metrics", "  enabled: true\n  listen: 127.0.0.1:0\n"},
    });
  }

  // Runs the real helper as ocserv would (a clean environment); its exit code (0 = admitted).
  int Connect(const std::string& user, const std::string& id) {
    auto code = ChildProcess::Run({"/usr/bin/env", "-i", "REASON=connect", "USERNAME=" + user, "GROUPNAME=staff",
                                   "IP_REAL=198.51.100.7", "IP_REMOTE=10.9.0.2", "ID=" + id, "DEVICE=vpns0",
                                   "OCSERV_AGENT_SOCKET=" + (dir_ / "auth.sock"), "OCSERV_AGENT_TIMEOUT=10s",
                                   OA_HELPER_BINARY},
                                  dir_ / ("helper-" + user), nullptr, nullptr, kWait);
    return code.value_or(-1);
  }

  std::shared_ptr<grpc::Channel> Channel() {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = Slurp(pki_ + "/ca.pem");
    o.pem_cert_chain = Slurp(pki_ + "/mgmt-admin.pem");
    o.pem_private_key = Slurp(pki_ + "/mgmt-admin.key");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(management_port_), grpc::SslCredentials(o), args);
  }
  std::unique_ptr<cv1::AgentControl::Stub> Control() { return cv1::AgentControl::NewStub(Channel()); }

  cv1::GetStatusResponse Status() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kWait);
    cv1::GetStatusResponse resp;
    const grpc::Status st = Control()->GetStatus(&ctx, {}, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }
  void SetFailMode(cv1::FailMode mode) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kWait);
    cv1::SetFailModeRequest req;
    req.set_fail_mode(mode);
    cv1::SetFailModeResponse resp;
    ASSERT_TRUE(Control()->SetFailMode(&ctx, req, &resp).ok());
  }
  void SetBreaker(cv1::BreakerOverride o) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kWait);
    cv1::SetBreakerRequest req;
    req.set_override(o);
    cv1::SetBreakerResponse resp;
    ASSERT_TRUE(Control()->SetBreaker(&ctx, req, &resp).ok());
  }
  std::string Metrics() {
    const std::string r = HttpGet(metrics_port_, "/metrics");
    EXPECT_THAT(r, ::testing::StartsWith("HTTP/1.1 200 OK"));
    return r;
  }

  TempDir dir_;
  std::string pki_;
  std::string config_;
  int portal_port_ = 0;
  int management_port_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<ChildProcess> portal_;
  std::unique_ptr<ChildProcess> daemon_;
};

TEST_F(DaemonWiringTest, DecisionsShowInMetricsAndStatusAndInvalidationReachesTheCache) {
  EXPECT_EQ(Connect("alice", "101"), 0);
  EXPECT_EQ(Connect("alice", "102"), 0);  // from the cache
  EXPECT_NE(Connect("bob", "103"), 0);

  const std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("ocserv_agent_build_info{version=\"" OA_VERSION "\",agent_id=\"wired-1\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_decisions_by_source_total{source=\"portal\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_decisions_by_source_total{source=\"cache\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_decisions_by_verdict_total{verdict=\"deny\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_portal_calls_total{outcome=\"allow\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_portal_calls_total{outcome=\"deny\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_cache_hits_total 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_cache_entries 2\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_breaker_state{state=\"closed\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_breaker_state{state=\"open\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_ipc_accepted_total 3\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_ipc_listening 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_fail_mode{mode=\"fail-stale\",stale_fallback=\"close\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_metrics_scrapes_total 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_events_outbox_store_ok 1\n"));  // the outbox beside the config file
  EXPECT_THAT(m, HasSubstr("ocserv_agent_events_written_total "));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_events_sender_state{state=\"stopped\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_management_calls_total 0\n"));
  EXPECT_THAT(HttpGet(metrics_port_, "/"), ::testing::StartsWith("HTTP/1.1 404"));
  // Issue 13: latency histograms fed by the real decision path, process_*, the config load and both certificates.
  EXPECT_THAT(m, HasSubstr("ocserv_agent_decision_latency_seconds_count{source=\"portal\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_decision_latency_seconds_count{source=\"cache\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_portal_call_latency_seconds_count{outcome=\"allow\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_portal_call_latency_seconds_count{outcome=\"deny\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("\nprocess_resident_memory_bytes "));
  EXPECT_THAT(m, HasSubstr("\nprocess_start_time_seconds "));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_config_last_reload_successful 1\n"));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_certificate_expiry_timestamp_seconds{certificate=\"portal_client\"} "));
  EXPECT_THAT(m, HasSubstr("ocserv_agent_certificate_expiry_timestamp_seconds{certificate=\"management\"} "));

  cv1::GetStatusResponse s = Status();
  EXPECT_EQ(s.version(), OA_VERSION);
  EXPECT_EQ(s.agent_id(), "wired-1");
  EXPECT_EQ(s.fail_mode(), cv1::FAIL_MODE_STALE);
  EXPECT_EQ(s.stale_fallback(), "close");
  EXPECT_EQ(s.breaker().state(), "closed");
  EXPECT_EQ(s.breaker().override(), cv1::BREAKER_OVERRIDE_AUTO);
  EXPECT_TRUE(s.ipc_listening());
  EXPECT_EQ(s.decisions_by_source().at("portal"), 2u);
  EXPECT_EQ(s.decisions_by_source().at("cache"), 1u);
  EXPECT_EQ(s.cache().at("size"), 2u);
  EXPECT_EQ(s.portal().at("calls"), 2u);
  EXPECT_EQ(s.ipc().at("accepted"), 3u);
  EXPECT_EQ(s.ipc().at("replies_deny"), 1u);
  EXPECT_EQ(s.sessions().at("active"), 2u);
  EXPECT_EQ(s.events().at("outbox_store_ok"), 1u);
  EXPECT_EQ(s.events().count("outbox_depth"), 1u);
  EXPECT_EQ(s.events().count("sent"), 1u);
  EXPECT_NE(s.events_sender_state(), "");

  // Invalidating alice makes her next connect ask the portal again.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kWait);
    cv1::InvalidateCacheRequest req;
    req.set_user("alice");
    cv1::InvalidateCacheResponse resp;
    ASSERT_TRUE(Control()->InvalidateCache(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.removed(), 1u);
  }
  EXPECT_EQ(Connect("alice", "104"), 0);
  s = Status();
  EXPECT_EQ(s.decisions_by_source().at("portal"), 3u);
  EXPECT_EQ(s.decisions_by_source().at("cache"), 1u);
  EXPECT_THAT(Metrics(), HasSubstr("ocserv_agent_management_calls_total 3\n"));  // two GetStatus, one invalidation
}

TEST_F(DaemonWiringTest, SetFailModeReachesTheNextConnectAndAReloadRestoresTheFilesMode) {
  // carol has no policy: the portal would deny her. With the breaker forced open, the fail mode answers instead.
  SetBreaker(cv1::BREAKER_OVERRIDE_FORCE_OPEN);
  EXPECT_NE(Connect("carol", "201"), 0) << "fail-stale, no stale entry, stale_fallback close";
  SetFailMode(cv1::FAIL_MODE_OPEN);
  cv1::GetStatusResponse s = Status();
  EXPECT_EQ(s.fail_mode(), cv1::FAIL_MODE_OPEN);
  EXPECT_EQ(s.fail_mode_name(), "fail-open");
  EXPECT_EQ(s.breaker().state(), "open");
  EXPECT_EQ(Connect("carol", "202"), 0) << "fail-open admits while the portal cannot be asked";
  s = Status();
  EXPECT_EQ(s.decisions_by_source().at("fail_open"), 1u);
  EXPECT_EQ(s.decisions_by_source().at("fail_close"), 1u);
  EXPECT_EQ(s.portal().at("calls"), 0u);
  EXPECT_THAT(Metrics(), HasSubstr("ocserv_agent_fail_mode{mode=\"fail-open\",stale_fallback=\"close\"} 1\n"));

  // SIGHUP with the same file: the file's fail-stale wins, the breaker override (not in the file) stays.
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(daemon_->WaitForStderr("reloaded " + config_, kWait)) << daemon_->Stderr();
  EXPECT_THAT(daemon_->Stderr(), HasSubstr("fail mode fail-open (stale fallback close) replaced by the file's "
                                           "fail-stale (stale fallback close)"));
  s = Status();
  EXPECT_EQ(s.fail_mode(), cv1::FAIL_MODE_STALE);
  EXPECT_EQ(s.breaker().override(), cv1::BREAKER_OVERRIDE_FORCE_OPEN);
  EXPECT_NE(Connect("carol", "203"), 0);

  SetBreaker(cv1::BREAKER_OVERRIDE_AUTO);
  EXPECT_NE(Connect("carol", "204"), 0) << "now the portal itself denies";
  EXPECT_EQ(Status().decisions_by_source().at("portal"), 1u);
}

TEST_F(DaemonWiringTest, StreamLogsServesTheDaemonsOwnLines) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kWait);
  av1::LogStreamRequest req;
  req.set_log_source("agent");
  auto stub = av1::AgentService::NewStub(Channel());
  auto reader = stub->StreamLogs(&ctx, req);
  std::vector<std::string> lines;
  for (av1::LogEntry e; reader->Read(&e);) lines.push_back(e.message());
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("decision path ready")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("metrics: listening on")));
}

// Issue 13: a real scrape of the running daemon passes `promtool check metrics` (Prometheus' own parser and linter:
// names, units, counter suffixes, HELP/TYPE, histogram shape). The scrape body is fed on stdin.
TEST_F(DaemonWiringTest, ARealScrapePassesPromtoolCheckMetrics) {
  EXPECT_EQ(Connect("alice", "101"), 0);  // so that some histograms and counters are non-zero
  const std::string r = Metrics();
  const auto body_at = r.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  const std::string scrape = dir_ / "scrape.txt";
  std::ofstream(scrape) << r.substr(body_at + 4);
  const std::string out = dir_ / "promtool.out";
  const std::string cmd = std::string(OA_PROMTOOL) + " check metrics < " + scrape + " > " + out + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << "promtool check metrics:\n" << report;
  EXPECT_EQ(report, "") << "promtool reports lint problems";
}

}  // namespace
}  // namespace oa::testing
