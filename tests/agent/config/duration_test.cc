#include "agent/config/duration.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("5s"), milliseconds(5000));
  EXPECT_EQ(*ParseDuration("30m"), milliseconds(1'800'000));
  EXPECT_EQ(*ParseDuration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(*ParseDuration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(*ParseDuration("1s500ms"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
}

TEST(DurationTest, RejectsWhatIsNotADuration) {
  for (const char* bad : {"", "5", "5x", "s", "1.5s", "-1s", " 5s", "5s ", "5 s", "5sec", "1d", "ms5",
                          "99999999999999999999s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << "'" << bad << "'";
  }
}

TEST(DurationTest, FormatsInTheLargestExactUnits) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(3'600'000)), "1h");
  for (const char* s : {"250ms", "5s", "30m", "1h", "1h30m"}) EXPECT_EQ(FormatDuration(*ParseDuration(s)), s);
}

}  // namespace
}  // namespace oa
