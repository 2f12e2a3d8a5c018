#include "schedule.h"

#include <string>

namespace oa::sim {
namespace {

std::string SubjectName(int index) {
  if (index < 0) return "all";
  if (index < kUsers) return "user u" + std::to_string(index);
  return "group g" + std::to_string(index - kUsers);
}

const char* PortalModeName(int m) {
  static const char* names[] = {"healthy", "slow", "flaky", "malformed", "outage", "refusing"};
  return m >= 0 && m < static_cast<int>(PortalMode::kCount) ? names[m] : "?";
}
const char* DeliveryModeName(int m) {
  static const char* names[] = {"ok", "down", "lost-ack", "reject-some"};
  return m >= 0 && m < static_cast<int>(DeliveryMode::kCount) ? names[m] : "?";
}
const char* OcctlModeName(int m) {
  static const char* names[] = {"ok", "fails", "hangs"};
  return m >= 0 && m < static_cast<int>(OcctlMode::kCount) ? names[m] : "?";
}

}  // namespace

bool UsesOutbox(std::uint64_t seed) { return Rng(seed ^ 0x0b0cULL).Below(8) == 0; }

bool UsesFileOutbox(std::uint64_t seed) {
  // Half of those keep their outbox in a tmpfs file, so that they can crash and restart on it.
  return UsesOutbox(seed) && Rng(seed ^ 0x5eedf11eULL).Below(2) == 0;
}

bool MayCrash(std::uint64_t seed) { return !UsesOutbox(seed) || UsesFileOutbox(seed); }

std::vector<Action> GenerateSchedule(std::uint64_t seed) {
  Rng r(seed);
  const bool crashes = MayCrash(seed);
  const int n = r.Between(30, 70);
  std::vector<Action> out;
  out.reserve(n);
  using K = Action::Kind;
  for (int i = 0; i < n; ++i) {
    Action a;
    const int roll = r.Below(100);
    if (roll < 28) {
      a.kind = K::kConnect;
      a.a = r.Below(kUsers);
      a.b = r.Chance(30) ? r.Between(2, 5) : 1;
      a.c = r.Chance(20) ? r.Between(100, 1500) : r.Between(2000, 10000);
      a.d = r.Chance(8) ? 1 : 0;
    } else if (roll < 48) {
      a.kind = K::kAdvance;
      a.a = r.Chance(70) ? r.Between(1, 600) : r.Between(600, 40000);
    } else if (roll < 54) {
      a.kind = K::kDisconnect;
      a.a = r.Below(1000);
    } else if (roll < 56) {
      a.kind = K::kHostUpdate;
      a.a = r.Below(1000);
    } else if (roll < 64) {
      a.kind = K::kPortalMode;
      const int m = r.Below(100);
      a.a = static_cast<int>(m < 40   ? PortalMode::kHealthy
                             : m < 52 ? PortalMode::kSlow
                             : m < 68 ? PortalMode::kFlaky
                             : m < 74 ? PortalMode::kMalformed
                             : m < 94 ? PortalMode::kOutage
                                      : PortalMode::kRefusing);
    } else if (roll < 68) {
      a.kind = K::kDeliveryMode;
      a.a = r.Below(static_cast<int>(DeliveryMode::kCount));
    } else if (roll < 70) {
      a.kind = K::kOcctlMode;
      a.a = r.Below(static_cast<int>(OcctlMode::kCount));
    } else if (roll < 75) {
      a.kind = K::kRevoke;
      a.a = r.Below(kUsers + kGroups);
    } else if (roll < 78) {
      a.kind = K::kRestore;
      a.a = r.Below(kUsers + kGroups);
    } else if (roll < 80) {
      a.kind = K::kLocalRevoke;
      a.a = r.Below(kUsers + kGroups);
    } else if (roll < 81) {
      a.kind = K::kLocalRestore;
      a.a = r.Below(kUsers + kGroups);
    } else if (roll < 83) {
      a.kind = K::kInvalidate;
      a.a = r.Chance(25) ? -1 : r.Below(kUsers + kGroups);
    } else if (roll < 85) {
      a.kind = K::kRecheck;
      a.a = r.Chance(25) ? -1 : r.Below(kUsers + kGroups);
    } else if (roll < 86) {
      a.kind = K::kResync;
    } else if (roll < 91) {
      a.kind = K::kFailMode;
      a.a = r.Below(3);
      a.b = r.Below(2);
    } else if (roll < 94) {
      a.kind = K::kBreakerForce;
      a.a = r.Chance(50) ? 0 : r.Between(1, 2);
    } else if (roll < 97) {
      a.kind = K::kReload;
      a.a = r.Below(3);  // portal timeout preset
      a.b = r.Below(3);  // breaker preset
      a.c = r.Below(3);  // recheck rate preset
      a.d = r.Below(3);  // fail mode
    } else if (crashes) {
      a.kind = K::kCrash;
    } else {
      a.kind = K::kAdvance;
      a.a = r.Between(1, 100);
    }
    out.push_back(a);
  }
  return out;
}

std::string Describe(const Action& a) {
  using K = Action::Kind;
  switch (a.kind) {
    case K::kConnect:
      return "connect: " + std::to_string(a.b) + " helper(s) of user u" + std::to_string(a.a) + ", " +
             std::to_string(a.c) + " ms left" + (a.d ? ", killed early" : "");
    case K::kDisconnect: return "ocserv: disconnect-script for live session #" + std::to_string(a.a);
    case K::kHostUpdate: return "ocserv: host-update for live session #" + std::to_string(a.a);
    case K::kAdvance: return "time passes: " + std::to_string(a.a) + " ms";
    case K::kPortalMode: return std::string("portal becomes ") + PortalModeName(a.a);
    case K::kDeliveryMode: return std::string("event delivery becomes ") + DeliveryModeName(a.a);
    case K::kOcctlMode: return std::string("occtl becomes ") + OcctlModeName(a.a);
    case K::kRevoke: return "portal revokes " + SubjectName(a.a) + " (stream event)";
    case K::kRestore: return "portal restores " + SubjectName(a.a) + " (stream event)";
    case K::kLocalRevoke: return "operator revokes " + SubjectName(a.a) + " locally";
    case K::kLocalRestore: return "operator restores " + SubjectName(a.a) + " locally";
    case K::kInvalidate: return "portal invalidates " + SubjectName(a.a);
    case K::kRecheck: return "portal asks a re-check of " + SubjectName(a.a);
    case K::kResync: return "portal sends resync";
    case K::kFailMode: {
      static const char* modes[] = {"fail-open", "fail-close", "fail-stale"};
      return std::string("operator sets ") + modes[a.a % 3] + (a.b ? " (stale fallback open)" : "");
    }
    case K::kBreakerForce: {
      static const char* modes[] = {"auto", "force_open", "force_closed"};
      return std::string("operator sets breaker ") + modes[a.a % 3];
    }
    case K::kReload:
      return "config reload (timeout preset " + std::to_string(a.a) + ", breaker preset " + std::to_string(a.b) +
             ", recheck preset " + std::to_string(a.c) + ", fail mode " + std::to_string(a.d) + ")";
    case K::kCrash: return "agent crashes and restarts on the same outbox";
  }
  return "?";
}

}  // namespace oa::sim
