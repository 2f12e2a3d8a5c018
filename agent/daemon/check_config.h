// `ocserv-agent --check-config -c FILE`: validates FILE the way the daemon would load it, prints every problem on
// stderr ("FILE: key (line N): message", one per line) and a one-line verdict on stdout. Returns the exit code: 0
// when the file is valid, 1 otherwise.
#pragma once

#include <cstdio>
#include <string>

namespace oa {

int CheckConfigCommand(const std::string& path, std::FILE* out, std::FILE* err);

}  // namespace oa
