#include "service/status_details.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"

namespace mxgate {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using Metadata = std::vector<std::pair<std::string, std::string>>;

// The bytes a deterministic serializer gives for `message`.
std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

TEST(MakeError, KeepsCodeAndMessageAndAddsErrorInfoInMxgateDomain) {
  const absl::Status status = MakeError(
      absl::StatusCode::kNotFound, "MX answered HTTP 404", "UPSTREAM_NOT_FOUND",
      {{kMetadataHttpStatus, "404"}, {kMetadataMxErrorMessage, "user not found"}});

  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "MX answered HTTP 404");
  const absl::optional<google::rpc::ErrorInfo> info = GetErrorInfo(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->domain(), "mxgate");
  EXPECT_EQ(info->reason(), "UPSTREAM_NOT_FOUND");
  EXPECT_THAT(info->metadata(),
              UnorderedElementsAre(Pair("http_status", "404"),
                                   Pair("mx_error_message", "user not found")));
}

TEST(MakeError, WithoutMetadataHasEmptyMetadata) {
  const absl::optional<google::rpc::ErrorInfo> info =
      GetErrorInfo(MakeError(absl::StatusCode::kInternal, "boom", "INTERNAL_ERROR"));
  ASSERT_TRUE(info.has_value());
  EXPECT_THAT(info->metadata(), IsEmpty());
}

TEST(MakeError, StoresErrorInfoUnderItsTypeUrlOnly) {
  const absl::Status status =
      MakeError(absl::StatusCode::kUnavailable, "down", "UPSTREAM_UNREACHABLE");
  std::vector<std::string> type_urls;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord&) {
    type_urls.emplace_back(type_url);
  });
  EXPECT_THAT(type_urls, ElementsAre("type.googleapis.com/google.rpc.ErrorInfo"));
}

TEST(MakeError, GivesIdenticalPayloadBytesWhateverTheMetadataOrder) {
  const Metadata metadata = {{"http_status", "429"}, {"mx_error_message", "slow down"},
                             {"alpha", "1"},         {"zulu", "2"},
                             {"middle", "3"},        {"beta", "4"}};
  const Metadata reversed(metadata.rbegin(), metadata.rend());

  const absl::Status forward = MakeError(absl::StatusCode::kResourceExhausted, "busy",
                                         "UPSTREAM_RATE_LIMITED", metadata);
  const absl::Status backward = MakeError(absl::StatusCode::kResourceExhausted, "busy",
                                          "UPSTREAM_RATE_LIMITED", reversed);

  google::rpc::ErrorInfo expected;
  expected.set_domain("mxgate");
  expected.set_reason("UPSTREAM_RATE_LIMITED");
  for (const auto& [key, value] : metadata) {
    (*expected.mutable_metadata())[key] = value;
  }
  const std::string expected_bytes = DeterministicBytes(expected);
  EXPECT_EQ(forward.GetPayload(kErrorInfoTypeUrl), absl::Cord(expected_bytes));
  EXPECT_EQ(backward.GetPayload(kErrorInfoTypeUrl), absl::Cord(expected_bytes));
  // absl::Status compares payload bytes: equal errors are equal statuses.
  EXPECT_EQ(forward, backward);
}

TEST(AttachBadRequest, RoundTripsEveryViolationInOrder) {
  absl::Status status = MakeError(absl::StatusCode::kInvalidArgument,
                                  "user_identifier: required", "INVALID_REQUEST");
  AttachBadRequest(status, {{"user_identifier", "required"},
                            {"member.credentials[1].guid", "required"}});

  const absl::optional<google::rpc::BadRequest> bad_request = GetBadRequest(status);
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 2);
  EXPECT_EQ(bad_request->field_violations(0).field(), "user_identifier");
  EXPECT_EQ(bad_request->field_violations(0).description(), "required");
  EXPECT_EQ(bad_request->field_violations(1).field(), "member.credentials[1].guid");
  EXPECT_EQ(bad_request->field_violations(1).description(), "required");
  // The ErrorInfo stays.
  ASSERT_TRUE(GetErrorInfo(status).has_value());
  EXPECT_EQ(GetErrorInfo(status)->reason(), "INVALID_REQUEST");
}

struct RetryDelayCase {
  const char* name;
  absl::Duration delay;
  int64_t seconds;
  int32_t nanos;
};
void PrintTo(const RetryDelayCase& c, std::ostream* os) { *os << c.name; }

class AttachRetryInfoTest : public ::testing::TestWithParam<RetryDelayCase> {};

TEST_P(AttachRetryInfoTest, SplitsDelayIntoSecondsAndNanos) {
  absl::Status status =
      MakeError(absl::StatusCode::kResourceExhausted, "busy", "RATE_LIMITED");
  AttachRetryInfo(status, GetParam().delay);

  const absl::optional<google::rpc::RetryInfo> retry = GetRetryInfo(status);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->retry_delay().seconds(), GetParam().seconds);
  EXPECT_EQ(retry->retry_delay().nanos(), GetParam().nanos);
}

INSTANTIATE_TEST_SUITE_P(
    Delays, AttachRetryInfoTest,
    ::testing::Values(
        RetryDelayCase{"Zero", absl::ZeroDuration(), 0, 0},
        RetryDelayCase{"WholeSeconds", absl::Seconds(30), 30, 0},
        RetryDelayCase{"SecondsAndMillis", absl::Milliseconds(2500), 2, 500000000},
        RetryDelayCase{"OneNanosecond", absl::Nanoseconds(1), 0, 1},
        RetryDelayCase{"JustUnderOneSecond", absl::Nanoseconds(999999999), 0, 999999999},
        RetryDelayCase{"OneHourAndANano", absl::Hours(1) + absl::Nanoseconds(1), 3600,
                       1}),
    [](const ::testing::TestParamInfo<RetryDelayCase>& info) { return info.param.name; });

TEST(GetDetails, ReturnsNulloptWhenAbsent) {
  const absl::Status plain = absl::InternalError("no details");
  EXPECT_FALSE(GetErrorInfo(plain).has_value());
  EXPECT_FALSE(GetBadRequest(plain).has_value());
  EXPECT_FALSE(GetRetryInfo(plain).has_value());
  EXPECT_FALSE(GetErrorInfo(absl::OkStatus()).has_value());
}

TEST(GetDetails, ReturnsNulloptForUnparseablePayloads) {
  absl::Status status = absl::InternalError("garbage details");
  // A truncated length-delimited field: never a valid message.
  const absl::Cord garbage("\x0a\x7f");
  for (const char* type_url :
       {kErrorInfoTypeUrl, kBadRequestTypeUrl, kRetryInfoTypeUrl}) {
    status.SetPayload(type_url, garbage);
  }
  EXPECT_FALSE(GetErrorInfo(status).has_value());
  EXPECT_FALSE(GetBadRequest(status).has_value());
  EXPECT_FALSE(GetRetryInfo(status).has_value());
}

}  // namespace
}  // namespace mxgate
