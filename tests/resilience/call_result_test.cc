#include "resilience/call_result.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

using absl::StatusCode;

TEST(ClassifyCallTest, AllowAndDenyAreSuccesses) {
  EXPECT_EQ(ClassifyCall(PortalOutcome::kAllow, StatusCode::kOk), CallResult::kSuccess);
  EXPECT_EQ(ClassifyCall(PortalOutcome::kDeny, StatusCode::kOk), CallResult::kSuccess);
}

TEST(ClassifyCallTest, OutageCodesAreFailures) {
  for (auto code : {StatusCode::kUnavailable, StatusCode::kDeadlineExceeded, StatusCode::kResourceExhausted,
                    StatusCode::kInternal, StatusCode::kUnknown, StatusCode::kDataLoss}) {
    EXPECT_EQ(ClassifyCall(PortalOutcome::kError, code), CallResult::kFailure) << absl::StatusCodeToString(code);
  }
}

TEST(ClassifyCallTest, MalformedReplyIsAFailure) {
  // The call completed (OK) but the reply could not be understood.
  EXPECT_EQ(ClassifyCall(PortalOutcome::kError, StatusCode::kOk), CallResult::kFailure);
}

TEST(ClassifyCallTest, OwnCancellationIsIgnored) {
  EXPECT_EQ(ClassifyCall(PortalOutcome::kError, StatusCode::kCancelled), CallResult::kIgnored);
}

TEST(ClassifyCallTest, NonOutageErrorsAreIgnored) {
  for (auto code : {StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kAlreadyExists,
                    StatusCode::kPermissionDenied, StatusCode::kFailedPrecondition, StatusCode::kAborted,
                    StatusCode::kOutOfRange, StatusCode::kUnimplemented, StatusCode::kUnauthenticated}) {
    EXPECT_EQ(ClassifyCall(PortalOutcome::kError, code), CallResult::kIgnored) << absl::StatusCodeToString(code);
  }
}

TEST(ClassifyCallTest, GrpcNumericCodesMatch) {
  // The portal client passes grpc::StatusCode values cast to absl::StatusCode; the numbers are the same.
  EXPECT_EQ(ClassifyCall(PortalOutcome::kError, static_cast<StatusCode>(14)), CallResult::kFailure);  // UNAVAILABLE
  EXPECT_EQ(ClassifyCall(PortalOutcome::kError, static_cast<StatusCode>(4)), CallResult::kFailure);   // DEADLINE
  EXPECT_EQ(ClassifyCall(PortalOutcome::kError, static_cast<StatusCode>(1)), CallResult::kIgnored);   // CANCELLED
}

}  // namespace
}  // namespace oa
