// An spdlog sink that copies every formatted-free log line (level, logger, payload, time) into a LogRing, so that
// StreamLogs can serve the agent's own recent logs. Add it to the default logger's sinks at start-up:
//   spdlog::default_logger()->sinks().push_back(oa::MakeLogRingSink(ring));
// Deliberately free of spdlog includes (they are costly): the sink type is only forward-declared.
//
// Thread-safety: the sink is spdlog's mutex-protected base_sink; the ring is itself thread-safe.
#pragma once

#include <memory>

#include "common/log_ring.h"

namespace spdlog::sinks {
class sink;
}

namespace oa {

std::shared_ptr<spdlog::sinks::sink> MakeLogRingSink(std::shared_ptr<LogRing> ring);

}  // namespace oa
