// Runs schedules: one seed = one schedule (schedule.h) played against a fresh World (world.h), invariants checked
// after every step (invariants.h). A failing schedule is shrunk (actions dropped while the same invariant still
// fails) and replayed with a trace for the report.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "schedule.h"
#include "world.h"

namespace oa::sim {

struct Outcome {
  bool ok = true;
  std::string invariant;  // the first violated
  std::string message;
  std::uint64_t steps = 0;
  std::uint64_t hash = 0;  // of everything that happened: same seed, same hash
  std::vector<std::string> trace;
  Coverage coverage;
};

Outcome RunSchedule(std::uint64_t seed, const std::vector<Action>& actions, PlantedBug bug = PlantedBug::kNone,
                    bool trace = false);
inline Outcome RunSeed(std::uint64_t seed, PlantedBug bug = PlantedBug::kNone, bool trace = false) {
  return RunSchedule(seed, GenerateSchedule(seed), bug, trace);
}

// Drops actions while the same invariant still fails (at most `budget` re-runs).
std::vector<Action> Shrink(std::uint64_t seed, std::vector<Action> actions, PlantedBug bug,
                           const std::string& invariant, int budget = 400);

// The readable report of a failing seed: the violation, how to replay it, and the shrunk schedule's trace.
std::string FailureReport(std::uint64_t seed, PlantedBug bug);

struct BatchResult {
  std::uint64_t schedules = 0;
  std::uint64_t steps = 0;
  std::uint64_t failures = 0;
  std::optional<std::uint64_t> first_failing_seed;
  std::string first_invariant;
  Coverage coverage;
};
std::string Describe(const Coverage& c);
// Runs seeds [first, first + count); stops at the first failure if `stop_at_first`.
BatchResult RunBatch(std::uint64_t first, std::uint64_t count, PlantedBug bug = PlantedBug::kNone,
                     bool stop_at_first = true);

std::optional<PlantedBug> ParsePlantedBug(const std::string& name);

}  // namespace oa::sim
