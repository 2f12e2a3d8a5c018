// Process-wide settings for a program that uses gRPC, called first thing in main(): the agent, the reference portal
// and the benchmarks that measure against it, so that they all run gRPC the same way.
#pragma once

#include "absl/synchronization/mutex.h"

namespace oa {

// Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock detection on: every lock gRPC takes then
// updates a global lock graph (GraphCycles, ~3 % of the agent's samples under perf in a connect storm; turning it off
// saved ~5 % of the agent's CPU per request in an interleaved A/B of the decision-path benchmark, BENCHMARKS.md).
// Our own locks are std::mutex, and ThreadSanitizer in CI is where lock-order problems are looked for.
inline void SetUpGrpcProcess() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace oa
