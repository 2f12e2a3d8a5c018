#include "agent/daemon/check_config.h"

#include "agent/config/config_loader.h"

namespace oa {

int CheckConfigCommand(const std::string& path, std::FILE* out, std::FILE* err) {
  ConfigLoadResult r = LoadConfigFile(path);
  if (r.ok()) {
    std::fprintf(out, "%s: configuration is valid\n", path.c_str());
    return 0;
  }
  for (const auto& e : r.errors) std::fprintf(err, "%s: %s\n", path.c_str(), FormatConfigError(e).c_str());
  std::fprintf(out, "%s: configuration is NOT valid (%zu problem%s)\n", path.c_str(), r.errors.size(),
               r.errors.size() == 1 ? "" : "s");
  return 1;
}

}  // namespace oa
