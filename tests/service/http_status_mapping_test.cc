#include "service/http_status_mapping.h"

#include <cstdint>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/member_json_codec.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::mx::platform::v1::CreateMemberOutcome;
using ::mx::platform::v1::CreateMemberResponse;
using ::mx::platform::v1::DeleteMemberResponse;
using ::mx::platform::v1::GetMemberResponse;
using ::mx::platform::v1::GetMemberStatusResponse;
using ::mx::platform::v1::ListInstitutionCredentialsResponse;
using ::mx::platform::v1::Member;
using ::mx::platform::v1::MemberStatus;
using ::mx::platform::v1::ResumeMemberResponse;
using ::testing::ElementsAreArray;
using ::testing::Pair;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// 1994-11-06T08:48:37Z: one minute before the RFC 9110 example date.
const absl::Time kNow = absl::FromUnixSeconds(784111717);

// "ALREADY_EXISTS" -> "AlreadyExists", for test names.
std::string UpperSnakeToCamel(absl::string_view upper_snake) {
  std::string camel;
  for (absl::string_view word : absl::StrSplit(upper_snake, '_', absl::SkipEmpty())) {
    camel += absl::ascii_toupper(static_cast<unsigned char>(word.front()));
    camel += absl::AsciiStrToLower(word.substr(1));
  }
  return camel;
}

template <typename Message>
Message ParseTextProto(const char* text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// Fails with a field-by-field report when `actual` differs from `expected`.
void ExpectSameMessage(const google::protobuf::Message& actual,
                       const google::protobuf::Message& expected) {
  MessageDifferencer differencer;
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(expected, actual)) << differences;
}

HttpResponse Answer(int http_status, std::string body = "", HttpHeaders headers = {}) {
  HttpResponse response;
  response.status_code = http_status;
  response.headers = std::move(headers);
  response.body = std::move(body);
  return response;
}

google::rpc::ErrorInfo ErrorInfoOf(const absl::Status& status) {
  absl::optional<google::rpc::ErrorInfo> info = GetErrorInfo(status);
  EXPECT_TRUE(info.has_value()) << status;
  return info.value_or(google::rpc::ErrorInfo());
}

// Compares details as messages: absl::Status's operator== compares payload
// bytes, and protobuf serializes ErrorInfo's metadata map in no fixed order.
void ExpectSameError(const absl::Status& actual, const absl::Status& expected) {
  EXPECT_EQ(actual.code(), expected.code());
  EXPECT_EQ(actual.message(), expected.message());
  EXPECT_TRUE(MessageDifferencer::Equals(ErrorInfoOf(actual), ErrorInfoOf(expected)))
      << actual;
  const absl::optional<google::rpc::RetryInfo> actual_retry = GetRetryInfo(actual);
  const absl::optional<google::rpc::RetryInfo> expected_retry = GetRetryInfo(expected);
  ASSERT_EQ(actual_retry.has_value(), expected_retry.has_value()) << actual;
  if (actual_retry.has_value()) {
    EXPECT_TRUE(MessageDifferencer::Equals(*actual_retry, *expected_retry));
  }
}

// --- The error table, one case per row ---

struct ErrorRow {
  int http_status;
  absl::StatusCode code;
  const char* reason;
};
void PrintTo(const ErrorRow& row, std::ostream* os) { *os << "HTTP " << row.http_status; }

// What the table must say, written out independently of it.
constexpr ErrorRow kKnownStatuses[] = {
    {400, absl::StatusCode::kInvalidArgument, "UPSTREAM_BAD_REQUEST"},
    {401, absl::StatusCode::kUnauthenticated, "UPSTREAM_UNAUTHENTICATED"},
    {403, absl::StatusCode::kPermissionDenied, "UPSTREAM_PERMISSION_DENIED"},
    {404, absl::StatusCode::kNotFound, "UPSTREAM_NOT_FOUND"},
    {405, absl::StatusCode::kFailedPrecondition, "UPSTREAM_CONSTRAINT_NOT_MET"},
    {406, absl::StatusCode::kFailedPrecondition, "UPSTREAM_VERSION_NOT_ACCEPTED"},
    {409, absl::StatusCode::kAlreadyExists, "UPSTREAM_CONFLICT"},
    {422, absl::StatusCode::kInvalidArgument, "UPSTREAM_UNPROCESSABLE"},
    {429, absl::StatusCode::kResourceExhausted, "UPSTREAM_RATE_LIMITED"},
    {500, absl::StatusCode::kInternal, "UPSTREAM_INTERNAL_ERROR"},
    {502, absl::StatusCode::kUnavailable, "UPSTREAM_BAD_GATEWAY"},
    {503, absl::StatusCode::kUnavailable, "UPSTREAM_UNAVAILABLE"},
    {504, absl::StatusCode::kDeadlineExceeded, "UPSTREAM_GATEWAY_TIMEOUT"},
};

// Statuses outside the table, the table's neighbours among them.
constexpr ErrorRow kUnknownStatuses[] = {
    {100, absl::StatusCode::kUnknown, kReasonUpstreamUnexpectedStatus},
    {301, absl::StatusCode::kUnknown, kReasonUpstreamUnexpectedStatus},
    {407, absl::StatusCode::kUnknown, kReasonUpstreamUnexpectedStatus},
    {418, absl::StatusCode::kUnknown, kReasonUpstreamUnexpectedStatus},
    {599, absl::StatusCode::kUnknown, kReasonUpstreamUnexpectedStatus},
};

std::string ErrorRowName(const testing::TestParamInfo<ErrorRow>& info) {
  return absl::StrCat("Maps", info.param.http_status, "To",
                      UpperSnakeToCamel(absl::StatusCodeToString(info.param.code)));
}

class MapHttpErrorTest : public testing::TestWithParam<ErrorRow> {};

TEST_P(MapHttpErrorTest, GivesCodeReasonHttpStatusAndMessage) {
  const ErrorRow& row = GetParam();
  const absl::Status status = MapHttpError(Answer(row.http_status), kNow);
  EXPECT_EQ(status.code(), row.code);
  EXPECT_EQ(status.message(), absl::StrCat("MX answered HTTP ", row.http_status));
  const google::rpc::ErrorInfo info = ErrorInfoOf(status);
  EXPECT_EQ(info.domain(), kErrorDomain);
  EXPECT_EQ(info.reason(), row.reason);
  EXPECT_THAT(info.metadata(), UnorderedElementsAre(Pair(kMetadataHttpStatus,
                                                         absl::StrCat(row.http_status))));
  EXPECT_FALSE(GetRetryInfo(status).has_value());
}

INSTANTIATE_TEST_SUITE_P(KnownStatuses, MapHttpErrorTest,
                         testing::ValuesIn(kKnownStatuses), ErrorRowName);
INSTANTIATE_TEST_SUITE_P(UnknownStatuses, MapHttpErrorTest,
                         testing::ValuesIn(kUnknownStatuses), ErrorRowName);

// Keeps the expectations above complete: a new table row needs a test row.
TEST(HttpErrorTable, ListsExactlyTheKnownStatusesInAscendingOrder) {
  std::vector<int> table_statuses;
  for (const HttpErrorMapping& row : HttpErrorTable()) {
    table_statuses.push_back(row.http_status);
  }
  std::vector<int> expected_statuses;
  for (const ErrorRow& row : kKnownStatuses) {
    expected_statuses.push_back(row.http_status);
  }
  EXPECT_THAT(table_statuses, ElementsAreArray(expected_statuses));
}

TEST(HttpErrorTable, SaysWhyForEveryRow) {
  for (const HttpErrorMapping& row : HttpErrorTable()) {
    EXPECT_FALSE(absl::string_view(row.why).empty()) << row.http_status;
  }
}

// --- MX's error message ---

// The README prints the table; each row there must be this row, so the
// documentation cannot drift from the code.
TEST(HttpErrorTable, IsPrintedRowByRowInTheReadme) {
  std::ifstream in(MXGATE_SOURCE_DIR "/README.md");
  ASSERT_TRUE(in) << "README.md not found";
  const std::string readme((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
  for (const HttpErrorMapping& row : HttpErrorTable()) {
    const std::string line =
        absl::StrCat("| ", row.http_status, " | ", absl::StatusCodeToString(row.code),
                     " | `", row.reason, "` | ", row.why, " |\n");
    EXPECT_NE(readme.find(line), std::string::npos) << "README lacks: " << line;
  }
}

TEST(HttpStatusMapping, Maps409ToAlreadyExistsWithMxErrorMessage) {
  const absl::Status status = MapHttpError(
      Answer(409, R"({"error":{"message":"Member already exists."}})"), kNow);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(status.message(), "MX answered HTTP 409: Member already exists.");
  EXPECT_THAT(
      ErrorInfoOf(status).metadata(),
      UnorderedElementsAre(Pair(kMetadataHttpStatus, "409"),
                           Pair(kMetadataMxErrorMessage, "Member already exists.")));
}

TEST(HttpStatusMapping, LeavesOutMxErrorMessageWhenTheBodyHasNone) {
  const absl::Status status =
      MapHttpError(Answer(502, "<html>502 Bad Gateway</html>"), kNow);
  EXPECT_EQ(status.message(), "MX answered HTTP 502");
  EXPECT_THAT(ErrorInfoOf(status).metadata(),
              UnorderedElementsAre(Pair(kMetadataHttpStatus, "502")));
}

// --- Retry-After ---

struct RetryAfterCase {
  const char* name;
  int http_status;
  absl::optional<std::string> retry_after;  // the header, if sent
  absl::optional<int64_t> delay_seconds;    // the RetryInfo, if any
};
void PrintTo(const RetryAfterCase& c, std::ostream* os) { *os << c.name; }

class RetryAfterTest : public testing::TestWithParam<RetryAfterCase> {};

TEST_P(RetryAfterTest, BecomesRetryInfo) {
  const RetryAfterCase& c = GetParam();
  HttpHeaders headers = {{"content-type", "application/json"}};
  if (c.retry_after.has_value()) headers.emplace_back("retry-after", *c.retry_after);
  const absl::Status status =
      MapHttpError(Answer(c.http_status, "", std::move(headers)), kNow);
  const absl::optional<google::rpc::RetryInfo> retry = GetRetryInfo(status);
  ASSERT_EQ(retry.has_value(), c.delay_seconds.has_value());
  if (!retry.has_value()) return;
  EXPECT_EQ(retry->retry_delay().seconds(), *c.delay_seconds);
  EXPECT_EQ(retry->retry_delay().nanos(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Headers, RetryAfterTest,
    testing::Values(
        RetryAfterCase{"DeltaSeconds", 429, "120", 120},
        RetryAfterCase{"ZeroSeconds", 429, "0", 0},
        RetryAfterCase{"DeltaSecondsWithSpaces", 429, " 7 ", 7},
        RetryAfterCase{"HttpDateIsRelativeToNow", 429, "Sun, 06 Nov 1994 08:49:37 GMT",
                       60},
        RetryAfterCase{"PastHttpDateMeansNow", 429, "Sun, 06 Nov 1994 08:00:00 GMT", 0},
        RetryAfterCase{"GarbageIsIgnored", 429, "soon", absl::nullopt},
        RetryAfterCase{"NegativeIsIgnored", 429, "-5", absl::nullopt},
        RetryAfterCase{"SignedIsIgnored", 429, "+5", absl::nullopt},
        RetryAfterCase{"FractionIsIgnored", 429, "1.5", absl::nullopt},
        RetryAfterCase{"ObsoleteRfc850DateIsIgnored", 429,
                       "Sunday, 06-Nov-94 08:49:37 GMT", absl::nullopt},
        RetryAfterCase{"EmptyIsIgnored", 429, "", absl::nullopt},
        RetryAfterCase{"AbsentMeansNoRetryInfo", 429, absl::nullopt, absl::nullopt},
        RetryAfterCase{"MaintenanceWindowOn503", 503, "30", 30},
        RetryAfterCase{"AbsentOn503MeansNoRetryInfo", 503, absl::nullopt, absl::nullopt},
        RetryAfterCase{"IgnoredOn500", 500, "30", absl::nullopt},
        RetryAfterCase{"IgnoredOn404", 404, "30", absl::nullopt}),
    [](const testing::TestParamInfo<RetryAfterCase>& info) {
      return std::string(info.param.name);
    });

TEST(HttpStatusMapping, Maps429ToResourceExhaustedWithRetryInfo) {
  const absl::Status status = MapHttpError(Answer(429, "", {{"retry-after", "2"}}), kNow);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_RATE_LIMITED");
  ASSERT_TRUE(GetRetryInfo(status).has_value());
  EXPECT_EQ(GetRetryInfo(status)->retry_delay().seconds(), 2);
}

// --- MapCreateMemberAnswer ---

constexpr char kMemberBody[] = R"({"member":{"guid":"MBR-1","institution_code":"mxbank",)"
                               R"("connection_status":"CONNECTED"}})";
constexpr char kMemberText[] = R"pb(
  guid: "MBR-1"
  institution_code: "mxbank"
  connection_status: CONNECTION_STATUS_CONNECTED
)pb";

struct OutcomeCase {
  int http_status;
  CreateMemberOutcome outcome;
};
void PrintTo(const OutcomeCase& c, std::ostream* os) { *os << "HTTP " << c.http_status; }

class MapCreateMemberAnswerTest : public testing::TestWithParam<OutcomeCase> {};

TEST_P(MapCreateMemberAnswerTest, DecodesTheMemberWithOutcomeAndHttpStatus) {
  const OutcomeCase& c = GetParam();
  const absl::StatusOr<CreateMemberResponse> response =
      MapCreateMemberAnswer(Answer(c.http_status, kMemberBody), kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->outcome(), c.outcome);
  EXPECT_EQ(response->http_status(), c.http_status);
  Member expected;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kMemberText, &expected));
  ExpectSameMessage(response->member(), expected);
}

INSTANTIATE_TEST_SUITE_P(
    SuccessStatuses, MapCreateMemberAnswerTest,
    testing::Values(
        OutcomeCase{200,
                    ::mx::platform::v1::CREATE_MEMBER_OUTCOME_CREATED_NO_AGGREGATION},
        OutcomeCase{201,
                    ::mx::platform::v1::CREATE_MEMBER_OUTCOME_PRODUCT_AGGREGATION_FAILED},
        OutcomeCase{202, ::mx::platform::v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED},
        OutcomeCase{203, ::mx::platform::v1::CREATE_MEMBER_OUTCOME_UNSPECIFIED},
        OutcomeCase{299, ::mx::platform::v1::CREATE_MEMBER_OUTCOME_UNSPECIFIED}),
    [](const testing::TestParamInfo<OutcomeCase>& info) {
      absl::string_view outcome = CreateMemberOutcome_Name(info.param.outcome);
      absl::ConsumePrefix(&outcome, "CREATE_MEMBER_OUTCOME_");
      return absl::StrCat("Maps", info.param.http_status, "To",
                          UpperSnakeToCamel(outcome));
    });

TEST(MapCreateMemberAnswer, Maps2xxWithoutReadableMemberToInternalWithHttpStatus) {
  for (const auto& [http_status, body] : std::vector<std::pair<int, std::string>>{
           {202, "not json"}, {200, "{}"}, {201, R"({"member":null})"}, {204, ""}}) {
    const absl::StatusOr<CreateMemberResponse> response =
        MapCreateMemberAnswer(Answer(http_status, body), kNow);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal) << body;
    const google::rpc::ErrorInfo info = ErrorInfoOf(response.status());
    EXPECT_EQ(info.reason(), kReasonUpstreamResponseMalformed) << body;
    EXPECT_THAT(info.metadata(), UnorderedElementsAre(Pair(kMetadataHttpStatus,
                                                           absl::StrCat(http_status))))
        << body;
    // Same message as the codec's, which never quotes the body.
    EXPECT_EQ(response.status().message(),
              DecodeMemberResponseBody(body).status().message());
  }
}

TEST(MapCreateMemberAnswer, KeepsMxsErrorMessageBesideTheMemberOn201) {
  const absl::StatusOr<CreateMemberResponse> response = MapCreateMemberAnswer(
      Answer(201, R"({"member":{"guid":"MBR-1"},)"
                  R"("error":{"message":"Product not supported."}})"),
      kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->outcome(),
            ::mx::platform::v1::CREATE_MEMBER_OUTCOME_PRODUCT_AGGREGATION_FAILED);
  EXPECT_EQ(response->member().guid(), "MBR-1");
  EXPECT_EQ(response->mx_error_message(), "Product not supported.");
}

TEST(MapCreateMemberAnswer, LeavesMxErrorMessageEmptyWithoutAnErrorObject) {
  const absl::StatusOr<CreateMemberResponse> response =
      MapCreateMemberAnswer(Answer(202, R"({"member":{"guid":"MBR-1"}})"), kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->mx_error_message(), "");
}

// --- Every Map*Answer: the shared rules ---

// One Map*Answer reduced to its status, so that the rules every call
// shares are tested once for all of them.
struct AnswerMapper {
  const char* name;
  absl::Status (*map)(const HttpResponse& response, absl::Time now);
};
void PrintTo(const AnswerMapper& m, std::ostream* os) { *os << m.name; }

constexpr AnswerMapper kCreateMember = {
    "CreateMember", [](const HttpResponse& response, absl::Time now) {
      return MapCreateMemberAnswer(response, now).status();
    }};
constexpr AnswerMapper kListInstitutionCredentials = {
    "ListInstitutionCredentials", [](const HttpResponse& response, absl::Time now) {
      return MapListInstitutionCredentialsAnswer(response, now).status();
    }};
constexpr AnswerMapper kGetMember = {"GetMember",
                                     [](const HttpResponse& response, absl::Time now) {
                                       return MapGetMemberAnswer(response, now).status();
                                     }};
constexpr AnswerMapper kGetMemberStatus = {
    "GetMemberStatus", [](const HttpResponse& response, absl::Time now) {
      return MapGetMemberStatusAnswer(response, now).status();
    }};
constexpr AnswerMapper kResumeMember = {
    "ResumeMember", [](const HttpResponse& response, absl::Time now) {
      return MapResumeMemberAnswer(response, now).status();
    }};
constexpr AnswerMapper kDeleteMember = {
    "DeleteMember", [](const HttpResponse& response, absl::Time now) {
      return MapDeleteMemberAnswer(response, now).status();
    }};

std::string MapperName(const testing::TestParamInfo<AnswerMapper>& info) {
  return info.param.name;
}

class EveryAnswerTest : public testing::TestWithParam<AnswerMapper> {};

TEST_P(EveryAnswerTest, DelegatesNon2xxToMapHttpError) {
  for (const HttpResponse& answer :
       {Answer(301), Answer(404, R"({"error":{"message":"No such member."}})"),
        Answer(405), Answer(409, R"({"error":{"message":"Taken."}})"),
        Answer(429, "", {{"retry-after", "5"}}), Answer(503)}) {
    ExpectSameError(GetParam().map(answer, kNow), MapHttpError(answer, kNow));
  }
}

INSTANTIATE_TEST_SUITE_P(Calls, EveryAnswerTest,
                         testing::Values(kCreateMember, kListInstitutionCredentials,
                                         kGetMember, kGetMemberStatus, kResumeMember,
                                         kDeleteMember),
                         MapperName);

class AnswerWithBodyTest : public testing::TestWithParam<AnswerMapper> {};

TEST_P(AnswerWithBodyTest, Maps2xxWithoutReadableBodyToInternalWithHttpStatus) {
  for (const auto& [http_status, body] : std::vector<std::pair<int, std::string>>{
           {200, "not json"}, {200, "{}"}, {202, "[]"}, {204, ""}}) {
    const absl::Status status = GetParam().map(Answer(http_status, body), kNow);
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << body;
    // The codec's message, which never quotes the body.
    EXPECT_THAT(std::string(status.message()), StartsWith("MX's response body ")) << body;
    const google::rpc::ErrorInfo info = ErrorInfoOf(status);
    EXPECT_EQ(info.reason(), kReasonUpstreamResponseMalformed) << body;
    EXPECT_THAT(info.metadata(), UnorderedElementsAre(Pair(kMetadataHttpStatus,
                                                           absl::StrCat(http_status))))
        << body;
  }
}

// CreateMember has its own test above, comparing with the codec's message.
INSTANTIATE_TEST_SUITE_P(Calls, AnswerWithBodyTest,
                         testing::Values(kListInstitutionCredentials, kGetMember,
                                         kGetMemberStatus, kResumeMember),
                         MapperName);

// --- Each call's success ---

TEST(MapListInstitutionCredentialsAnswer, DecodesFieldsAndPaginationOn200) {
  const absl::StatusOr<ListInstitutionCredentialsResponse> response =
      MapListInstitutionCredentialsAnswer(
          Answer(200, R"({"credentials":[{"guid":"CRD-1","field_name":"LOGIN",)"
                      R"("label":"Username","display_order":1,)"
                      R"("field_type":"TEXT","type":"TEXT"}],)"
                      R"("pagination":{"current_page":1,"per_page":25,)"
                      R"("total_entries":1,"total_pages":1}})"),
          kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectSameMessage(*response, ParseTextProto<ListInstitutionCredentialsResponse>(R"pb(
                      credentials {
                        guid: "CRD-1"
                        field_name: "LOGIN"
                        label: "Username"
                        display_order: 1
                        field_type: "TEXT"
                        type: "TEXT"
                      }
                      pagination {
                        current_page: 1
                        per_page: 25
                        total_entries: 1
                        total_pages: 1
                      }
                    )pb"));
}

TEST(MapGetMemberAnswer, DecodesTheMemberOn200) {
  const absl::StatusOr<GetMemberResponse> response =
      MapGetMemberAnswer(Answer(200, kMemberBody), kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectSameMessage(response->member(), ParseTextProto<Member>(kMemberText));
}

TEST(MapGetMemberStatusAnswer, DecodesTheStatusAndChallengesOn200) {
  const absl::StatusOr<GetMemberStatusResponse> response = MapGetMemberStatusAnswer(
      Answer(200, R"({"member":{"guid":"MBR-1",)"
                  R"("connection_status":"CHALLENGED",)"
                  R"("is_being_aggregated":true,"challenges":[)"
                  R"({"guid":"CRD-1","label":"City?","type":"TEXT"}]}})"),
      kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectSameMessage(response->status(), ParseTextProto<MemberStatus>(R"pb(
                      guid: "MBR-1"
                      connection_status: CONNECTION_STATUS_CHALLENGED
                      is_being_aggregated: true
                      challenges {
                        guid: "CRD-1"
                        label: "City?"
                        type: CHALLENGE_TYPE_TEXT
                        type_raw: "TEXT"
                      }
                    )pb"));
}

TEST(MapResumeMemberAnswer, DecodesTheMemberWithHttpStatusOn202) {
  const absl::StatusOr<ResumeMemberResponse> response =
      MapResumeMemberAnswer(Answer(202, kMemberBody), kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->http_status(), 202);
  ExpectSameMessage(response->member(), ParseTextProto<Member>(kMemberText));
}

TEST(MapResumeMemberAnswer, KeepsAnotherSuccessStatusAsReceived) {
  const absl::StatusOr<ResumeMemberResponse> response =
      MapResumeMemberAnswer(Answer(200, kMemberBody), kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->http_status(), 200);
}

// MX's 405 on resume: the member is not CHALLENGED (documented for Nexus).
TEST(MapResumeMemberAnswer, Maps405ToFailedPreconditionConstraintNotMet) {
  const absl::Status status =
      MapResumeMemberAnswer(
          Answer(405, R"({"error":{"message":"Member is not challenged."}})"), kNow)
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "MX answered HTTP 405: Member is not challenged.");
  const google::rpc::ErrorInfo info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason(), "UPSTREAM_CONSTRAINT_NOT_MET");
  EXPECT_THAT(info.metadata(), UnorderedElementsAre(Pair(kMetadataHttpStatus, "405"),
                                                    Pair(kMetadataMxErrorMessage,
                                                         "Member is not challenged.")));
}

TEST(MapDeleteMemberAnswer, IsOkOn204WithoutABody) {
  const absl::StatusOr<DeleteMemberResponse> response =
      MapDeleteMemberAnswer(Answer(204), kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectSameMessage(*response, DeleteMemberResponse());
}

TEST(MapDeleteMemberAnswer, IsOkOn200WithoutReadingTheBody) {
  for (const char* body : {"", "not json", kMemberBody}) {
    const absl::StatusOr<DeleteMemberResponse> response =
        MapDeleteMemberAnswer(Answer(200, body), kNow);
    EXPECT_TRUE(response.ok()) << body << ": " << response.status();
  }
}

}  // namespace
}  // namespace mxgate
