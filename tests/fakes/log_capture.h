// LogCapture: keeps every message the default spdlog logger writes while it lives (message text only, no prefix),
// so that a test can check what an audit line looks like. Tests should assert on counters and returned values; this
// is for the few where the log line itself is the behaviour (an audit line must not be forgeable).
// Thread-safety: lines() may be called while other threads log.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace oa::testing {

class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<Sink>()) { spdlog::default_logger()->sinks().push_back(sink_); }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Every line written so far. A message holding '\n' shows up as several lines: that is what tests look for.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(sink_->text());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  // The lines that contain `needle`.
  std::vector<std::string> lines_with(const std::string& needle) const {
    std::vector<std::string> out;
    for (auto& l : lines()) {
      if (l.find(needle) != std::string::npos) out.push_back(std::move(l));
    }
    return out;
  }

 private:
  class Sink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string text() {
      std::lock_guard<std::mutex> lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      text_.append(msg.payload.data(), msg.payload.size());
      text_ += '\n';
    }
    void flush_() override {}

   private:
    std::string text_;  // guarded by mutex_ (base_sink's)
  };
  std::shared_ptr<Sink> sink_;
};

}  // namespace oa::testing
