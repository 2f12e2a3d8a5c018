#include "agent/daemon/lifecycle.h"

#include <spdlog/spdlog.h>

#include <cassert>
#include <string>

namespace oa {

Lifecycle::~Lifecycle() { StopStarted(clock_.now()); }

void Lifecycle::Add(std::unique_ptr<Service> service) {
  assert(started_ == 0);
  services_.push_back(std::move(service));
}

absl::Status Lifecycle::StartAll(const Config& config) {
  for (auto& service : services_) {
    spdlog::debug("starting {}", service->name());
    absl::Status st = service->Start(config);
    if (!st.ok()) {
      absl::Status failed(st.code(), std::string(service->name()) + ": " + std::string(st.message()));
      spdlog::error("cannot start {}: {}; stopping the {} service(s) already started", service->name(),
                    std::string(st.message()), started_);
      // The ones already up get a short grace of their own: they have served nothing yet.
      StopStarted(clock_.now() + std::chrono::seconds(5));
      return failed;
    }
    ++started_;
    spdlog::info("started {}", service->name());
  }
  return absl::OkStatus();
}

void Lifecycle::StopAll(std::chrono::milliseconds grace) { StopStarted(clock_.now() + grace); }

void Lifecycle::StopStarted(Clock::MonoTime deadline) {
  while (started_ > 0) {
    Service& service = *services_[--started_];
    spdlog::debug("stopping {}", service.name());
    service.Stop(deadline);
    spdlog::info("stopped {}", service.name());
  }
}

std::vector<absl::Status> Lifecycle::ReloadAll(const Config& config) {
  std::vector<absl::Status> errors;
  for (std::size_t i = 0; i < started_; ++i) {
    absl::Status st = services_[i]->Reload(config);
    if (!st.ok()) {
      errors.emplace_back(st.code(), std::string(services_[i]->name()) + ": " + std::string(st.message()));
    }
  }
  return errors;
}

}  // namespace oa
