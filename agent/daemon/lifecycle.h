// Lifecycle: runs the daemon's services in the order they were added (dependency order: what others need first),
// and stops them in reverse (chrony's init/finalise discipline). A Start() failure stops the ones already started
// and reports which service failed and why. Stopping shares one grace deadline among all services.
// Thread-safety: none; the main thread owns it.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "agent/daemon/service.h"

namespace oa {

class Lifecycle {
 public:
  explicit Lifecycle(const Clock& clock) : clock_(clock) {}
  ~Lifecycle();  // stops whatever still runs, with no grace

  // Only before StartAll().
  void Add(std::unique_ptr<Service> service);

  // Starts every service in order. On the first failure, stops the started ones in reverse and returns the error,
  // prefixed with the service's name.
  absl::Status StartAll(const Config& config);

  // Stops every running service in reverse order; together they get `grace`.
  void StopAll(std::chrono::milliseconds grace);

  // Passes a new config to every running service, in start order; returns one error per service that failed.
  std::vector<absl::Status> ReloadAll(const Config& config);

  std::size_t size() const { return services_.size(); }
  std::size_t running() const { return started_; }

 private:
  void StopStarted(Clock::MonoTime deadline);

  const Clock& clock_;
  std::vector<std::unique_ptr<Service>> services_;
  std::size_t started_ = 0;  // services_[0, started_) are running
};

}  // namespace oa
