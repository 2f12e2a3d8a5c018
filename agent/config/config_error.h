// One problem found while loading the config file: the key path it concerns ("ipc.decision_timeout",
// "management.clients[1].role"; "" for a problem with the file as a whole), the 1-based line when yaml-cpp knows
// it (0 otherwise) and what is wrong. The loader returns every problem it found, never only the first.
#pragma once

#include <string>
#include <vector>

namespace oa {

struct ConfigError {
  std::string key;
  int line = 0;
  std::string message;
};

// "key (line N): message", "key: message" or just "message" for file-level problems.
std::string FormatConfigError(const ConfigError& error);

}  // namespace oa
