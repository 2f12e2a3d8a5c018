#include "agent/management/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace oa {
namespace {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

absl::Status Errno(std::string_view what, int err) {
  return absl::InternalError(absl::StrCat(std::string(what), ": ", std::strerror(err)));
}

// The child's whole environment: nothing of the agent's (its config paths, credentials) leaks into occtl.
constexpr const char* kChildEnv[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", nullptr};

int ToExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Reads what is available on fd into out (up to cap; the rest is discarded); returns false at EOF or on a hard
// error. At most kReadsPerWakeup reads: a child that writes as fast as we read would otherwise keep us here, never
// back at the deadline check.
constexpr int kReadsPerWakeup = 4;

bool Drain(int fd, std::string& out, std::size_t cap, bool& truncated) {
  char buf[16384];
  for (int reads = 0; reads < kReadsPerWakeup;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      ++reads;
      const std::size_t room = cap > out.size() ? cap - out.size() : 0;
      const std::size_t take = std::min(room, static_cast<std::size_t>(n));
      out.append(buf, take);
      if (take < static_cast<std::size_t>(n)) truncated = true;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

// Makes captured output valid UTF-8 for the proto3 string fields it ends up in. When the cap cut the output, a
// character it split is dropped whole (a '?' there would be an artefact of the cap, not of the program); any other
// invalid byte becomes '?'.
void MakeUtf8(std::string& s, bool cut) {
  if (cut) {
    std::size_t lead = s.size();
    while (lead > 0 && s.size() - lead < 3 && (static_cast<unsigned char>(s[lead - 1]) & 0xC0) == 0x80) --lead;
    if (lead > 0) {
      const auto c = static_cast<unsigned char>(s[lead - 1]);
      const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (need > s.size() - (lead - 1)) s.resize(lead - 1);
    }
  }
  SanitizeUtf8(&s);
}

// Starts argv[0] (absolute) with stdin from /dev/null and stdout/stderr on the given pipe ends, default signals, in
// a process group of its own (the timeout kill reaches grandchildren), and nothing else of the agent's descriptors.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, int out_w, int err_w) {
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w, 2);
  // Nothing else of the agent's reaches occtl: not its sockets, not a descriptor another thread (a library) opened
  // without O_CLOEXEC.
  if (const int err = posix_spawn_file_actions_addclosefrom_np(&actions, 3); err != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return Errno("posix_spawn_file_actions_addclosefrom_np", err);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: the timeout kill reaches grandchildren
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, cargv[0], &actions, &attr, cargv.data(), const_cast<char**>(kChildEnv));
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Errno(absl::StrCat("cannot run ", argv[0]), rc);
  return pid;
}

}  // namespace

// What ChildProcess holds: the child, its pipes and pidfd, how far it got, and the output so far.
struct ChildProcess::State {
  pid_t pid = -1;
  Fd out_r, err_r, pidfd;
  ProcessLimits limits;
  const Clock* clock = nullptr;
  Clock::MonoTime deadline{};
  bool exited = false;
  bool out_open = true;
  bool err_open = true;
  bool out_cut = false;
  bool err_cut = false;
  bool finished = false;
  int status = 0;  // waitpid status, once exited
  ProcessResult result;
};

// The steps: the pipes, Spawn, a pidfd to wait on (pidfd_open, Linux >= 5.3; without it reaping is polled).
absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::vector<std::string>& argv,
                                                                 const ProcessLimits& limits, const Clock& clock) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return absl::InvalidArgumentError("program path must be absolute");
  }
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return Errno("pipe", errno);
  auto st = std::make_unique<State>();
  st->out_r.reset(out_pipe[0]);
  Fd out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return Errno("pipe", errno);
  st->err_r.reset(err_pipe[0]);
  Fd err_w(err_pipe[1]);
  // The child's ends must block like ordinary stdout/stderr.
  ::fcntl(out_w.get(), F_SETFL, 0);
  ::fcntl(err_w.get(), F_SETFL, 0);

  const absl::StatusOr<pid_t> pid = Spawn(argv, out_w.get(), err_w.get());
  if (!pid.ok()) return pid.status();
  // out_w and err_w close on return: only the child writes now, so its exit closes the pipes.
  st->pid = *pid;
  // glibc 2.36's <sys/pidfd.h> lacks extern "C", so the raw system call.
  st->pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));
  st->limits = limits;
  st->clock = &clock;
  st->deadline = clock.now() + limits.timeout;
  return std::unique_ptr<ChildProcess>(new ChildProcess(std::move(st)));
}

ChildProcess::ChildProcess(std::unique_ptr<State> state) : state_(std::move(state)) {}

ChildProcess::~ChildProcess() {
  // Abandoned (its owner is going away): nothing of it may outlive us, not even a zombie.
  if (state_ && !state_->finished) Finish();
}

void ChildProcess::AppendPollFds(std::vector<pollfd>& out) const {
  if (state_->out_open) out.push_back({state_->out_r.get(), POLLIN, 0});
  if (state_->err_open) out.push_back({state_->err_r.get(), POLLIN, 0});
  if (!state_->exited && state_->pidfd.get() >= 0) out.push_back({state_->pidfd.get(), POLLIN, 0});
}

std::chrono::milliseconds ChildProcess::MaxWait() const {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(state_->deadline - state_->clock->now());
  const std::chrono::milliseconds cap(!state_->exited && state_->pidfd.get() < 0 ? 20 : 1000);
  return std::clamp(left, std::chrono::milliseconds(0), cap);
}

void ChildProcess::Collect() {
  State& s = *state_;
  if (s.out_open) s.out_open = Drain(s.out_r.get(), s.result.stdout_text, s.limits.max_output_bytes, s.out_cut);
  if (s.err_open) s.err_open = Drain(s.err_r.get(), s.result.stderr_text, s.limits.max_output_bytes, s.err_cut);
  if (!s.exited) {
    const pid_t w = ::waitpid(s.pid, &s.status, WNOHANG);
    if (w == s.pid) s.exited = true;
  }
}

bool ChildProcess::Done() const { return state_->exited && !state_->out_open && !state_->err_open; }

bool ChildProcess::Expired() const { return state_->clock->now() >= state_->deadline; }

// Ends what the deadline left running (the whole group, reaped), then fills in the exit code and the flags, and makes
// the output valid UTF-8.
ProcessResult ChildProcess::Finish() {
  State& s = *state_;
  s.finished = true;
  ProcessResult& result = s.result;
  if (!s.exited) {
    // Deadline: kill the whole group, then reap (SIGKILL makes this prompt).
    result.timed_out = true;
    ::kill(-s.pid, SIGKILL);
    ::kill(s.pid, SIGKILL);
    while (::waitpid(s.pid, &s.status, 0) < 0 && errno == EINTR) {
    }
    s.exited = true;
  } else if (s.out_open || s.err_open) {
    // The program exited but something it started still holds the pipes open past the deadline.
    result.timed_out = true;
    ::kill(-s.pid, SIGKILL);
  }
  result.exit_code = ToExitCode(s.status);
  result.output_truncated = s.out_cut || s.err_cut;
  MakeUtf8(result.stdout_text, s.out_cut);
  MakeUtf8(result.stderr_text, s.err_cut);
  return std::move(result);
}

// One child driven to the end: poll its descriptors until it exited and closed its pipes, or until the deadline.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv, const ProcessLimits& limits,
                                         const Clock& clock) {
  auto child = ChildProcess::Start(argv, limits, clock);
  if (!child.ok()) return child.status();
  std::vector<pollfd> fds;
  while (!(*child)->Done()) {
    const auto wait = (*child)->MaxWait();
    if (wait.count() <= 0) break;  // the deadline
    fds.clear();
    (*child)->AppendPollFds(fds);
    if (::poll(fds.data(), fds.size(), static_cast<int>(wait.count())) < 0 && errno != EINTR) break;
    (*child)->Collect();
  }
  return (*child)->Finish();
}

}  // namespace oa
