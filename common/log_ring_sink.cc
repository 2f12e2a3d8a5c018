#include "common/log_ring_sink.h"

#include <spdlog/sinks/base_sink.h>

#include <mutex>
#include <utility>

namespace oa {
namespace {

class LogRingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LogRingSink(std::shared_ptr<LogRing> ring) : ring_(std::move(ring)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    LogRecord r;
    r.time = msg.time;
    const auto level = spdlog::level::to_string_view(msg.level);
    r.level.assign(level.data(), level.size());
    r.logger.assign(msg.logger_name.data(), msg.logger_name.size());
    r.message.assign(msg.payload.data(), msg.payload.size());
    ring_->Append(std::move(r));
  }
  void flush_() override {}

 private:
  std::shared_ptr<LogRing> ring_;
};

}  // namespace

std::shared_ptr<spdlog::sinks::sink> MakeLogRingSink(std::shared_ptr<LogRing> ring) {
  return std::make_shared<LogRingSink>(std::move(ring));
}

}  // namespace oa
