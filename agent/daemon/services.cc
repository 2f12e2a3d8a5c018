#include "agent/daemon/services.h"

#include <string>

#include "agent/daemon/decision_path.h"

namespace oa {
namespace {

// The connect path: portal client, breaker, cache, authorizer and the IPC server, as one unit (decision_path.h).
class DecisionPathService final : public Service {
 public:
  explicit DecisionPathService(std::shared_ptr<DecisionPathHandle> handle) : handle_(std::move(handle)) {}

  std::string_view name() const override { return "decision-path"; }

  absl::Status Start(const Config& config) override {
    auto path = DecisionPath::Create(config, SystemClock::instance());
    if (!path.ok()) return path.status();
    if (absl::Status s = (*path)->Start(); !s.ok()) return s;
    handle_->path = std::move(*path);
    return absl::OkStatus();
  }

  void Stop(Clock::MonoTime deadline) override { handle_->path->Stop(deadline); }

  absl::Status Reload(const Config& config) override {
    handle_->path->Reload(config);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<DecisionPathHandle> handle_;
};

}  // namespace

DecisionPathHandle::~DecisionPathHandle() = default;

std::vector<std::unique_ptr<Service>> BuildServices(ConfigStore& store) {
  (void)store;
  auto decision_path = std::make_shared<DecisionPathHandle>();
  std::vector<std::unique_ptr<Service>> services;
  // Start order = dependency order; the Lifecycle stops them in reverse.
  services.push_back(std::make_unique<DecisionPathService>(decision_path));
  return services;
}

}  // namespace oa
