#include "client/member_client.h"

#include <chrono>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_context.h"
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
      << document.GetErrorOffset() << " in:\n"
      << json;
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
  const grpc::Status status(grpc::StatusCode::INTERNAL, "x",
                            std::string("\x0a\x05"
                                        "ab",
                                        4));
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

  const std::string json = ErrorToJson(WithDetails(
      grpc::StatusCode::INVALID_ARGUMENT, "invalid CreateMemberRequest", details));
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
  EXPECT_EQ(json,
            "{\n \"code\": \"UNAVAILABLE\",\n \"message\": \"failed to connect\"\n}\n");
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
                            std::string("\x0a\x05"
                                        "ab",
                                        4));
  EXPECT_EQ(ErrorToJson(status),
            "{\n \"code\": \"INTERNAL\",\n \"message\": \"boom\"\n}\n");
}

// A detail protobuf cannot print: its type is not linked into the program.
struct UnprintableDetail {
  std::string name;
  std::string type_url;
  std::string value;
};

void PrintTo(const UnprintableDetail& detail, std::ostream* out) { *out << detail.name; }

class ErrorToJsonUnprintableDetail : public ::testing::TestWithParam<UnprintableDetail> {
};

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
    ::testing::Values(UnprintableDetail{"TypeNotLinkedIn",
                                        "type.googleapis.com/acme.v1.QuotaHint",
                                        std::string("\x08\x01", 2)},
                      UnprintableDetail{"TypeUrlWithoutSlash", "acme.v1.QuotaHint", ""}),
    [](const ::testing::TestParamInfo<UnprintableDetail>& info) {
      return info.param.name;
    });

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
    ::testing::Values(
        CodeName{grpc::StatusCode::OK, "OK"},
        CodeName{grpc::StatusCode::CANCELLED, "CANCELLED"},
        CodeName{grpc::StatusCode::UNKNOWN, "UNKNOWN"},
        CodeName{grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
        CodeName{grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
        CodeName{grpc::StatusCode::NOT_FOUND, "NOT_FOUND"},
        CodeName{grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
        CodeName{grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"},
        CodeName{grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
        CodeName{grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION"},
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
  )pb",
                                                            &response));
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

// ---------------------------------------------------------------------------
// ToJsonLine

TEST(ToJsonLine, PrintsOneLineWithProtoFieldNames) {
  v1::WatchMemberStatusResponse message;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    status { guid: "MBR-1" connection_status: CONNECTION_STATUS_CHALLENGED
             challenges { guid: "CRD-1" label: "Pet?\nName" } }
    final: true
    end_reason: WATCH_END_REASON_CHALLENGED
    elapsed { seconds: 1 nanos: 500000000 }
  )pb",
                                                            &message));
  EXPECT_EQ(ToJsonLine(message),
            "{\"status\":{\"guid\":\"MBR-1\",\"connection_status\":"
            "\"CONNECTION_STATUS_CHALLENGED\",\"challenges\":[{\"guid\":\"CRD-1\","
            "\"label\":\"Pet?\\nName\"}]},\"final\":true,\"end_reason\":"
            "\"WATCH_END_REASON_CHALLENGED\",\"elapsed\":\"1.500s\"}\n");
  EXPECT_EQ(ToJsonLine(v1::DeleteMemberResponse()), "{}\n");
}

// ---------------------------------------------------------------------------
// MemberClient against an in-process MemberService.

// Answers from the request, so a test sees that the call reached its RPC.
// Member "slow" waits until the caller gives up; "gone" is NOT_FOUND.
class FakeMemberService final : public v1::MemberService::Service {
 public:
  grpc::Status CreateMember(grpc::ServerContext*, const v1::CreateMemberRequest* request,
                            v1::CreateMemberResponse* response) override {
    response->mutable_member()->set_id(request->member().id());
    response->set_http_status(202);
    return grpc::Status::OK;
  }
  grpc::Status ListInstitutionCredentials(
      grpc::ServerContext*, const v1::ListInstitutionCredentialsRequest* request,
      v1::ListInstitutionCredentialsResponse* response) override {
    response->add_credentials()->set_label(request->institution_code());
    response->mutable_pagination()->set_current_page(request->page());
    return grpc::Status::OK;
  }
  grpc::Status GetMember(grpc::ServerContext* context,
                         const v1::GetMemberRequest* request,
                         v1::GetMemberResponse* response) override {
    if (request->member_identifier() == "slow") return WaitForCancel(context);
    if (request->member_identifier() == "gone") {
      return WithDetails(grpc::StatusCode::NOT_FOUND, "gone", NotFoundDetails());
    }
    // Whether the call came with a deadline at all.
    const bool has_deadline = context->deadline() < std::chrono::system_clock::now() +
                                                        std::chrono::hours(24 * 365);
    response->mutable_member()->set_guid(request->member_identifier());
    response->mutable_member()->set_metadata(has_deadline ? "deadline" : "none");
    return grpc::Status::OK;
  }
  grpc::Status GetMemberStatus(grpc::ServerContext*,
                               const v1::GetMemberStatusRequest* request,
                               v1::GetMemberStatusResponse* response) override {
    response->mutable_status()->set_guid(request->member_identifier());
    return grpc::Status::OK;
  }
  grpc::Status ResumeMember(grpc::ServerContext*, const v1::ResumeMemberRequest* request,
                            v1::ResumeMemberResponse* response) override {
    response->mutable_member()->set_guid(request->challenges(0).value());
    return grpc::Status::OK;
  }
  grpc::Status DeleteMember(grpc::ServerContext*, const v1::DeleteMemberRequest* request,
                            v1::DeleteMemberResponse*) override {
    return request->member_identifier() == "MBR-1"
               ? grpc::Status::OK
               : grpc::Status(grpc::StatusCode::NOT_FOUND, "no such member");
  }
  // Sends CREATED, CHALLENGED (final); member "broken" then ends with
  // UNAVAILABLE instead, "slow" waits after the first message.
  grpc::Status WatchMemberStatus(
      grpc::ServerContext* context, const v1::WatchMemberStatusRequest* request,
      grpc::ServerWriter<v1::WatchMemberStatusResponse>* writer) override {
    v1::WatchMemberStatusResponse message;
    message.mutable_status()->set_guid(request->member_identifier());
    message.mutable_status()->set_connection_status(v1::CONNECTION_STATUS_CREATED);
    writer->Write(message);
    if (request->member_identifier() == "slow") return WaitForCancel(context);
    if (request->member_identifier() == "broken") {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "MX went away");
    }
    message.mutable_status()->set_connection_status(v1::CONNECTION_STATUS_CHALLENGED);
    message.set_final(true);
    message.set_end_reason(v1::WATCH_END_REASON_CHALLENGED);
    writer->Write(message);
    return grpc::Status::OK;
  }

 private:
  static grpc::Status WaitForCancel(grpc::ServerContext* context) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (!context->IsCancelled() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "gave up");
  }
};

class MemberClientCalls : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    client_ = std::make_unique<MemberClient>(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  v1::WatchMemberStatusRequest WatchOf(const std::string& member) {
    v1::WatchMemberStatusRequest request;
    request.set_member_identifier(member);
    return request;
  }

  FakeMemberService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MemberClient> client_;
};

TEST_F(MemberClientCalls, EachUnaryCallReachesItsRpc) {
  const absl::Duration timeout = absl::Seconds(5);
  v1::CreateMemberRequest create;
  create.mutable_member()->set_id("m-1");
  v1::CreateMemberResponse created;
  ASSERT_TRUE(client_->CreateMember(create, &created, timeout).ok());
  EXPECT_EQ(created.member().id(), "m-1");

  v1::ListInstitutionCredentialsRequest list;
  list.set_institution_code("mxbank");
  list.set_page(2);
  v1::ListInstitutionCredentialsResponse listed;
  ASSERT_TRUE(client_->ListInstitutionCredentials(list, &listed, timeout).ok());
  EXPECT_EQ(listed.credentials(0).label(), "mxbank");
  EXPECT_EQ(listed.pagination().current_page(), 2);

  v1::GetMemberRequest get;
  get.set_member_identifier("MBR-1");
  v1::GetMemberResponse got;
  ASSERT_TRUE(client_->GetMember(get, &got, timeout).ok());
  EXPECT_EQ(got.member().guid(), "MBR-1");

  v1::GetMemberStatusRequest get_status;
  get_status.set_member_identifier("MBR-2");
  v1::GetMemberStatusResponse status;
  ASSERT_TRUE(client_->GetMemberStatus(get_status, &status, timeout).ok());
  EXPECT_EQ(status.status().guid(), "MBR-2");

  v1::ResumeMemberRequest resume;
  resume.add_challenges()->set_value("correct");
  v1::ResumeMemberResponse resumed;
  ASSERT_TRUE(client_->ResumeMember(resume, &resumed, timeout).ok());
  EXPECT_EQ(resumed.member().guid(), "correct");

  v1::DeleteMemberRequest remove;
  remove.set_member_identifier("MBR-1");
  v1::DeleteMemberResponse removed;
  EXPECT_TRUE(client_->DeleteMember(remove, &removed, timeout).ok());
  remove.set_member_identifier("MBR-9");
  EXPECT_EQ(client_->DeleteMember(remove, &removed, timeout).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(MemberClientCalls, ErrorsKeepTheirDetails) {
  v1::GetMemberRequest get;
  get.set_member_identifier("gone");
  v1::GetMemberResponse got;
  const grpc::Status status = client_->GetMember(get, &got, absl::Seconds(5));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  const absl::optional<google::rpc::Status> details = ErrorDetails(status);
  ASSERT_TRUE(details.has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(*details, NotFoundDetails()));
}

TEST_F(MemberClientCalls, TimeoutIsTheCallsDeadlineAndInfiniteMeansNone) {
  v1::GetMemberRequest get;
  get.set_member_identifier("slow");
  v1::GetMemberResponse got;
  const absl::Time start = absl::Now();
  EXPECT_EQ(client_->GetMember(get, &got, absl::Milliseconds(200)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  get.set_member_identifier("MBR-1");
  ASSERT_TRUE(client_->GetMember(get, &got, absl::Seconds(5)).ok());
  EXPECT_EQ(got.member().metadata(), "deadline");
  ASSERT_TRUE(client_->GetMember(get, &got, absl::InfiniteDuration()).ok());
  EXPECT_EQ(got.member().metadata(), "none");
}

TEST_F(MemberClientCalls, WatchHandsEachMessageToTheCallbackInOrder) {
  std::vector<v1::WatchMemberStatusResponse> seen;
  const grpc::Status status = client_->WatchMemberStatus(
      WatchOf("MBR-1"),
      [&](const v1::WatchMemberStatusResponse& m) { seen.push_back(m); },
      absl::Seconds(5));
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].status().connection_status(), v1::CONNECTION_STATUS_CREATED);
  EXPECT_FALSE(seen[0].final());
  EXPECT_EQ(seen[1].status().connection_status(), v1::CONNECTION_STATUS_CHALLENGED);
  EXPECT_TRUE(seen[1].final());
  EXPECT_EQ(seen[1].end_reason(), v1::WATCH_END_REASON_CHALLENGED);
}

TEST_F(MemberClientCalls, WatchReturnsTheErrorTheStreamEndedWith) {
  int messages = 0;
  const grpc::Status status = client_->WatchMemberStatus(
      WatchOf("broken"), [&](const v1::WatchMemberStatusResponse&) { ++messages; },
      absl::Seconds(5));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "MX went away");
  EXPECT_EQ(messages, 1);
}

TEST_F(MemberClientCalls, WatchTimeoutBoundsTheWholeStream) {
  int messages = 0;
  const absl::Time start = absl::Now();
  const grpc::Status status = client_->WatchMemberStatus(
      WatchOf("slow"), [&](const v1::WatchMemberStatusResponse&) { ++messages; },
      absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(messages, 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace mxgate
