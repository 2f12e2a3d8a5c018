// DevPkiDir(): a throwaway PKI made by scripts/dev-pki.sh (ca, portal, agent-client, rogue-ca, rogue-portal, ...),
// created once per test process in a fresh temporary directory. For tests only. Thread-safe (function-local static).
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

#ifndef OA_SOURCE_DIR
#error "OA_SOURCE_DIR must name the source tree (the oa_portal_sim target defines it)"
#endif

namespace oa::sim {

inline const std::string& DevPkiDir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/oa-dev-pki-XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    const std::string d = made;
    const std::string cmd = std::string("bash '") + OA_SOURCE_DIR + "/scripts/dev-pki.sh' '" + d + "' >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("scripts/dev-pki.sh failed");
    return d;
  }();
  return dir;
}

inline std::string DevPki(const std::string& file) { return DevPkiDir() + "/" + file; }

}  // namespace oa::sim
