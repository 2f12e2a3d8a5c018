// Counters of the management API: every call, and every refusal by kind. Plain atomics, read through a snapshot.
//
// Thread-safety: increments and snapshot() from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace oa {

struct ManagementCounters {
  struct Snapshot {
    std::uint64_t calls = 0;
    std::uint64_t ok = 0;
    std::uint64_t unauthenticated = 0;     // verified certificate, identity not listed
    std::uint64_t permission_denied = 0;   // listed, role too low
    std::uint64_t invalid_argument = 0;    // refused input (command injection attempts, bad names, ...)
    std::uint64_t failed = 0;              // any other non-OK status
    std::uint64_t commands_run = 0;        // occtl processes started
    std::uint64_t commands_timed_out = 0;  // occtl killed at its deadline
    std::uint64_t config_writes = 0;       // files actually replaced by UpdateConfig
    std::uint64_t slow_call_refused = 0;   // RESOURCE_EXHAUSTED: the caller's role had its slow-call budget in use
    std::uint64_t follow_refused = 0;      // RESOURCE_EXHAUSTED: the identity already had its log follows open
    // Connections (CappedAcceptor), filled in by ManagementServer::counters().
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_refused_at_cap = 0;
    std::uint64_t accept_errors = 0;
    std::uint64_t connections_open = 0;
  };

  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> unauthenticated{0};
  std::atomic<std::uint64_t> permission_denied{0};
  std::atomic<std::uint64_t> invalid_argument{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> commands_run{0};
  std::atomic<std::uint64_t> commands_timed_out{0};
  std::atomic<std::uint64_t> config_writes{0};
  std::atomic<std::uint64_t> slow_call_refused{0};
  std::atomic<std::uint64_t> follow_refused{0};

  Snapshot snapshot() const {
    Snapshot s;
    s.calls = calls.load();
    s.ok = ok.load();
    s.unauthenticated = unauthenticated.load();
    s.permission_denied = permission_denied.load();
    s.invalid_argument = invalid_argument.load();
    s.failed = failed.load();
    s.commands_run = commands_run.load();
    s.commands_timed_out = commands_timed_out.load();
    s.config_writes = config_writes.load();
    s.slow_call_refused = slow_call_refused.load();
    s.follow_refused = follow_refused.load();
    return s;
  }
};

}  // namespace oa
