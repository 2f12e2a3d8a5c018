#include "runner.h"

#include <spdlog/spdlog.h>

#include <sstream>

#include "invariants.h"

namespace oa::sim {
namespace {

void QuietLogs() {
  static const bool once = [] {
    spdlog::set_level(spdlog::level::off);  // the components log every degraded step: millions of lines
    return true;
  }();
  (void)once;
}

}  // namespace

Outcome RunSchedule(std::uint64_t seed, const std::vector<Action>& actions, PlantedBug bug, bool trace) {
  QuietLogs();
  Outcome out;
  {
    World w(seed, bug, trace);
    for (const Action& a : actions) {
      w.Apply(a);
      while (!w.violation && w.RunOneTask()) {
      }
      if (w.violation) break;
    }
    if (!w.violation) w.Quiesce();
    if (!w.violation) inv::CheckAtEnd(w);
    out.steps = w.step;
    out.hash = w.hash;
    if (w.violation) {
      out.ok = false;
      out.invariant = w.violation->invariant;
      out.message = w.violation->message;
    }
    out.trace = std::move(w.trace);
    out.coverage = w.coverage;
  }
  return out;
}

std::vector<Action> Shrink(std::uint64_t seed, std::vector<Action> actions, PlantedBug bug,
                           const std::string& invariant, int budget) {
  for (std::size_t chunk = std::max<std::size_t>(actions.size() / 2, 1); chunk >= 1 && budget > 0; chunk /= 2) {
    for (std::size_t i = 0; i < actions.size() && budget > 0;) {
      std::vector<Action> candidate;
      candidate.reserve(actions.size());
      for (std::size_t j = 0; j < actions.size(); ++j) {
        if (j < i || j >= i + chunk) candidate.push_back(actions[j]);
      }
      --budget;
      const Outcome o = RunSchedule(seed, candidate, bug, false);
      if (!o.ok && o.invariant == invariant) {
        actions = std::move(candidate);
      } else {
        i += chunk;
      }
    }
    if (chunk == 1) break;
  }
  return actions;
}

std::string FailureReport(std::uint64_t seed, PlantedBug bug) {
  const std::vector<Action> full = GenerateSchedule(seed);
  const Outcome first = RunSchedule(seed, full, bug, false);
  std::ostringstream out;
  if (first.ok) {
    out << "seed " << seed << " passes (no violation)\n";
    return out.str();
  }
  const std::vector<Action> shrunk = Shrink(seed, full, bug, first.invariant);
  const Outcome replay = RunSchedule(seed, shrunk, bug, true);
  out << "SIMULATION FAILURE: seed " << seed << " (planted bug: " << to_string(bug) << ")\n"
      << "  invariant " << first.invariant << ": " << first.message << "\n"
      << "  replay: build/tests/sim/oa_sim --replay " << seed
      << (bug != PlantedBug::kNone ? std::string(" --bug ") + to_string(bug) : std::string()) << "\n"
      << "  shrunk from " << full.size() << " to " << shrunk.size() << " actions";
  if (replay.ok || replay.invariant != first.invariant) {
    out << " (the shrunk schedule no longer fails the same way; full trace follows)\n";
    const Outcome full_trace = RunSchedule(seed, full, bug, true);
    for (const auto& line : full_trace.trace) out << "  " << line << "\n";
    return out.str();
  }
  out << "; its trace:\n";
  for (const auto& line : replay.trace) out << "  " << line << "\n";
  return out.str();
}

BatchResult RunBatch(std::uint64_t first, std::uint64_t count, PlantedBug bug, bool stop_at_first) {
  BatchResult r;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    const Outcome o = RunSeed(seed, bug);
    ++r.schedules;
    r.steps += o.steps;
    r.coverage.Add(o.coverage);
    if (!o.ok) {
      ++r.failures;
      if (!r.first_failing_seed) {
        r.first_failing_seed = seed;
        r.first_invariant = o.invariant;
      }
      if (stop_at_first) break;
    }
  }
  return r;
}

std::string Describe(const Coverage& c) {
  std::ostringstream out;
  out << c.answers << " answers (" << c.degraded_answers << " degraded, " << c.revoked_refusals
      << " revocation refusals, " << c.coalesced << " coalesced), " << c.portal_calls << " portal calls, "
      << c.breaker_trips << " breaker trips, " << c.crashes << " crashes, " << c.helpers_gone
      << " helpers gone before their answer, " << c.forced_disconnects << " forced disconnects, " << c.rechecks_owed
      << " re-checks owed after outages, " << c.events_received << " session events delivered";
  return out.str();
}

std::optional<PlantedBug> ParsePlantedBug(const std::string& name) {
  for (PlantedBug b : kAllPlantedBugs) {
    if (name == to_string(b)) return b;
  }
  return std::nullopt;
}

}  // namespace oa::sim
