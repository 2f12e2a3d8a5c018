#include "resilience/fail_mode.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

enum class Stale { kNone, kAllow, kDeny };

struct Row {
  FailMode mode;
  Stale stale;
  StaleFallback fallback;
  Verdict verdict;
  DecisionSource source;
};

// Every (mode x stale entry x fallback) combination, written out.
constexpr Row kTable[] = {
    {FailMode::kOpen, Stale::kNone, StaleFallback::kClose, Verdict::kAllow, DecisionSource::kFailOpen},
    {FailMode::kOpen, Stale::kNone, StaleFallback::kOpen, Verdict::kAllow, DecisionSource::kFailOpen},
    {FailMode::kOpen, Stale::kAllow, StaleFallback::kClose, Verdict::kAllow, DecisionSource::kFailOpen},
    {FailMode::kOpen, Stale::kAllow, StaleFallback::kOpen, Verdict::kAllow, DecisionSource::kFailOpen},
    {FailMode::kOpen, Stale::kDeny, StaleFallback::kClose, Verdict::kAllow, DecisionSource::kFailOpen},
    {FailMode::kOpen, Stale::kDeny, StaleFallback::kOpen, Verdict::kAllow, DecisionSource::kFailOpen},
    {FailMode::kClose, Stale::kNone, StaleFallback::kClose, Verdict::kDeny, DecisionSource::kFailClose},
    {FailMode::kClose, Stale::kNone, StaleFallback::kOpen, Verdict::kDeny, DecisionSource::kFailClose},
    {FailMode::kClose, Stale::kAllow, StaleFallback::kClose, Verdict::kDeny, DecisionSource::kFailClose},
    {FailMode::kClose, Stale::kAllow, StaleFallback::kOpen, Verdict::kDeny, DecisionSource::kFailClose},
    {FailMode::kClose, Stale::kDeny, StaleFallback::kClose, Verdict::kDeny, DecisionSource::kFailClose},
    {FailMode::kClose, Stale::kDeny, StaleFallback::kOpen, Verdict::kDeny, DecisionSource::kFailClose},
    {FailMode::kStale, Stale::kNone, StaleFallback::kClose, Verdict::kDeny, DecisionSource::kFailClose},
    {FailMode::kStale, Stale::kNone, StaleFallback::kOpen, Verdict::kAllow, DecisionSource::kFailOpen},
    {FailMode::kStale, Stale::kAllow, StaleFallback::kClose, Verdict::kAllow, DecisionSource::kStale},
    {FailMode::kStale, Stale::kAllow, StaleFallback::kOpen, Verdict::kAllow, DecisionSource::kStale},
    {FailMode::kStale, Stale::kDeny, StaleFallback::kClose, Verdict::kDeny, DecisionSource::kStale},
    {FailMode::kStale, Stale::kDeny, StaleFallback::kOpen, Verdict::kDeny, DecisionSource::kStale},
};

TEST(DecideOnErrorTest, ExhaustiveTable) {
  EXPECT_EQ(std::size(kTable), 3u * 3u * 2u);
  for (const Row& row : kTable) {
    std::optional<CachedDecision> stale;
    if (row.stale != Stale::kNone) {
      stale = CachedDecision{row.stale == Stale::kAllow ? Verdict::kAllow : Verdict::kDeny, "cached reason", false};
    }
    const Decision d = DecideOnError(FailModeOptions{row.mode, row.fallback}, stale);
    SCOPED_TRACE(std::string(to_string(row.mode)) + " stale=" + std::to_string(static_cast<int>(row.stale)) +
                 " fallback=" + std::string(to_string(row.fallback)));
    EXPECT_EQ(d.verdict, row.verdict);
    EXPECT_EQ(d.source, row.source);
    if (row.source == DecisionSource::kStale) {
      EXPECT_EQ(d.reason, "cached reason");
    } else {
      EXPECT_FALSE(d.reason.empty());
    }
  }
}

TEST(DecideOnErrorTest, SourceNames) {
  EXPECT_EQ(to_string(DecideOnError({FailMode::kOpen, StaleFallback::kClose}, std::nullopt).source), "fail_open");
  EXPECT_EQ(to_string(DecideOnError({FailMode::kClose, StaleFallback::kClose}, std::nullopt).source), "fail_close");
  EXPECT_EQ(to_string(DecideOnError({FailMode::kStale, StaleFallback::kClose},
                                    CachedDecision{Verdict::kAllow, "", false})
                          .source),
            "stale");
}

TEST(ParseFailModeTest, AcceptedSpellings) {
  EXPECT_EQ(*ParseFailModeOrError("fail-open"), FailMode::kOpen);
  EXPECT_EQ(*ParseFailModeOrError("open"), FailMode::kOpen);
  EXPECT_EQ(*ParseFailModeOrError("fail-close"), FailMode::kClose);
  EXPECT_EQ(*ParseFailModeOrError("fail-closed"), FailMode::kClose);
  EXPECT_EQ(*ParseFailModeOrError("close"), FailMode::kClose);
  EXPECT_EQ(*ParseFailModeOrError("fail-stale"), FailMode::kStale);
  EXPECT_EQ(*ParseFailModeOrError("stale"), FailMode::kStale);
}

TEST(ParseFailModeTest, AnythingElseIsAnErrorWithAMessage) {
  for (std::string_view bad : {"", "Fail-Open", "fail_open", "closed", "deny", "allow", "fail-stale ", "stale-open"}) {
    const auto r = ParseFailModeOrError(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("resilience.fail_mode"), std::string_view::npos);
    EXPECT_NE(r.status().message().find("\"" + std::string(bad) + "\""), std::string_view::npos);
    EXPECT_NE(r.status().message().find("fail-open|open"), std::string_view::npos);
  }
}

TEST(ParseFailModeTest, StaleFallback) {
  EXPECT_EQ(*ParseStaleFallbackOrError("close"), StaleFallback::kClose);
  EXPECT_EQ(*ParseStaleFallbackOrError("open"), StaleFallback::kOpen);
  const auto r = ParseStaleFallbackOrError("stale", "x.fallback");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("x.fallback"), std::string_view::npos);
}

}  // namespace
}  // namespace oa
