// DevPkiDir(): a throwaway PKI made by scripts/dev-pki.sh (ca, portal, agent-client, rogue-ca, rogue-portal, ...),
// made once per build tree (OA_TEST_PKI_DIR, under the build directory) and shared by every test process; flock keeps
// two test processes started at once from writing it together. For tests only. Thread-safe (function-local static).
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

#if !defined(OA_SOURCE_DIR) || !defined(OA_TEST_PKI_DIR)
#error "OA_SOURCE_DIR and OA_TEST_PKI_DIR must be defined (the oa_portal_sim target defines them)"
#endif

namespace oa::sim {

inline const std::string& DevPkiDir() {
  static const std::string dir = [] {
    const std::string d = OA_TEST_PKI_DIR;
    const std::string cmd = "flock '" + d + ".lock' bash '" + OA_SOURCE_DIR + "/scripts/dev-pki.sh' '" + d + "' >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("scripts/dev-pki.sh failed");
    return d;
  }();
  return dir;
}

inline std::string DevPki(const std::string& file) { return DevPkiDir() + "/" + file; }

}  // namespace oa::sim
