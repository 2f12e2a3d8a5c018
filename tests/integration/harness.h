// The connect path as real processes, for the integration tests (tests/integration) and the agent benchmark
// (bench/agent/decision_path): the reference portal `ocserv-portal-sim` with its control service, the real
// `ocserv-agent` daemon with a generated config, and the real `ocserv-agent-auth` helper run the way ocserv runs it
// (fork/exec, ocserv's environment only, exit status read). Every process is a child of the caller and is killed
// when its object dies, so a failing test leaves nothing behind. The dev PKI is the build tree's (dev_pki.h).
//
// Thread-safety: SimProcess's control calls and RunHelper / AskAgent may be used from several threads at once;
// starting, stopping and reading an AgentProcess's log belong to one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "child_process.h"
#include "notify_socket.h"
#include "ipc/ipc_types.h"
#include "portal_sim.h"

namespace oa::integration {

// The built binaries (compile definitions of oa_integration_harness).
const char* AgentBinary();
const char* HelperBinary();
const char* SimBinary();
// A file of the dev PKI made once per build tree (scripts/dev-pki.sh): ca.pem, portal.pem, rogue-ca.pem, ...
std::string Pki(const std::string& file);

// `ocserv-portal-sim` as a child process, with an mTLS control channel to its PortalSimControl service.
class SimProcess {
 public:
  struct Options {
    std::string policy_yaml;               // written to <work_dir>/policy.yaml
    std::vector<std::string> extra_flags;  // e.g. {"--latency-ms", "20"}
    std::string cert = "portal.pem";       // server certificate and key, files of the dev PKI
    std::string key = "portal.key";
    std::string cert_ca = "ca.pem";        // the CA that signed `cert`: the control channel trusts it
  };
  // Starts it on 127.0.0.1 (port 0: a free one) and returns once it serves.
  static absl::StatusOr<std::unique_ptr<SimProcess>> Start(const std::string& work_dir, Options options,
                                                           int port = 0);
  ~SimProcess();
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const;
  bool running() const;

  absl::Status SetFaults(const sim::SimFaults& faults);
  absl::StatusOr<sim::PortalSimStats> Stats();
  absl::StatusOr<sim::PortalSimStats> ResetStats();
  // Rewrites the policy file and makes the sim load it (PortalSimControl.ReloadPolicy).
  absl::Status ReplacePolicy(const std::string& policy_yaml);

  // SIGTERM and wait: the portal is gone (connections refused) until Restart().
  absl::Status Stop();
  // Starts it again on the same port, with the same options.
  absl::Status Restart();

  struct Control;  // the gRPC stub, kept out of this header

 private:
  SimProcess(std::string work_dir, Options options);
  absl::Status Launch(int port);

  std::string work_dir_;
  Options options_;
  int port_ = 0;
  int generation_ = 0;
  std::unique_ptr<testing::ChildProcess> process_;
  std::unique_ptr<Control> control_;
};

// The agent's settings that the tests and benchmarks vary; rendered as a complete config file. Durations are in the
// config file's syntax. Management is off, metrics too unless asked for (no fixed ports).
struct AgentSettings {
  std::string portal_address;
  std::string ca_file = Pki("ca.pem");
  std::string cert_file = Pki("agent-client.pem");
  std::string key_file = Pki("agent-client.key");
  std::string server_name = "portal.test";
  std::string portal_timeout = "1s";
  std::string decision_timeout = "1500ms";
  std::string fail_mode = "fail-stale";
  std::string stale_fallback = "close";
  int failure_threshold = 3;
  std::string open_timeout = "1s";
  std::string max_open_timeout = "2s";
  int half_open_max_calls = 1;
  std::string allow_ttl = "5m";
  std::string deny_ttl = "30s";
  std::string stale_ttl = "30m";
  int max_connections = 4096;
  std::string log_level = "info";
  bool report_events = true;  // portal.report_events
  bool metrics = false;       // metrics on 127.0.0.1:0 (the port is in the log: "metrics: listening on ... (port N)")
  std::string extra_yaml;     // appended as is: whole sections (e.g. "ocserv:\n  occtl_path: ...\n")
  std::string agent_binary;   // empty: AgentBinary() (benchmarks compare another build's)
};

std::string AgentConfigYaml(const AgentSettings& s, const std::string& socket_path);

// One decision as the agent's audit line gives it ("decision user=... verdict=... source=... latency_ms=...").
struct AuditRecord {
  std::string verdict;  // allow | deny
  std::string source;   // portal | cache | stale | fail_open | fail_close | coalesced
  double latency_ms = 0;
  std::string line;
};

// `ocserv-agent -c <work_dir>/agent.yaml`, stderr (its log) in <work_dir>/agent.stderr.
class AgentProcess {
 public:
  // Writes the config, starts the daemon and returns once it told "systemd" READY=1 (its IPC socket listens).
  static absl::StatusOr<std::unique_ptr<AgentProcess>> Start(const std::string& work_dir,
                                                             const AgentSettings& settings);
  ~AgentProcess() = default;

  const std::string& socket_path() const { return socket_path_; }
  pid_t pid() const { return process_->pid(); }
  std::string Log() const { return process_->Stderr(); }
  // Lines of the log containing `needle`.
  int CountLogLines(const std::string& needle) const;

  // The audit record of the request a helper with this pid sent (its request id starts "<pid>-"), waiting up to
  // `timeout` for it to appear. The agent writes the audit line before it answers, so after the helper exited it
  // is normally there already.
  std::optional<AuditRecord> DecisionOf(pid_t helper_pid,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;

  // SIGTERM; the exit code, or nullopt if it did not stop within `timeout`.
  std::optional<int> Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  AgentProcess() = default;
  std::string socket_path_;
  std::unique_ptr<testing::NotifySocket> notify_;
  std::unique_ptr<testing::ChildProcess> process_;
};

// What ocserv puts in a connect-script's environment (docs/ocserv.md#environment), for one user.
struct ConnectEnv {
  std::string reason = "connect";
  std::string username;
  std::string groupname = "staff";
  std::string ip_real = "192.0.2.10";
  std::string id = "4242";
};

struct HelperRun {
  int exit_code = -1;  // 0 admit, 1 reject, 128+N killed by signal N, -1 could not run
  pid_t pid = -1;
  std::chrono::duration<double, std::milli> elapsed{0};  // fork to reaped, as ocserv waits for it
  std::string stderr_text;
};

// Runs the helper as ocserv does: fork/exec with only ocserv's variables (plus PATH) in the environment,
// OCSERV_AGENT_SOCKET set to `socket`, `flags` on the command line; waits for it (killed after `kill_after`).
HelperRun RunHelper(const std::string& socket, const ConnectEnv& env, const std::vector<std::string>& flags = {},
                    std::chrono::milliseconds kill_after = std::chrono::seconds(20));

// The request the helper would send for `env` (connect reason, a fresh request id).
IpcRequest ConnectRequest(const ConnectEnv& env, std::uint32_t deadline_ms = 5000);

// One framed exchange with the agent straight over its socket (what the helper does, without fork/exec): for the
// benchmark's agent-only figures and for asserting a response field. Errors: cannot connect, timeout, bad reply.
absl::StatusOr<IpcResponse> AskAgent(const std::string& socket, const IpcRequest& request,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace oa::integration
