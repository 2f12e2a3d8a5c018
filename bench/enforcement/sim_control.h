// What both enforcement benchmarks need besides the agent's own code: a PortalSimControl client to make the reference
// portal process (`ocserv-portal-sim`, started by integration::SimProcess) publish a Revoke and to read its counters,
// over mTLS with the dev PKI; percentiles; and the wall clock as nanoseconds, the unit published_at is compared in.
// Header-only: each benchmark is one translation unit.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "harness.h"
#include "ocserv_agent/v1/portal_sim.grpc.pb.h"

namespace oa::bench {

[[noreturn]] inline void Die(const char* program, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", program, why.c_str());
  std::exit(1);
}

inline std::int64_t WallNs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Percentiles {
  std::size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentiles of milliseconds.
inline Percentiles Summarise(std::vector<double> ms) {
  Percentiles s;
  s.n = ms.size();
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * (ms.size() - 1) + 0.5))]; };
  s.p50 = pct(0.50);
  s.p90 = pct(0.90);
  s.p99 = pct(0.99);
  s.max = ms.back();
  return s;
}

inline void PrintRow(const char* what, const Percentiles& s) {
  std::printf("| %-46s | %6zu | %8.2f | %8.2f | %8.2f | %8.2f |\n", what, s.n, s.p50, s.p90, s.p99, s.max);
}
inline void PrintHeader() {
  std::printf("| %-46s | %6s | %8s | %8s | %8s | %8s |\n", "ms", "n", "p50", "p90", "p99", "max");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(48, '-').c_str(), std::string(8, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str());
}

// The sim's control service (same port, same mTLS as AuthService and PolicyWatch).
class SimControl {
 public:
  explicit SimControl(const std::string& address) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadWholeFile(integration::Pki("ca.pem"));
    tls.pem_cert_chain = ReadWholeFile(integration::Pki("agent-client.pem"));
    tls.pem_private_key = ReadWholeFile(integration::Pki("agent-client.key"));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("portal.test");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection, not the agent side's
    stub_ = ocserv_agent::v1::PortalSimControl::NewStub(
        grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args));
  }

  // Publishes Revoke{user}; returns the version the sim gave it.
  absl::StatusOr<std::uint64_t> RevokeUser(const std::string& username, const std::string& reason) {
    ocserv_agent::v1::PublishPolicyEventRequest req;
    auto* revoke = req.mutable_event()->mutable_revoke();
    revoke->mutable_subject()->set_username(username);
    revoke->set_reason(reason);
    ocserv_agent::v1::PublishPolicyEventResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    const grpc::Status s = stub_->PublishPolicyEvent(&ctx, req, &resp);
    if (!s.ok()) return absl::UnavailableError("PublishPolicyEvent: " + s.error_message());
    return resp.version();
  }

  absl::StatusOr<ocserv_agent::v1::PortalSimStats> Stats() {
    ocserv_agent::v1::PortalSimStats out;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    const grpc::Status s = stub_->GetStats(&ctx, {}, &out);
    if (!s.ok()) return absl::UnavailableError("GetStats: " + s.error_message());
    return out;
  }

 private:
  static void Prepare(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ctx->set_wait_for_ready(true);
  }
  std::unique_ptr<ocserv_agent::v1::PortalSimControl::Stub> stub_;
};

// Threads, RSS and open descriptors of a process, from /proc.
struct ProcFigures {
  long threads = 0, rss_kb = 0, fds = 0;
};
inline ProcFigures ReadProcFigures(pid_t pid) {
  ProcFigures f;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Threads:", 0) == 0) f.threads = std::strtol(line.c_str() + 8, nullptr, 10);
    if (line.rfind("VmRSS:", 0) == 0) f.rss_kb = std::strtol(line.c_str() + 6, nullptr, 10);
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++f.fds;
  }
  return f;
}

// User + system CPU of a process so far, ms.
inline double ProcessCpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

inline std::string LoadAverage() {
  std::string load;
  std::getline(std::ifstream("/proc/loadavg"), load);
  return load;
}

}  // namespace oa::bench
