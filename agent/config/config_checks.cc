#include "agent/config/config_checks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "agent/config/duration.h"

namespace oa {
namespace {

// Line of `key`, or of its section when the key itself is absent (a missing required key).
int LineNear(const ConfigDiagnostics& diag, const std::string& key) {
  if (int line = diag.LineOf(key)) return line;
  auto dot = key.rfind('.');
  return dot == std::string::npos ? 0 : diag.LineOf(key.substr(0, dot));
}

void Fail(ConfigDiagnostics* diag, const std::string& key, std::string message) {
  diag->Add(key, LineNear(*diag, key), std::move(message));
}

// Checks one certificate/key file and makes its path absolute. The daemon reads these files later (and again on
// reload); checking here turns "TLS handshake failed" at 3 a.m. into a config error naming the key.
void CheckReadableFile(const std::string& base_dir, const std::string& key, std::string* path,
                       ConfigDiagnostics* diag) {
  if (path->empty()) {
    Fail(diag, key, "is required (a PEM file)");
    return;
  }
  if (path->front() != '/') *path = (base_dir.empty() ? std::string(".") : base_dir) + "/" + *path;
  struct stat st {};
  if (::stat(path->c_str(), &st) != 0) {
    Fail(diag, key, absl::StrCat("cannot use '", *path, "': ", std::strerror(errno)));
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    Fail(diag, key, absl::StrCat("'", *path, "' is a directory, not a file"));
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    Fail(diag, key, absl::StrCat("'", *path, "' is not a regular file"));
    return;
  }
  int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Fail(diag, key, absl::StrCat("cannot read '", *path, "': ", std::strerror(errno)));
    return;
  }
  ::close(fd);
  if (st.st_size == 0) Fail(diag, key, absl::StrCat("'", *path, "' is empty"));
}

// A cross-field check compares values that passed their own checks; a rejected key keeps its default, and comparing
// that default would report a second, wrong problem for one mistake.
bool AllValid(const ConfigDiagnostics& diag, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (diag.HasErrorAt(k)) return false;
  }
  return true;
}

}  // namespace

void CheckConfig(const std::string& base_dir, ConfigDiagnostics* diag, Config* c) {
  // Nested deadlines (docs/architecture.md#deadlines): the agent must be able to fall back before its own deadline
  // expires.
  if (AllValid(*diag, {"portal.timeout", "ipc.decision_timeout"}) && c->portal.timeout >= c->ipc.decision_timeout) {
    Fail(diag, "portal.timeout",
         absl::StrCat("(", FormatDuration(c->portal.timeout), ") must be shorter than ipc.decision_timeout (",
                      FormatDuration(c->ipc.decision_timeout),
                      "), so that a slow portal still leaves time to answer from the cache or the fail mode"));
  }
  const auto& cb = c->resilience.circuit_breaker;
  if (AllValid(*diag, {"resilience.circuit_breaker.open_timeout", "resilience.circuit_breaker.max_open_timeout"}) &&
      cb.open_timeout > cb.max_open_timeout) {
    Fail(diag, "resilience.circuit_breaker.max_open_timeout",
         absl::StrCat("(", FormatDuration(cb.max_open_timeout), ") must not be shorter than open_timeout (",
                      FormatDuration(cb.open_timeout), ")"));
  }
  const auto& cache = c->resilience.cache;
  if (AllValid(*diag, {"resilience.cache.stale_ttl", "resilience.cache.allow_ttl", "resilience.cache.deny_ttl"}) &&
      (cache.stale_ttl < cache.allow_ttl || cache.stale_ttl < cache.deny_ttl)) {
    Fail(diag, "resilience.cache.stale_ttl",
         absl::StrCat("(", FormatDuration(cache.stale_ttl), ") must not be shorter than allow_ttl (",
                      FormatDuration(cache.allow_ttl), ") or deny_ttl (", FormatDuration(cache.deny_ttl), ")"));
  }

  // Like the certificate paths: a relative outbox path is relative to the config file, not to the working directory.
  if (auto& outbox = c->events.outbox.path; !outbox.empty() && outbox.front() != '/') {
    outbox = (base_dir.empty() ? std::string(".") : base_dir) + "/" + outbox;
  }

  // A whole missing section is one problem, not one per required key in it.
  if (!diag->Has("portal")) {
    Fail(diag, "portal", "section is required: address, ca_file, cert_file and key_file (mTLS to the portal)");
  } else {
    CheckReadableFile(base_dir, "portal.ca_file", &c->portal.ca_file, diag);
    CheckReadableFile(base_dir, "portal.cert_file", &c->portal.cert_file, diag);
    CheckReadableFile(base_dir, "portal.key_file", &c->portal.key_file, diag);
  }
  if (c->management.enabled) {
    CheckReadableFile(base_dir, "management.cert_file", &c->management.cert_file, diag);
    CheckReadableFile(base_dir, "management.key_file", &c->management.key_file, diag);
    CheckReadableFile(base_dir, "management.client_ca", &c->management.client_ca, diag);
    if (c->management.clients.empty()) {
      Fail(diag, "management.clients", "management is enabled but lists no clients, so nobody could call it");
    }
  }
}

}  // namespace oa
