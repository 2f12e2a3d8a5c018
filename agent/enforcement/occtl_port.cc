#include "agent/enforcement/occtl_port.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/management/occtl_command.h"
#include "agent/management/occtl_runner.h"
#include "agent/management/occtl_users_json.h"

namespace oa {
namespace {

// occtl prints RX/TX as decimal byte counts in strings ("_RX" is the human form) and raw_connected_at as Unix
// seconds; anything else (absent, garbage) is 0 / unknown rather than a failed listing.
std::uint64_t ParseCount(const std::string& text) {
  std::uint64_t v = 0;
  return absl::SimpleAtoi(text, &v) ? v : 0;
}

std::string RawField(const ocserv_agent::v1::Session& s, const char* key) {
  const auto it = s.raw().find(key);
  return it == s.raw().end() ? std::string() : it->second;
}

class RealOcctlPort final : public OcctlPort {
 public:
  RealOcctlPort(OcservOptions options, std::chrono::milliseconds timeout, const Clock& clock)
      : options_(std::move(options)), timeout_(timeout), clock_(clock) {}

  absl::StatusOr<std::vector<SessionRecord>> ListSessions() override {
    OcctlCommand cmd{{"show", "users"}, {}, true};
    auto run = RunOcctl(options_, cmd, timeout_, clock_);
    if (!run.ok()) return absl::UnavailableError(absl::StrCat("occtl could not run: ", run.status().message()));
    if (run->timed_out) return absl::DeadlineExceededError("occtl show users did not return in time");
    if (run->exit_code != 0) {
      return absl::UnavailableError(absl::StrCat("occtl show users exited ", run->exit_code, ": ",
                                                 run->stderr_text.substr(0, 200)));
    }
    ocserv_agent::v1::ListSessionsResponse parsed;
    if (absl::Status s = ParseOcctlUsersJson(run->stdout_text, &parsed); !s.ok()) {
      return absl::DataLossError(absl::StrCat("occtl show users: unparsable output: ", s.message()));
    }
    std::vector<SessionRecord> out;
    out.reserve(parsed.sessions_size());
    const auto now = clock_.wall_now();
    for (const auto& s : parsed.sessions()) {
      SessionRecord r;
      r.id = s.id();
      r.username = s.username();
      r.groupname = s.groupname() == "(none)" ? "" : s.groupname();
      r.ip_real = s.remote_ip();
      r.vpn_ip = s.ipv4();
      r.admitted_at = now;
      r.reconstructed = true;
      r.bytes_received = ParseCount(s.rx());
      r.bytes_sent = ParseCount(s.tx());
      if (const std::uint64_t at = ParseCount(RawField(s, "raw_connected_at")); at > 0) {
        r.connected_at = Clock::WallTime(std::chrono::seconds(at));
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  absl::Status Disconnect(const std::string& session_id) override {
    if (absl::Status s = ValidateOcctlId(session_id); !s.ok()) return s;
    const char* verb = options_.disconnect_command == DisconnectCommand::kTerminate ? "terminate" : "disconnect";
    OcctlCommand cmd{{verb, "id"}, {session_id}, false};
    auto run = RunOcctl(options_, cmd, timeout_, clock_);
    if (!run.ok()) return absl::UnavailableError(absl::StrCat("occtl could not run: ", run.status().message()));
    if (run->timed_out) return absl::DeadlineExceededError(absl::StrCat("occtl ", verb, " did not return in time"));
    if (run->exit_code != 0) {
      return absl::UnavailableError(absl::StrCat("occtl ", verb, " id ", session_id, " exited ", run->exit_code, ": ",
                                                 run->stderr_text.substr(0, 200)));
    }
    return absl::OkStatus();
  }

 private:
  const OcservOptions options_;
  const std::chrono::milliseconds timeout_;
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<OcctlPort> MakeOcctlPort(const OcservOptions& options, std::chrono::milliseconds timeout,
                                         const Clock& clock) {
  return std::make_unique<RealOcctlPort>(options, timeout, clock);
}

}  // namespace oa
