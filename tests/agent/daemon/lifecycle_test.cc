#include "agent/daemon/lifecycle.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_clock.h"

namespace oa::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records every call into a shared journal, so a test sees the order across services.
class RecordingService final : public Service {
 public:
  RecordingService(std::string name, std::vector<std::string>* journal, absl::Status start = absl::OkStatus(),
                   absl::Status reload = absl::OkStatus())
      : name_(std::move(name)), journal_(journal), start_(std::move(start)), reload_(std::move(reload)) {}
  std::string_view name() const override { return name_; }
  absl::Status Start(const Config& config) override {
    journal_->push_back("start " + name_ + " " + config.agent.id);
    return start_;
  }
  void Stop(Clock::MonoTime deadline) override {
    journal_->push_back("stop " + name_);
    deadlines.push_back(deadline);
  }
  absl::Status Reload(const Config& config) override {
    journal_->push_back("reload " + name_ + " " + config.agent.id);
    return reload_;
  }
  std::vector<Clock::MonoTime> deadlines;

 private:
  std::string name_;
  std::vector<std::string>* journal_;
  absl::Status start_, reload_;
};

Config WithId(std::string id) {
  Config c;
  c.agent.id = std::move(id);
  return c;
}

TEST(LifecycleTest, StartsInOrderAndStopsInReverseWithinOneDeadline) {
  FakeClock clock;
  std::vector<std::string> journal;
  auto a = std::make_unique<RecordingService>("a", &journal);
  auto b = std::make_unique<RecordingService>("b", &journal);
  RecordingService* a_ptr = a.get();
  RecordingService* b_ptr = b.get();
  Lifecycle lifecycle(clock);
  lifecycle.Add(std::move(a));
  lifecycle.Add(std::move(b));
  ASSERT_TRUE(lifecycle.StartAll(WithId("x")).ok());
  EXPECT_EQ(lifecycle.running(), 2u);
  const auto now = clock.now();
  lifecycle.StopAll(std::chrono::seconds(7));
  EXPECT_THAT(journal, ElementsAre("start a x", "start b x", "stop b", "stop a"));
  EXPECT_EQ(lifecycle.running(), 0u);
  ASSERT_EQ(a_ptr->deadlines.size(), 1u);
  EXPECT_EQ(a_ptr->deadlines[0], now + std::chrono::seconds(7));
  EXPECT_EQ(b_ptr->deadlines[0], now + std::chrono::seconds(7));
}

TEST(LifecycleTest, AStartFailureStopsWhatWasStartedAndNamesTheService) {
  FakeClock clock;
  std::vector<std::string> journal;
  Lifecycle lifecycle(clock);
  lifecycle.Add(std::make_unique<RecordingService>("a", &journal));
  lifecycle.Add(std::make_unique<RecordingService>("b", &journal));
  lifecycle.Add(std::make_unique<RecordingService>("ipc", &journal, absl::UnavailableError("address in use")));
  lifecycle.Add(std::make_unique<RecordingService>("never", &journal));
  absl::Status st = lifecycle.StartAll(WithId("x"));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(st.message()), HasSubstr("ipc: address in use"));
  // The failed one is not stopped (it cleaned up itself); the ones before it are, in reverse; "never" never ran.
  EXPECT_THAT(journal, ElementsAre("start a x", "start b x", "start ipc x", "stop b", "stop a"));
  EXPECT_EQ(lifecycle.running(), 0u);
}

TEST(LifecycleTest, ReloadReachesEveryRunningServiceAndCollectsErrors) {
  FakeClock clock;
  std::vector<std::string> journal;
  Lifecycle lifecycle(clock);
  lifecycle.Add(std::make_unique<RecordingService>("a", &journal, absl::OkStatus(),
                                                   absl::FailedPreconditionError("socket_path needs a restart")));
  lifecycle.Add(std::make_unique<RecordingService>("b", &journal));
  ASSERT_TRUE(lifecycle.StartAll(WithId("old")).ok());
  auto errors = lifecycle.ReloadAll(WithId("new"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(std::string(errors[0].message()), HasSubstr("a: socket_path needs a restart"));
  EXPECT_THAT(journal, ElementsAre("start a old", "start b old", "reload a new", "reload b new"));
}

TEST(LifecycleTest, DestructionStopsWhatStillRuns) {
  FakeClock clock;
  std::vector<std::string> journal;
  {
    Lifecycle lifecycle(clock);
    lifecycle.Add(std::make_unique<RecordingService>("a", &journal));
    lifecycle.Add(std::make_unique<RecordingService>("b", &journal));
    ASSERT_TRUE(lifecycle.StartAll(WithId("x")).ok());
  }
  EXPECT_THAT(journal, ElementsAre("start a x", "start b x", "stop b", "stop a"));
}

TEST(LifecycleTest, NoServicesIsFine) {
  FakeClock clock;
  Lifecycle lifecycle(clock);
  EXPECT_TRUE(lifecycle.StartAll(Config{}).ok());
  EXPECT_TRUE(lifecycle.ReloadAll(Config{}).empty());
  lifecycle.StopAll(std::chrono::seconds(1));
}

}  // namespace
}  // namespace oa::testing
