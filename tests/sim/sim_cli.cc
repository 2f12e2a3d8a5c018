// oa_sim: runs the simulation from the command line — long soaks (scripts/sim-soak.sh) and replaying one seed.
//   oa_sim --first N --count M [--bug NAME]   runs seeds N..N+M-1, prints a report for each failure
//   oa_sim --replay SEED [--bug NAME]         prints the seed's (shrunk) trace, or that it passes
// Exit status: 0 when no schedule failed.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runner.h"

int main(int argc, char** argv) {
  std::uint64_t first = 1, count = 1000;
  std::optional<std::uint64_t> replay;
  oa::sim::PlantedBug bug = oa::sim::PlantedBug::kNone;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--first" && value) {
      first = std::strtoull(value, nullptr, 10);
      ++i;
    } else if (arg == "--count" && value) {
      count = std::strtoull(value, nullptr, 10);
      ++i;
    } else if (arg == "--replay" && value) {
      replay = std::strtoull(value, nullptr, 10);
      ++i;
    } else if (arg == "--bug" && value) {
      auto b = oa::sim::ParsePlantedBug(value);
      if (!b) {
        std::fprintf(stderr, "oa_sim: unknown planted bug \"%s\"\n", value);
        return 2;
      }
      bug = *b;
      ++i;
    } else {
      std::fprintf(stderr, "usage: oa_sim [--first N --count M | --replay SEED] [--bug NAME]\n");
      return 2;
    }
  }
  if (replay) {
    const std::string report = oa::sim::FailureReport(*replay, bug);
    std::fputs(report.c_str(), stdout);
    return report.rfind("SIMULATION FAILURE", 0) == 0 ? 1 : 0;
  }
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t schedules = 0, steps = 0, failures = 0;
  // CPU time of the whole process (the core's threads included), by kind of schedule: the single-core cost.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  double cpu[2] = {0, 0};
  oa::sim::Coverage coverage;
  std::uint64_t kinds[2] = {0, 0};
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    const double before = cpu_now();
    const oa::sim::Outcome o = oa::sim::RunSeed(seed, bug);
    const int kind = oa::sim::UsesOutbox(seed) ? 1 : 0;
    cpu[kind] += cpu_now() - before;
    ++kinds[kind];
    ++schedules;
    steps += o.steps;
    coverage.Add(o.coverage);
    if (!o.ok) {
      ++failures;
      std::fputs(oa::sim::FailureReport(seed, bug).c_str(), stdout);
      std::fflush(stdout);
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("oa_sim: seeds %llu..%llu: %llu schedules, %llu steps, %llu violation(s), %.1f s (%.0f us/schedule)\n",
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + count - 1),
              static_cast<unsigned long long>(schedules), static_cast<unsigned long long>(steps),
              static_cast<unsigned long long>(failures), s, schedules ? s * 1e6 / static_cast<double>(schedules) : 0);
  std::printf("oa_sim: covered %s\n", oa::sim::Describe(coverage).c_str());
  std::printf("oa_sim: CPU per schedule: %.0f us without session events (%llu), %.0f us with (%llu)\n",
              kinds[0] ? cpu[0] * 1e6 / static_cast<double>(kinds[0]) : 0, static_cast<unsigned long long>(kinds[0]),
              kinds[1] ? cpu[1] * 1e6 / static_cast<double>(kinds[1]) : 0, static_cast<unsigned long long>(kinds[1]));
  return failures == 0 ? 0 : 1;
}
