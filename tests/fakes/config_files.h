// Helpers for tests that need a loadable config file: placeholder certificate files at the relative paths
// config.yaml.example uses (the loader only checks that they are readable; tests that do TLS use scripts/dev-pki.sh
// output instead), and a YAML builder where a test replaces whole sections of an otherwise valid config.
#pragma once

#include <map>
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
  };
  for (const auto& [name, body] : sections) all[name] = body;
  std::string out;
  for (const auto& [name, body] : all) {
    if (!body.empty()) out += name + ":\n" + body;
  }
  return out;
}

}  // namespace oa::testing
