// A schedule: the list of things that happen to the agent from outside, generated from one seed. The neighbours'
// own randomness (portal latency, which call fails...) comes from a second stream of the same seed (world.h), so a
// schedule with some actions dropped (shrinking) still replays deterministically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace oa::sim {

// splitmix64: small, fast, and the same on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  int Below(int n) { return static_cast<int>(Next() % static_cast<std::uint64_t>(n)); }
  int Between(int lo, int hi) { return lo + Below(hi - lo + 1); }  // inclusive
  bool Chance(int percent) { return Below(100) < percent; }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

struct Action {
  enum class Kind : std::uint8_t {
    kConnect,       // a: user, b: burst size, c: helper time left (ms), d: 1 = the helpers are killed early
    kDisconnect,    // a: which live session (modulo); ocserv's disconnect-script
    kHostUpdate,    // a: which live session (modulo)
    kAdvance,       // a: milliseconds
    kPortalMode,    // a: PortalMode
    kDeliveryMode,  // a: DeliveryMode
    kOcctlMode,     // a: OcctlMode
    kRevoke,        // a: subject index (users then groups); from the portal's stream (the portal's truth changes)
    kRestore,       // a: subject index
    kLocalRevoke,   // a: subject index; an operator's AgentControl.Revoke (the portal still allows)
    kLocalRestore,  // a: subject index
    kInvalidate,    // a: subject index, or -1 for all
    kRecheck,       // a: subject index, or -1 for all
    kResync,
    kFailMode,      // a: FailMode, b: StaleFallback
    kBreakerForce,  // a: BreakerOverride
    kReload,        // a..d: index into the reload presets (world.cc)
    kCrash,         // the agent dies and starts again on the same outbox
  };
  Kind kind = Kind::kAdvance;
  int a = 0, b = 0, c = 0, d = 0;
};

enum class PortalMode : int { kHealthy, kSlow, kFlaky, kMalformed, kOutage, kRefusing, kCount };
enum class DeliveryMode : int { kOk, kDown, kLostAck, kRejectSome, kCount };
enum class OcctlMode : int { kOk, kFails, kHangs, kCount };

inline constexpr int kUsers = 6;   // u0..u5; u5 is denied by the portal's policy
inline constexpr int kGroups = 3;  // user i is in group g(i % 3)

// Whether a schedule has session events at all (an outbox and a sender): one in eight. SQLite makes such a schedule
// ~14 times as costly as one without (docs/simulation.md#cost); the others check the decision side.
bool UsesOutbox(std::uint64_t seed);
// Whether a schedule's outbox lives in a tmpfs file (half of those with events) or in SQLite's memory.
bool UsesFileOutbox(std::uint64_t seed);
// Whether the agent may crash and restart in this schedule: not with an outbox in memory (it would lose it).
bool MayCrash(std::uint64_t seed);
std::vector<Action> GenerateSchedule(std::uint64_t seed);
std::string Describe(const Action& action);

}  // namespace oa::sim
