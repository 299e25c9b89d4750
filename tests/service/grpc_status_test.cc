#include "service/grpc_status.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Sorts before "type.googleapis.com/google.rpc.ErrorInfo", so a plain sort
// by type URL would not put the ErrorInfo first.
constexpr char kEarlyTypeUrl[] = "type.googleapis.com/aaa.Custom";

google::rpc::Status DetailsOf(const grpc::Status& status) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(status.error_details()))
      << "grpc-status-details-bin is not a google.rpc.Status";
  return details;
}

std::vector<std::string> TypeUrlsOf(const google::rpc::Status& details) {
  std::vector<std::string> type_urls;
  for (const google::protobuf::Any& any : details.details()) {
    type_urls.push_back(any.type_url());
  }
  return type_urls;
}

google::rpc::ErrorInfo FirstErrorInfo(const google::rpc::Status& details) {
  google::rpc::ErrorInfo info;
  EXPECT_GT(details.details_size(), 0);
  if (details.details_size() > 0) {
    EXPECT_TRUE(details.details(0).UnpackTo(&info)) << details.DebugString();
  }
  return info;
}

TEST(GrpcStatus, MapsOkToOk) {
  const grpc::Status status = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(status.error_message(), "");
  EXPECT_EQ(status.error_details(), "");
}

class GrpcStatusCodeTest : public ::testing::TestWithParam<absl::StatusCode> {};

TEST_P(GrpcStatusCodeTest, KeepsCodeAndMessage) {
  const grpc::Status status =
      ToGrpcStatus(MakeError(GetParam(), "what went wrong", "SOME_REASON"));
  EXPECT_EQ(static_cast<int>(status.error_code()), static_cast<int>(GetParam()));
  EXPECT_EQ(status.error_message(), "what went wrong");

  const google::rpc::Status details = DetailsOf(status);
  EXPECT_EQ(details.code(), static_cast<int>(GetParam()));
  EXPECT_EQ(details.message(), "what went wrong");
}

INSTANTIATE_TEST_SUITE_P(
    EveryErrorCode, GrpcStatusCodeTest,
    ::testing::Values(absl::StatusCode::kCancelled, absl::StatusCode::kUnknown,
                      absl::StatusCode::kInvalidArgument,
                      absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kNotFound,
                      absl::StatusCode::kAlreadyExists,
                      absl::StatusCode::kPermissionDenied,
                      absl::StatusCode::kResourceExhausted,
                      absl::StatusCode::kFailedPrecondition, absl::StatusCode::kAborted,
                      absl::StatusCode::kOutOfRange, absl::StatusCode::kUnimplemented,
                      absl::StatusCode::kInternal, absl::StatusCode::kUnavailable,
                      absl::StatusCode::kDataLoss, absl::StatusCode::kUnauthenticated),
    [](const ::testing::TestParamInfo<absl::StatusCode>& info) {
      return absl::StatusCodeToString(info.param);
    });

TEST(GrpcStatus, PutsErrorInfoFirstThenOtherDetailsByTypeUrl) {
  absl::Status status =
      MakeError(absl::StatusCode::kResourceExhausted, "MX answered HTTP 429",
                "UPSTREAM_RATE_LIMITED", {{"http_status", "429"}});
  AttachRetryInfo(status, absl::Seconds(7));
  AttachBadRequest(status, {{"member.institution_code", "required"}});
  status.SetPayload(kEarlyTypeUrl, absl::Cord("custom"));

  const google::rpc::Status details = DetailsOf(ToGrpcStatus(status));

  EXPECT_THAT(TypeUrlsOf(details), ElementsAre(kErrorInfoTypeUrl, kEarlyTypeUrl,
                                               kBadRequestTypeUrl, kRetryInfoTypeUrl));
  const google::rpc::ErrorInfo info = FirstErrorInfo(details);
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), "UPSTREAM_RATE_LIMITED");
  EXPECT_THAT(info.metadata(), UnorderedElementsAre(Pair("http_status", "429")));
  // Every detail carries the payload's bytes unchanged.
  for (const google::protobuf::Any& any : details.details()) {
    EXPECT_EQ(absl::Cord(any.value()), status.GetPayload(any.type_url()))
        << any.type_url();
  }
}

TEST(GrpcStatus, GivesTheSameBytesWhateverOrderPayloadsWereAdded) {
  absl::Status retry_first =
      MakeError(absl::StatusCode::kUnavailable, "down", "UPSTREAM_UNAVAILABLE");
  AttachRetryInfo(retry_first, absl::Seconds(1));
  AttachBadRequest(retry_first, {{"a", "b"}});
  absl::Status bad_request_first =
      MakeError(absl::StatusCode::kUnavailable, "down", "UPSTREAM_UNAVAILABLE");
  AttachBadRequest(bad_request_first, {{"a", "b"}});
  AttachRetryInfo(bad_request_first, absl::Seconds(1));

  EXPECT_EQ(ToGrpcStatus(retry_first).error_details(),
            ToGrpcStatus(bad_request_first).error_details());
}

TEST(GrpcStatus, GivesInternalErrorInfoToAStatusWithoutOne) {
  absl::Status status = absl::UnavailableError("a bug: no ErrorInfo");
  AttachRetryInfo(status, absl::Milliseconds(1500));
  status.SetPayload(kEarlyTypeUrl, absl::Cord("custom"));

  const grpc::Status converted = ToGrpcStatus(status);

  EXPECT_EQ(converted.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(converted.error_message(), "a bug: no ErrorInfo");
  const google::rpc::Status details = DetailsOf(converted);
  EXPECT_THAT(TypeUrlsOf(details),
              ElementsAre(kErrorInfoTypeUrl, kEarlyTypeUrl, kRetryInfoTypeUrl));
  const google::rpc::ErrorInfo info = FirstErrorInfo(details);
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), "INTERNAL_ERROR");
  EXPECT_THAT(info.metadata(), IsEmpty());
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(2).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 1);
  EXPECT_EQ(retry.retry_delay().nanos(), 500000000);
  EXPECT_EQ(details.details(1).value(), "custom");
}

TEST(GrpcStatus, ReplacesAnUnparseableErrorInfoWithInternalError) {
  absl::Status status = absl::InternalError("corrupt details");
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord("\x0a\x7f"));

  const google::rpc::Status details = DetailsOf(ToGrpcStatus(status));

  EXPECT_THAT(TypeUrlsOf(details), ElementsAre(kErrorInfoTypeUrl));
  EXPECT_EQ(FirstErrorInfo(details).reason(), "INTERNAL_ERROR");
}

}  // namespace
}  // namespace mxgate
