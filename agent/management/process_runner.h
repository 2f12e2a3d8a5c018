// Runs one program by absolute path with an argv — posix_spawn, never a shell — and waits for it with a deadline:
// stdout and stderr are captured up to a cap, and a program still running at the deadline is killed (SIGKILL to its
// whole process group, so that its own children die too). The child gets a fixed minimal environment, /dev/null
// as stdin and no other descriptor of ours. The output is returned as valid UTF-8 (it goes into proto3 strings):
// invalid bytes become '?', and the cap cuts at a character boundary.
//
// Thread-safety: RunProcess may be called from several threads at once; each call owns its child.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "resilience/clock.h"

namespace oa {

struct ProcessLimits {
  std::chrono::milliseconds timeout{30000};
  std::size_t max_output_bytes = 1 << 20;  // per stream; the rest is read and discarded
};

struct ProcessResult {
  int exit_code = -1;        // exit status, or 128 + signal number when killed by a signal
  bool timed_out = false;    // killed by us at the deadline
  bool output_truncated = false;
  std::string stdout_text;
  std::string stderr_text;
};

// argv[0] must be an absolute path. Errors (as a status) only when the program could not be started; a program that
// ran and failed is an OK result with its exit code.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv, const ProcessLimits& limits,
                                         const Clock& clock);

// One started child whose output is collected without blocking, for a caller that watches several at once on one
// thread (live enforcement's occtl calls). RunProcess is this class driven to the end for one child. The loop:
//   poll() the descriptors AppendPollFds lists (POLLIN) for at most MaxWait(); Collect(); once Done() or Expired(),
//   Finish() for the result (killing the whole process group if the deadline passed).
//
// Thread-safety: one thread at a time per object. The destructor kills and reaps a child not finished.
class ChildProcess {
 public:
  // argv[0] must be an absolute path. Errors only when the program could not be started.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                            const ProcessLimits& limits, const Clock& clock);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The descriptors to watch for POLLIN: the pipes still open, and the pidfd while the child is not reaped.
  void AppendPollFds(std::vector<pollfd>& out) const;
  // How long a poll may wait for this child: up to its deadline, at most 1 s (20 ms without a pidfd, since reaping
  // is then polled).
  std::chrono::milliseconds MaxWait() const;
  // Reads what the pipes hold and reaps the child if it exited. Never blocks.
  void Collect();
  // Exited and both pipes closed.
  bool Done() const;
  bool Expired() const;
  // The result; kills what the deadline left running. Call once.
  ProcessResult Finish();

  struct State;

 private:
  explicit ChildProcess(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace oa
