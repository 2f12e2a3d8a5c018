#include "fake_clock.h"

#include <gtest/gtest.h>

namespace oa::testing {
namespace {

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  const auto t0 = clock.now();
  const auto w0 = clock.wall_now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(clock.now() - t0, std::chrono::milliseconds(1500));
  EXPECT_EQ(clock.wall_now() - w0, std::chrono::milliseconds(1500));
}

TEST(FakeClockTest, IsAClock) {
  FakeClock fake;
  const Clock& clock = fake;
  const auto t0 = clock.now();
  fake.advance(std::chrono::seconds(30));
  EXPECT_EQ(clock.now() - t0, std::chrono::seconds(30));
}

}  // namespace
}  // namespace oa::testing
