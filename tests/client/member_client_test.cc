#include "client/member_client.h"

#include <cstdlib>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using ::testing::Not;

// Parses `json` and fails the test unless it is one valid JSON object.
rapidjson::Document ParseJson(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str(), json.size());
  EXPECT_FALSE(document.HasParseError())
      << rapidjson::GetParseError_En(document.GetParseError()) << " at "
      << document.GetErrorOffset() << " in:\n" << json;
  EXPECT_TRUE(!document.HasParseError() && document.IsObject()) << json;
  return document;
}

// The status mxgate sends for an unknown MX user: ErrorInfo only.
google::rpc::Status NotFoundDetails() {
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::NOT_FOUND);
  details.set_message("MX answered HTTP 404: User not found.");
  google::rpc::ErrorInfo info;
  info.set_reason("UPSTREAM_NOT_FOUND");
  info.set_domain("mxgate");
  (*info.mutable_metadata())["http_status"] = "404";
  details.add_details()->PackFrom(info);
  return details;
}

grpc::Status WithDetails(grpc::StatusCode code, const std::string& message,
                         const google::rpc::Status& details) {
  return grpc::Status(code, message, details.SerializeAsString());
}

// ---------------------------------------------------------------------------
// ErrorDetails

TEST(ErrorDetails, IsEmptyWithoutDetails) {
  EXPECT_FALSE(ErrorDetails(grpc::Status(grpc::StatusCode::NOT_FOUND, "no")).has_value());
  EXPECT_FALSE(ErrorDetails(grpc::Status::OK).has_value());
}

TEST(ErrorDetails, IsEmptyWhenTheDetailsAreNotAStatus) {
  // Field 1 (code) as a length-delimited field of 5 bytes, only 2 present.
  const grpc::Status status(grpc::StatusCode::INTERNAL, "x", std::string("\x0a\x05" "ab", 4));
  EXPECT_FALSE(ErrorDetails(status).has_value());
}

TEST(ErrorDetails, DecodesTheStatusInTheTrailer) {
  const google::rpc::Status sent = NotFoundDetails();
  const absl::optional<google::rpc::Status> got =
      ErrorDetails(WithDetails(grpc::StatusCode::NOT_FOUND, sent.message(), sent));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(*got, sent)) << got->DebugString();
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(got->details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "UPSTREAM_NOT_FOUND");
}

// ---------------------------------------------------------------------------
// ErrorToJson

TEST(ErrorToJson, PrintsCodeNameMessageAndErrorInfo) {
  const google::rpc::Status details = NotFoundDetails();
  const std::string json =
      ErrorToJson(WithDetails(grpc::StatusCode::NOT_FOUND, details.message(), details));
  EXPECT_EQ(json, R"({
 "code": "NOT_FOUND",
 "message": "MX answered HTTP 404: User not found.",
 "details": [
  {
   "@type": "type.googleapis.com/google.rpc.ErrorInfo",
   "reason": "UPSTREAM_NOT_FOUND",
   "domain": "mxgate",
   "metadata": {
    "http_status": "404"
   }
  }
 ]
}
)");
  ParseJson(json);
}

TEST(ErrorToJson, PrintsBadRequestAndRetryInfoAfterErrorInfo) {
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::INVALID_ARGUMENT);
  google::rpc::ErrorInfo info;
  info.set_reason("INVALID_REQUEST");
  info.set_domain("mxgate");
  details.add_details()->PackFrom(info);
  google::rpc::BadRequest bad_request;
  google::rpc::BadRequest::FieldViolation* violation = bad_request.add_field_violations();
  violation->set_field("member.credentials");
  violation->set_description("at least one credential required");
  details.add_details()->PackFrom(bad_request);
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(7);
  details.add_details()->PackFrom(retry);

  const std::string json = ErrorToJson(
      WithDetails(grpc::StatusCode::INVALID_ARGUMENT, "invalid CreateMemberRequest", details));
  EXPECT_EQ(json, R"({
 "code": "INVALID_ARGUMENT",
 "message": "invalid CreateMemberRequest",
 "details": [
  {
   "@type": "type.googleapis.com/google.rpc.ErrorInfo",
   "reason": "INVALID_REQUEST",
   "domain": "mxgate"
  },
  {
   "@type": "type.googleapis.com/google.rpc.BadRequest",
   "field_violations": [
    {
     "field": "member.credentials",
     "description": "at least one credential required"
    }
   ]
  },
  {
   "@type": "type.googleapis.com/google.rpc.RetryInfo",
   "retry_delay": "7s"
  }
 ]
}
)");
  const rapidjson::Document document = ParseJson(json);
  ASSERT_TRUE(document.HasMember("details") && document["details"].IsArray());
  const auto& violations = document["details"][1]["field_violations"];
  EXPECT_STREQ(violations[0]["field"].GetString(), "member.credentials");
}

TEST(ErrorToJson, PrintsCodeAndMessageWithoutDetails) {
  const std::string json =
      ErrorToJson(grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect"));
  EXPECT_EQ(json, "{\n \"code\": \"UNAVAILABLE\",\n \"message\": \"failed to connect\"\n}\n");
  ParseJson(json);
}

TEST(ErrorToJson, PrintsOnlyTheCodeWithoutMessageOrDetails) {
  const std::string json = ErrorToJson(grpc::Status(grpc::StatusCode::CANCELLED, ""));
  EXPECT_EQ(json, "{\n \"code\": \"CANCELLED\"\n}\n");
  const rapidjson::Document document = ParseJson(json);
  ASSERT_TRUE(document.HasMember("code"));
  EXPECT_STREQ(document["code"].GetString(), "CANCELLED");
  EXPECT_EQ(document.MemberCount(), 1u);
}

TEST(ErrorToJson, PrintsDetailsWithoutAMessage) {
  google::rpc::Status details = NotFoundDetails();
  details.clear_message();
  const rapidjson::Document document =
      ParseJson(ErrorToJson(WithDetails(grpc::StatusCode::NOT_FOUND, "", details)));
  ASSERT_TRUE(document.IsObject());
  EXPECT_STREQ(document["code"].GetString(), "NOT_FOUND");
  EXPECT_FALSE(document.HasMember("message"));
  ASSERT_TRUE(document["details"].IsArray());
  EXPECT_STREQ(document["details"][0]["reason"].GetString(), "UPSTREAM_NOT_FOUND");
}

TEST(ErrorToJson, TakesCodeAndMessageFromTheGrpcStatusNotTheDetails) {
  google::rpc::Status details = NotFoundDetails();
  details.set_code(grpc::StatusCode::INTERNAL);
  details.set_message("from the details");
  const std::string json =
      ErrorToJson(WithDetails(grpc::StatusCode::NOT_FOUND, "from the status", details));
  const rapidjson::Document document = ParseJson(json);
  ASSERT_TRUE(document.IsObject());
  EXPECT_STREQ(document["code"].GetString(), "NOT_FOUND");
  EXPECT_STREQ(document["message"].GetString(), "from the status");
  EXPECT_THAT(json, Not(HasSubstr("from the details")));
  EXPECT_THAT(json, Not(HasSubstr("INTERNAL")));
  EXPECT_THAT(json, Not(HasSubstr("\"code\": 13")));
}

TEST(ErrorToJson, EscapesTheMessage) {
  const std::string message = "quote \" backslash \\ newline \n tab \t ü \x01 </script>";
  for (const grpc::Status& status :
       {grpc::Status(grpc::StatusCode::INTERNAL, message),
        WithDetails(grpc::StatusCode::INTERNAL, message, NotFoundDetails())}) {
    const rapidjson::Document document = ParseJson(ErrorToJson(status));
    ASSERT_TRUE(document.IsObject() && document.HasMember("message"));
    EXPECT_EQ(std::string(document["message"].GetString(),
                          document["message"].GetStringLength()),
              message);
  }
}

TEST(ErrorToJson, FallsBackToCodeAndMessageWhenTheDetailsAreUnreadable) {
  const grpc::Status status(grpc::StatusCode::INTERNAL, "boom",
                            std::string("\x0a\x05" "ab", 4));
  EXPECT_EQ(ErrorToJson(status), "{\n \"code\": \"INTERNAL\",\n \"message\": \"boom\"\n}\n");
}

// A detail protobuf cannot print: its type is not linked into the program.
struct UnprintableDetail {
  std::string name;
  std::string type_url;
  std::string value;
};

void PrintTo(const UnprintableDetail& detail, std::ostream* out) { *out << detail.name; }

class ErrorToJsonUnprintableDetail : public ::testing::TestWithParam<UnprintableDetail> {};

TEST_P(ErrorToJsonUnprintableDetail, IsLeftOutAndTheJsonStaysValid) {
  for (const char* message : {"boom", ""}) {
    google::rpc::Status details = NotFoundDetails();
    google::protobuf::Any* any = details.add_details();
    any->set_type_url(GetParam().type_url);
    any->set_value(GetParam().value);
    const std::string json =
        ErrorToJson(WithDetails(grpc::StatusCode::NOT_FOUND, message, details));
    const rapidjson::Document document = ParseJson(json);
    ASSERT_TRUE(document.IsObject() && document.HasMember("details")) << json;
    EXPECT_STREQ(document["code"].GetString(), "NOT_FOUND");
    ASSERT_EQ(document["details"].Size(), 1u) << json;
    EXPECT_STREQ(document["details"][0]["reason"].GetString(), "UPSTREAM_NOT_FOUND");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Details, ErrorToJsonUnprintableDetail,
    ::testing::Values(
        UnprintableDetail{"TypeNotLinkedIn", "type.googleapis.com/acme.v1.QuotaHint",
                          std::string("\x08\x01", 2)},
        UnprintableDetail{"TypeUrlWithoutSlash", "acme.v1.QuotaHint", ""}),
    [](const ::testing::TestParamInfo<UnprintableDetail>& info) { return info.param.name; });

TEST(ErrorToJson, PrintsOnlyTheCodeWhenNoDetailIsPrintable) {
  google::rpc::Status details;
  details.add_details()->set_type_url("type.googleapis.com/acme.v1.QuotaHint");
  EXPECT_EQ(ErrorToJson(WithDetails(grpc::StatusCode::ABORTED, "", details)),
            "{\n \"code\": \"ABORTED\"\n}\n");
}

// Every gRPC code by its canonical name (google/rpc/code.proto).
struct CodeName {
  grpc::StatusCode code;
  const char* name;
};

class ErrorToJsonCode : public ::testing::TestWithParam<CodeName> {};

TEST_P(ErrorToJsonCode, IsPrintedByName) {
  for (const char* message : {"", "m"}) {
    const std::string json = ErrorToJson(grpc::Status(GetParam().code, message));
    const rapidjson::Document document = ParseJson(json);
    ASSERT_TRUE(document.IsObject() && document.HasMember("code")) << json;
    EXPECT_STREQ(document["code"].GetString(), GetParam().name);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, ErrorToJsonCode,
    ::testing::Values(CodeName{grpc::StatusCode::OK, "OK"},
                      CodeName{grpc::StatusCode::CANCELLED, "CANCELLED"},
                      CodeName{grpc::StatusCode::UNKNOWN, "UNKNOWN"},
                      CodeName{grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
                      CodeName{grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
                      CodeName{grpc::StatusCode::NOT_FOUND, "NOT_FOUND"},
                      CodeName{grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
                      CodeName{grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"},
                      CodeName{grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
                      CodeName{grpc::StatusCode::FAILED_PRECONDITION,
                               "FAILED_PRECONDITION"},
                      CodeName{grpc::StatusCode::ABORTED, "ABORTED"},
                      CodeName{grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE"},
                      CodeName{grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED"},
                      CodeName{grpc::StatusCode::INTERNAL, "INTERNAL"},
                      CodeName{grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE"},
                      CodeName{grpc::StatusCode::DATA_LOSS, "DATA_LOSS"},
                      CodeName{grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
                      // Outside the canonical range: a code no peer should send.
                      CodeName{static_cast<grpc::StatusCode>(17), "UNKNOWN"},
                      CodeName{static_cast<grpc::StatusCode>(-1), "UNKNOWN"}),
    [](const ::testing::TestParamInfo<CodeName>& info) {
      return absl::StrCat("Code", static_cast<int>(info.param.code) < 0 ? "Minus" : "",
                          std::abs(static_cast<int>(info.param.code)));
    });

// ---------------------------------------------------------------------------
// ToJson

TEST(ToJson, PrintsProtoFieldNamesEnumNamesAndSetOptionalFalse) {
  v1::CreateMemberResponse response;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    member {
      institution_code: "mxbank"
      is_oauth: false
      guid: "MBR-1"
      connection_status: CONNECTION_STATUS_CREATED
      oauth_window_uri: "https://int-widgets.moneydesktop.com/oauth/MBR-1"
    }
    outcome: CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED
    http_status: 202
  )pb", &response));
  const std::string json = ToJson(response);
  EXPECT_EQ(json, R"({
 "member": {
  "institution_code": "mxbank",
  "is_oauth": false,
  "guid": "MBR-1",
  "connection_status": "CONNECTION_STATUS_CREATED",
  "oauth_window_uri": "https://int-widgets.moneydesktop.com/oauth/MBR-1"
 },
 "outcome": "CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED",
 "http_status": 202
}
)");
  const rapidjson::Document document = ParseJson(json);
  ASSERT_TRUE(document.IsObject());
  EXPECT_EQ(document["http_status"].GetInt(), 202);
  EXPECT_STREQ(document["member"]["oauth_window_uri"].GetString(),
               "https://int-widgets.moneydesktop.com/oauth/MBR-1");
  EXPECT_THAT(json, Not(HasSubstr("httpStatus")));
  EXPECT_THAT(json, Not(HasSubstr("institutionCode")));
}

TEST(ToJson, PrintsAnEmptyMessageAsAnEmptyObject) {
  const std::string json = ToJson(v1::CreateMemberResponse());
  EXPECT_EQ(json, "{}\n");
  ParseJson(json);
}

TEST(ToJson, PrintsARequestWithCredentialsAndProducts) {
  v1::CreateMemberRequest request;
  request.set_user_identifier("demo-user");
  request.set_request_id("req-1");
  v1::Credential* credential = request.mutable_member()->add_credentials();
  credential->set_guid("CRD-1");
  credential->set_value("mxuser");
  request.mutable_data_request()->add_products(v1::PRODUCT_TRANSACTIONS);
  const rapidjson::Document document = ParseJson(ToJson(request));
  ASSERT_TRUE(document.IsObject());
  EXPECT_STREQ(document["user_identifier"].GetString(), "demo-user");
  EXPECT_STREQ(document["request_id"].GetString(), "req-1");
  EXPECT_STREQ(document["member"]["credentials"][0]["guid"].GetString(), "CRD-1");
  EXPECT_STREQ(document["data_request"]["products"][0].GetString(),
               "PRODUCT_TRANSACTIONS");
}

}  // namespace
}  // namespace mxgate
