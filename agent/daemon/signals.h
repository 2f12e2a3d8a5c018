// Delivers SIGTERM, SIGINT and SIGHUP to the main loop as events instead of asynchronous handlers: the signals are
// blocked and read from a signalfd, so no code runs in signal context at all. Create() must run in the main thread
// before any other thread starts, so that every thread inherits the blocked mask (otherwise the kernel could deliver
// a signal to a gRPC thread with the default action: termination). Also ignores SIGPIPE (a peer that hangs up must
// never kill the agent).
//
// Child processes inherit the blocked mask across exec: code that spawns one (occtl) must reset it in the child
// (posix_spawnattr_setsigmask with an empty set, plus POSIX_SPAWN_SETSIGDEF for these signals).
//
// Thread-safety: Wait() from one thread (the main loop).
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/statusor.h"

namespace oa {

enum class SignalEvent { kNone, kTerminate, kReload };

class SignalListener {
 public:
  static absl::StatusOr<std::unique_ptr<SignalListener>> Create();
  ~SignalListener();  // closes the signalfd and restores the mask it found
  SignalListener(const SignalListener&) = delete;
  SignalListener& operator=(const SignalListener&) = delete;

  // The next signal, waiting at most `timeout` (negative = forever). kNone on timeout.
  SignalEvent Wait(std::chrono::milliseconds timeout);

 private:
  explicit SignalListener(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace oa
