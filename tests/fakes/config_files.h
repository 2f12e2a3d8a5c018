// Helpers for tests that need a loadable config file: placeholder certificate files at the relative paths
// config.yaml.example uses (the loader only checks that they are readable; tests that do TLS use scripts/dev-pki.sh
// output instead), and a YAML builder where a test replaces whole sections of an otherwise valid config.
#pragma once

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "temp_dir.h"

namespace oa::testing {

// The certificate paths of config.yaml.example, relative to the config file's directory.
inline const char* const kExamplePkiFiles[] = {"pki/portal-ca.pem", "pki/agent-client.pem", "pki/agent-client.key",
                                               "pki/management.pem", "pki/management.key",
                                               "pki/management-client-ca.pem"};

inline void WritePlaceholderPki(const TempDir& dir) {
  for (const char* f : kExamplePkiFiles) {
    dir.WriteFile(f, "-----BEGIN PLACEHOLDER-----\nnot a real certificate\n-----END PLACEHOLDER-----\n");
  }
}

// Real certificates at the example's paths, for tests that start the daemon (its portal client loads them):
// scripts/dev-pki.sh makes a throwaway PKI once under `cache_dir` (under a lock) and its files are copied in.
// `source_dir` is the repository root. Returns false (the test should fail) if the script failed.
inline bool WriteDevPki(const TempDir& dir, const std::string& source_dir, const std::string& cache_dir) {
  // flock: test processes started at once (ctest -j) must not write the same cache directory together.
  const std::string cmd =
      "flock '" + cache_dir + ".lock' '" + source_dir + "/scripts/dev-pki.sh' '" + cache_dir + "' >/dev/null";
  if (std::system(cmd.c_str()) != 0) return false;
  const std::pair<const char*, const char*> copies[] = {
      {"ca.pem", "pki/portal-ca.pem"},           {"agent-client.pem", "pki/agent-client.pem"},
      {"agent-client.key", "pki/agent-client.key"}, {"management.pem", "pki/management.pem"},
      {"management.key", "pki/management.key"},  {"ca.pem", "pki/management-client-ca.pem"}};
  for (const auto& [from, to] : copies) {
    std::ifstream in(cache_dir + "/" + from, std::ios::binary);
    if (!in) return false;
    std::ostringstream content;
    content << in.rdbuf();
    dir.WriteFile(to, content.str());
  }
  return true;
}

// A valid config (with WritePlaceholderPki beside it). `sections` replaces or adds top-level sections by name; the
// value is the section's body, indented by two spaces, or "" to drop the section.
inline std::string TestConfigYaml(const std::map<std::string, std::string>& sections = {}) {
  std::map<std::string, std::string> all = {
      {"portal",
       "  address: 127.0.0.1:1\n"
       "  ca_file: pki/portal-ca.pem\n"
       "  cert_file: pki/agent-client.pem\n"
       "  key_file: pki/agent-client.key\n"},
      {"management",
       "  enabled: true\n"
       "  listen: 127.0.0.1:0\n"
       "  cert_file: pki/management.pem\n"
       "  key_file: pki/management.key\n"
       "  client_ca: pki/management-client-ca.pem\n"
       "  clients:\n"
       "    - {identity: admin.test, role: admin}\n"},
      // Beside the config file, never the system's /var/lib/ocserv-agent.
      {"events", "  outbox_path: outbox.db\n"},
  };
  for (const auto& [name, body] : sections) all[name] = body;
  std::string out;
  for (const auto& [name, body] : all) {
    if (!body.empty()) out += name + ":\n" + body;
  }
  return out;
}

}  // namespace oa::testing
