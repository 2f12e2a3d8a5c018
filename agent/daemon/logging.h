// Sets up the process's default spdlog logger: stderr, as text or as one JSON object per line, at the configured
// level. Under systemd (JOURNAL_STREAM names our stderr) each line starts with its syslog priority ("<4>") and has no
// timestamp of its own, so journald files it at the right priority. Components log through spdlog's default logger from .cc files.
// Thread-safety: call from the main thread (startup and reload); logging itself is thread-safe.
#pragma once

#include "agent/config/config.h"

namespace oa {

// Before the config is read: text at info, so that config problems are reported somewhere readable.
void InitBootstrapLogging();

// Applies `options`; on reload a changed level or format takes effect at once.
void ConfigureLogging(const LoggingOptions& options);

}  // namespace oa
