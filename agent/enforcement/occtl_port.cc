#include "agent/enforcement/occtl_port.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/management/occtl_command.h"
#include "agent/management/occtl_runner.h"
#include "agent/management/occtl_users_json.h"
#include "agent/management/process_runner.h"

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

// What `occtl --json show users` printed (or why it did not), as the session records the registry keeps.
absl::StatusOr<std::vector<SessionRecord>> ListingOf(const absl::StatusOr<ProcessResult>& run, Clock::WallTime now) {
  if (!run.ok()) return absl::UnavailableError(absl::StrCat("occtl could not run: ", run.status().message()));
  if (run->timed_out) return absl::DeadlineExceededError("occtl show users did not return in time");
  if (run->exit_code != 0) {
    return absl::UnavailableError(
        absl::StrCat("occtl show users exited ", run->exit_code, ": ", run->stderr_text.substr(0, 200)));
  }
  ocserv_agent::v1::ListSessionsResponse parsed;
  if (absl::Status s = ParseOcctlUsersJson(run->stdout_text, &parsed); !s.ok()) {
    return absl::DataLossError(absl::StrCat("occtl show users: unparsable output: ", s.message()));
  }
  std::vector<SessionRecord> out;
  out.reserve(parsed.sessions_size());
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

absl::Status DisconnectOutcome(const absl::StatusOr<ProcessResult>& run, const std::string& verb,
                               const std::string& session_id) {
  if (!run.ok()) return absl::UnavailableError(absl::StrCat("occtl could not run: ", run.status().message()));
  if (run->timed_out) return absl::DeadlineExceededError(absl::StrCat("occtl ", verb, " did not return in time"));
  if (run->exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("occtl ", verb, " id ", session_id, " exited ", run->exit_code, ": ",
                                               run->stderr_text.substr(0, 200)));
  }
  return absl::OkStatus();
}

class RealOcctlPort final : public OcctlPort {
 public:
  RealOcctlPort(OcservOptions options, std::chrono::milliseconds timeout, const Clock& clock)
      : options_(std::move(options)), timeout_(timeout), clock_(clock),
        wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~RealOcctlPort() override {
    // Children still in flight are killed and reaped by ~ChildProcess; their `done` never runs.
    calls_.clear();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  absl::StatusOr<std::vector<SessionRecord>> ListSessions() override {
    return ListingOf(RunOcctl(options_, ListCommand(), timeout_, clock_), clock_.wall_now());
  }

  absl::Status Disconnect(const std::string& session_id) override {
    if (absl::Status s = ValidateOcctlId(session_id); !s.ok()) return s;
    return DisconnectOutcome(RunOcctl(options_, DisconnectCall(session_id), timeout_, clock_), Verb(), session_id);
  }

  void StartListSessions(ListDone done) override {
    Launch(ListCommand(), [this, done = std::move(done)](const absl::StatusOr<ProcessResult>& run) {
      done(ListingOf(run, clock_.wall_now()));
    });
  }

  void StartDisconnect(const std::string& session_id, DisconnectDone done) override {
    if (absl::Status s = ValidateOcctlId(session_id); !s.ok()) return done(s);
    Launch(DisconnectCall(session_id),
           [done = std::move(done), verb = Verb(), session_id](const absl::StatusOr<ProcessResult>& run) {
             done(DisconnectOutcome(run, verb, session_id));
           });
  }

  // One poll over every child's pipes and pidfd plus the wake eventfd; then each child is collected, and those done
  // or past their deadline are finished (killed and reaped if needed) and their `done` run.
  void Poll(std::chrono::milliseconds max_wait) override {
    if (calls_.empty()) return;
    fds_.clear();
    if (wake_fd_ >= 0) fds_.push_back({wake_fd_, POLLIN, 0});
    // Without the eventfd a Wake cannot interrupt the wait: keep it short.
    std::chrono::milliseconds wait = wake_fd_ >= 0 ? max_wait : std::min(max_wait, std::chrono::milliseconds(20));
    for (const auto& c : calls_) {
      c.child->AppendPollFds(fds_);
      wait = std::min(wait, c.child->MaxWait());
    }
    if (::poll(fds_.data(), fds_.size(), static_cast<int>(std::max<std::int64_t>(wait.count(), 0))) > 0 &&
        wake_fd_ >= 0 && (fds_[0].revents & POLLIN) != 0) {
      std::uint64_t n = 0;
      [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &n, sizeof n);
    }
    std::vector<std::pair<Finished, absl::StatusOr<ProcessResult>>> ended;
    for (auto it = calls_.begin(); it != calls_.end();) {
      it->child->Collect();
      if (it->child->Done() || it->child->Expired()) {
        ended.emplace_back(std::move(it->finished), it->child->Finish());
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
    // After the list is consistent: a `done` may start the next call.
    for (auto& [finished, result] : ended) finished(result);
  }

  void Wake() override {
    if (wake_fd_ < 0) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t r = ::write(wake_fd_, &one, sizeof one);
  }

 private:
  using Finished = std::function<void(const absl::StatusOr<ProcessResult>&)>;
  struct Call {
    std::unique_ptr<ChildProcess> child;
    Finished finished;
  };

  static OcctlCommand ListCommand() { return OcctlCommand{{"show", "users"}, {}, true}; }
  std::string Verb() const {
    return options_.disconnect_command == DisconnectCommand::kTerminate ? "terminate" : "disconnect";
  }
  OcctlCommand DisconnectCall(const std::string& session_id) const {
    return OcctlCommand{{Verb(), "id"}, {session_id}, false};
  }

  // posix_spawn now (a child that cannot start ends the call at once); the rest happens in Poll.
  void Launch(const OcctlCommand& command, Finished finished) {
    ProcessLimits limits;
    limits.timeout = ClampOcctlTimeout(options_, timeout_);
    auto child = ChildProcess::Start(OcctlArgv(options_, command), limits, clock_);
    if (!child.ok()) return finished(child.status());
    calls_.push_back(Call{*std::move(child), std::move(finished)});
  }

  const OcservOptions options_;
  const std::chrono::milliseconds timeout_;
  const Clock& clock_;
  const int wake_fd_;
  std::vector<Call> calls_;  // in flight; the supervisor's thread only
  std::vector<pollfd> fds_;  // reused by Poll
};

}  // namespace

std::unique_ptr<OcctlPort> MakeOcctlPort(const OcservOptions& options, std::chrono::milliseconds timeout,
                                         const Clock& clock) {
  return std::make_unique<RealOcctlPort>(options, timeout, clock);
}

}  // namespace oa
