// Small helpers shared by the IPC bench programs: percentiles and an instant-answer authorizer (a cache hit).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ipc/authorizer.h"

namespace oa::bench {

inline double PercentileUs(std::vector<std::int64_t> ns, double p) {
  if (ns.empty()) return 0;
  std::sort(ns.begin(), ns.end());
  const auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(ns.size() - 1));
  return static_cast<double>(ns[idx]) / 1000.0;
}

// Answers allow inline, as a fresh cache hit does.
class InstantAuthorizer final : public Authorizer {
 public:
  void Authorize(std::shared_ptr<const IpcRequest>, Clock::MonoTime, Done done) override {
    done(IpcReply::FromDecision({Verdict::kAllow, DecisionSource::kCache, ""}));
  }
};

}  // namespace oa::bench
