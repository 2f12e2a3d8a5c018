#include "agent/config/config_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "agent/config/config_checks.h"
#include "agent/config/config_parse.h"
#include "agent/config/yaml_section.h"

namespace oa {
namespace {

constexpr off_t kMaxConfigBytes = 1 << 20;  // a config file is a few KiB; refuse to slurp something else

ConfigLoadResult Failed(std::string message, int line = 0) {
  ConfigLoadResult r;
  r.errors.push_back(ConfigError{"", line, std::move(message)});
  return r;
}

// Reads the whole file, or says in one sentence why it cannot.
ConfigLoadResult ReadFile(const std::string& path, std::string* text) {
  if (path.empty()) return Failed("no config file given");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Failed(absl::StrCat("config file '", path, "' does not exist"));
    return Failed(absl::StrCat("cannot use config file '", path, "': ", std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) return Failed(absl::StrCat("'", path, "' is a directory; give the config file itself"));
  if (!S_ISREG(st.st_mode)) return Failed(absl::StrCat("'", path, "' is not a regular file"));
  if (st.st_size > kMaxConfigBytes) {
    return Failed(absl::StrCat("'", path, "' is ", st.st_size, " bytes; a config file is at most ", kMaxConfigBytes));
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Failed(absl::StrCat("cannot read config file '", path, "': ", std::strerror(errno)));
  text->clear();
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Failed(absl::StrCat("cannot read config file '", path, "': ", std::strerror(err)));
    }
    if (n == 0) break;
    text->append(buf, static_cast<std::size_t>(n));
    if (text->size() > static_cast<std::size_t>(kMaxConfigBytes)) {
      ::close(fd);
      return Failed(absl::StrCat("'", path, "' is larger than ", kMaxConfigBytes, " bytes"));
    }
  }
  ::close(fd);
  return ConfigLoadResult{};
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "ocserv-agent";
  return name;
}

// Absolute, so that resolved certificate paths stay right whatever the daemon's working directory becomes.
std::string DirectoryOf(const std::string& path) {
  std::string dir;
  auto slash = path.rfind('/');
  if (slash == std::string::npos) dir = ".";
  else if (slash == 0) dir = "/";
  else dir = path.substr(0, slash);
  if (dir.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) != nullptr) dir = dir == "." ? std::string(cwd) : absl::StrCat(cwd, "/", dir);
  }
  return dir;
}

ConfigLoadResult LoadFromText(std::string_view yaml, const std::string& base_dir, const std::string& source) {
  YAML::Node root;
  try {
    // LoadAll, not Load: Load reads the first document and silently drops the rest, so settings after a stray
    // "---" would be ignored without a word.
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    for (std::size_t i = 1; i < documents.size(); ++i) {
      if (documents[i].IsDefined() && !documents[i].IsNull()) {
        return Failed(absl::StrCat("the config file holds more than one YAML document (a second one starts after a "
                                   "'---' line); the agent reads exactly one: merge them or remove the extra one"),
                      LineOf(documents[i]));
      }
    }
    if (!documents.empty()) root = documents.front();
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    std::string where = line > 0 ? absl::StrCat("line ", line, ", column ", e.mark.column + 1, ": ") : "";
    return Failed(absl::StrCat("not valid YAML: ", where, e.msg));
  } catch (const std::exception& e) {
    return Failed(absl::StrCat("not valid YAML: ", e.what()));
  }
  if (!root.IsDefined() || root.IsNull()) {
    return Failed("the config file is empty (it holds no settings; see config.yaml.example)");
  }
  if (!root.IsMap()) {
    return Failed(absl::StrCat("the config file is not a YAML mapping of sections (agent:, ipc:, portal:, ...); "
                               "it holds ",
                               DescribeNode(root)),
                  LineOf(root));
  }

  auto config = std::make_shared<Config>();
  config->source_path = source;
  ConfigDiagnostics diag;
  try {
    ParseConfigTree(root, &diag, config.get());
    CheckConfig(base_dir, &diag, config.get());
  } catch (const std::exception& e) {
    // The reads avoid every throwing yaml-cpp call they know of; this keeps an unknown one from escaping.
    diag.Add("", 0, absl::StrCat("internal error while reading the config: ", e.what()));
  }
  ConfigLoadResult result;
  result.errors = std::move(diag.errors());
  if (!result.errors.empty()) {
    std::stable_sort(result.errors.begin(), result.errors.end(), [](const ConfigError& a, const ConfigError& b) {
      // By line; errors without a line (missing keys) after those with one.
      return (a.line == 0 ? INT32_MAX : a.line) < (b.line == 0 ? INT32_MAX : b.line);
    });
    return result;
  }
  if (config->agent.id.empty()) config->agent.id = HostName();
  result.config = std::move(config);
  return result;
}

}  // namespace

const std::vector<std::string>& KnownCacheKeyFields() {
  static const std::vector<std::string> fields{"username",  "groupname",  "vhost",    "ip_real",
                                               "ip_real_local", "device", "user_agent", "hostname",
                                               "device_type",   "device_platform"};
  return fields;
}

ConfigLoadResult LoadConfigFromString(std::string_view yaml, const std::string& base_dir) {
  return LoadFromText(yaml, base_dir, "");
}

ConfigLoadResult LoadConfigFile(const std::string& path) {
  std::string text;
  ConfigLoadResult read = ReadFile(path, &text);
  if (!read.errors.empty()) return read;
  return LoadFromText(text, DirectoryOf(path), path);
}

}  // namespace oa
