// The real mxgate binary, end to end: against the real mx-sandbox binary,
// and against a recording upstream that shows the exact HTTP request mxgate
// sends and lets each test script MX's answer. Every process listens on a
// loopback port chosen at run time.
#include <cstdio>
#include <fstream>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "sandbox/mx_sandbox.h"  // the seeded ids and guids only
#include "tests/integration/gateway_process.h"
#include "tests/integration/recording_upstream.h"
#include "tests/integration/test_process.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::mxgate::testing::BinPath;
using ::mxgate::testing::ChildProcess;
using ::mxgate::testing::FindDetail;
using ::mxgate::testing::Gateway;
using ::mxgate::testing::kApiKey;
using ::mxgate::testing::kClientId;
using ::mxgate::testing::kPassword;
using ::mxgate::testing::MxBankRequest;
using ::mxgate::testing::RecordedRequest;
using ::mxgate::testing::RecordingUpstream;
using ::mxgate::testing::Sandbox;
using ::mxgate::testing::ScriptedResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::Pair;

constexpr char kUuidV4[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
// What the log may hold of the user "user 1 ü": printf 'user 1 ü' | sha256sum,
// first 16 hex digits.
constexpr char kUser1Hash[] = "866d05364ba629a4";

google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& status) {
  absl::optional<google::rpc::ErrorInfo> info =
      FindDetail<google::rpc::ErrorInfo>(status);
  EXPECT_TRUE(info.has_value()) << "no ErrorInfo in " << status.error_message();
  return info.value_or(google::rpc::ErrorInfo());
}

// ---------------------------------------------------------------------------
// Against the real sandbox.

class AgainstSandbox : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sandbox_ = new Sandbox();
    ASSERT_FALSE(sandbox_->url().empty()) << sandbox_->process().Stderr();
    gateway_ = new Gateway(sandbox_->url());
    ASSERT_FALSE(gateway_->address().empty());
  }

  static void TearDownTestSuite() {
    delete gateway_;
    delete sandbox_;
  }

  static int SandboxStat(const std::string& name) { return sandbox_->Stat(name); }

  static Sandbox* sandbox_;
  static Gateway* gateway_;
};

Sandbox* AgainstSandbox::sandbox_ = nullptr;
Gateway* AgainstSandbox::gateway_ = nullptr;

TEST_F(AgainstSandbox, HealthIsServingForTheServerAndTheService) {
  auto health = grpc::health::v1::Health::NewStub(gateway_->channel());
  for (const std::string service : {"", "mx.platform.v1.MemberService"}) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = health->Check(&context, request, &response);
    ASSERT_TRUE(status.ok()) << "service \"" << service
                             << "\": " << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << "service \"" << service << "\"";
  }
}

TEST_F(AgainstSandbox, CreatesMemberAndReportsAggregationRequested) {
  v1::CreateMemberRequest request = MxBankRequest();
  request.mutable_member()->set_id("it-member-202");
  request.mutable_member()->set_metadata("from the integration test");
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_->CreateMember(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.http_status(), 202);
  EXPECT_EQ(response.outcome(), v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  const v1::Member& member = response.member();
  EXPECT_THAT(member.guid(), ::testing::StartsWith("MBR-"));
  EXPECT_EQ(member.id(), "it-member-202");
  EXPECT_EQ(member.user_id(), sandbox::kDemoUserId);
  EXPECT_EQ(member.user_guid(), sandbox::kDemoUserGuid);
  EXPECT_EQ(member.institution_code(), "mxbank");
  EXPECT_EQ(member.institution_guid(), sandbox::kMxBankGuid);
  EXPECT_EQ(member.metadata(), "from the integration test");
  EXPECT_EQ(member.connection_status(), v1::CONNECTION_STATUS_CREATED);
  EXPECT_TRUE(member.is_being_aggregated());
  EXPECT_TRUE(member.has_aggregated_at());
  EXPECT_FALSE(member.has_successfully_aggregated_at());
  EXPECT_THAT(member.most_recent_job_guid(), ::testing::StartsWith("JOB-"));
  EXPECT_TRUE(member.credentials().empty());
}

TEST_F(AgainstSandbox, OAuthMemberIsCreatedWithoutAggregation) {
  v1::CreateMemberRequest request;
  request.set_user_identifier(sandbox::kDemoUserId);
  request.mutable_member()->set_institution_code("mx_bank_oauth");
  request.mutable_member()->set_is_oauth(true);
  request.set_referral_source(v1::REFERRAL_SOURCE_APP);
  request.set_client_redirect_url("https://app.example/done");
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_->CreateMember(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.http_status(), 200);
  EXPECT_EQ(response.outcome(), v1::CREATE_MEMBER_OUTCOME_CREATED_NO_AGGREGATION);
  EXPECT_EQ(response.member().connection_status(), v1::CONNECTION_STATUS_PENDING);
  EXPECT_TRUE(response.member().is_oauth());
  EXPECT_THAT(response.member().oauth_window_uri(),
              HasSubstr("/oauth/authorize/" + response.member().guid()));
}

TEST_F(AgainstSandbox, UnsupportedProductGives201) {
  v1::CreateMemberRequest request = MxBankRequest();
  request.mutable_data_request()->add_products(v1::PRODUCT_TRANSACTIONS);
  request.mutable_data_request()->add_products(v1::PRODUCT_REWARDS);
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_->CreateMember(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.http_status(), 201);
  EXPECT_EQ(response.outcome(), v1::CREATE_MEMBER_OUTCOME_PRODUCT_AGGREGATION_FAILED);
  EXPECT_THAT(response.member().guid(), ::testing::StartsWith("MBR-"));
}

TEST_F(AgainstSandbox, SkipAggregationUnderV20111101Gives200) {
  v1::CreateMemberRequest request = MxBankRequest(sandbox::kDemoUserGuid);
  request.set_accept_version("v20111101");
  request.mutable_member()->set_skip_aggregation(true);
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_->CreateMember(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.http_status(), 200);
  EXPECT_EQ(response.outcome(), v1::CREATE_MEMBER_OUTCOME_CREATED_NO_AGGREGATION);
  EXPECT_FALSE(response.member().is_being_aggregated());
}

TEST_F(AgainstSandbox, UnknownUserIsNotFoundWithMxMessage) {
  v1::CreateMemberResponse response;
  const grpc::Status status =
      gateway_->CreateMember(MxBankRequest("no-such-user"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  const google::rpc::ErrorInfo info = ErrorInfoOf(status);
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), "UPSTREAM_NOT_FOUND");
  EXPECT_EQ(info.metadata().at("http_status"), "404");
  EXPECT_FALSE(info.metadata().at("mx_error_message").empty());
  EXPECT_THAT(status.error_message(), ::testing::StartsWith("MX answered HTTP 404: "));
}

TEST_F(AgainstSandbox, UnknownCredentialGuidIsUnprocessable) {
  v1::CreateMemberRequest request = MxBankRequest();
  request.mutable_member()->mutable_credentials(1)->set_guid("CRD-not-a-field");
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_->CreateMember(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_UNPROCESSABLE");
  EXPECT_EQ(ErrorInfoOf(status).metadata().at("http_status"), "422");
}

TEST_F(AgainstSandbox, DuplicateMemberIdIsAlreadyExists) {
  v1::CreateMemberRequest request = MxBankRequest();
  request.mutable_member()->set_id("it-member-twice");
  v1::CreateMemberResponse response;
  ASSERT_TRUE(gateway_->CreateMember(request, &response).ok());
  const grpc::Status status = gateway_->CreateMember(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_CONFLICT");
  EXPECT_EQ(ErrorInfoOf(status).metadata().at("http_status"), "409");
}

TEST_F(AgainstSandbox, RetriedRequestIdReplaysTheFirstAnswerByteForByteWithoutMx) {
  v1::CreateMemberRequest request = MxBankRequest();
  request.set_request_id("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b");
  const int created_before = SandboxStat("members_created");
  const int requests_before = SandboxStat("requests");
  v1::CreateMemberResponse first;
  ASSERT_TRUE(gateway_->CreateMember(request, &first).ok());
  EXPECT_EQ(first.outcome(), v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  EXPECT_EQ(first.http_status(), 202);

  v1::CreateMemberResponse retried;
  const grpc::Status status = gateway_->CreateMember(request, &retried);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retried.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(retried.outcome(), v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  EXPECT_EQ(SandboxStat("members_created"), created_before + 1);
  EXPECT_EQ(SandboxStat("requests"), requests_before + 1) << "the retry reached MX";

  // The same request_id for another request is the caller's mistake.
  v1::CreateMemberRequest other = request;
  other.mutable_member()->set_institution_code("mx_bank_oauth");
  other.mutable_member()->clear_credentials();
  other.mutable_member()->set_is_oauth(true);
  const grpc::Status reused = gateway_->CreateMember(other, &retried);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrorInfoOf(reused).reason(), "INVALID_REQUEST");
  absl::optional<google::rpc::BadRequest> bad_request =
      FindDetail<google::rpc::BadRequest>(reused);
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 1);
  EXPECT_EQ(bad_request->field_violations(0).field(), "request_id");
  EXPECT_EQ(SandboxStat("requests"), requests_before + 1) << "MX was called";
}

// Another replica has no replay cache entry: MX's 409 on the member id
// keeps the retry from creating a second member, as it did before the cache.
TEST_F(AgainstSandbox, RetriedRequestIdOnAnotherReplicaAnswersWithTheFirstMember) {
  v1::CreateMemberRequest request = MxBankRequest();
  request.set_request_id("3d4b1f2e-6a7c-4e8d-9f01-2a3b4c5d6e7f");
  const int created_before = SandboxStat("members_created");
  v1::CreateMemberResponse first;
  ASSERT_TRUE(gateway_->CreateMember(request, &first).ok());
  EXPECT_EQ(first.outcome(), v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  EXPECT_EQ(first.member().id(), request.request_id());

  Gateway other_replica(sandbox_->url());
  // The same request_id for another institution is not this request. (Sent
  // first: once the replica has answered the retry, its own cache would
  // refuse this as a reused request_id.)
  v1::CreateMemberRequest other = request;
  other.mutable_member()->set_institution_code("mx_bank_oauth");
  other.mutable_member()->clear_credentials();
  other.mutable_member()->set_is_oauth(true);
  v1::CreateMemberResponse retried;
  EXPECT_EQ(other_replica.CreateMember(other, &retried).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  const grpc::Status status = other_replica.CreateMember(request, &retried);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retried.outcome(), v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  EXPECT_EQ(retried.http_status(), 409);
  EXPECT_EQ(retried.member().guid(), first.member().guid());
  EXPECT_EQ(SandboxStat("members_created"), created_before + 1);
}

TEST_F(AgainstSandbox, WithoutTheReplayCacheARetryMeetsMxsConflict) {
  Gateway no_replay(sandbox_->url(), {"--request_replay_entries=0"});
  v1::CreateMemberRequest request = MxBankRequest();
  request.set_request_id("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d");
  const int requests_before = SandboxStat("requests");
  v1::CreateMemberResponse first;
  ASSERT_TRUE(no_replay.CreateMember(request, &first).ok());
  v1::CreateMemberResponse retried;
  const grpc::Status status = no_replay.CreateMember(request, &retried);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retried.outcome(), v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  EXPECT_EQ(retried.member().guid(), first.member().guid());
  // The create, then the retry's create (409) and its read-back.
  EXPECT_EQ(SandboxStat("requests"), requests_before + 3);
}

TEST_F(AgainstSandbox, WrongGatewayCredentialsAreUnauthenticated) {
  Gateway wrong_key(sandbox_->url(), {}, kClientId, "not-the-key");
  v1::CreateMemberResponse response;
  const grpc::Status status = wrong_key.CreateMember(MxBankRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_UNAUTHENTICATED");
  EXPECT_EQ(ErrorInfoOf(status).metadata().at("http_status"), "401");
}

TEST_F(AgainstSandbox, InvalidRequestNeverReachesMx) {
  const int requests_before = SandboxStat("requests");
  v1::CreateMemberRequest request = MxBankRequest();
  request.set_user_identifier("");
  request.mutable_member()->mutable_credentials(0)->clear_guid();
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_->CreateMember(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "INVALID_REQUEST");
  absl::optional<google::rpc::BadRequest> bad_request =
      FindDetail<google::rpc::BadRequest>(status);
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 2);
  EXPECT_EQ(bad_request->field_violations(0).field(), "user_identifier");
  EXPECT_EQ(bad_request->field_violations(1).field(), "member.credentials[0].guid");
  EXPECT_EQ(SandboxStat("requests"), requests_before) << "MX was called";
}

// ---------------------------------------------------------------------------
// Against a recording upstream.

constexpr char kMemberBody[] =
    R"({"member":{"guid":"MBR-1","user_guid":"USR-1","institution_code":"mxbank",)"
    R"("connection_status":"CONNECTED","is_being_aggregated":false}})";

class AgainstRecorder : public ::testing::Test {
 protected:
  AgainstRecorder() : gateway_(upstream_.base_url(), {"--mx_timeout_ms=3000"}) {}

  RecordingUpstream upstream_;
  Gateway gateway_;
};

TEST_F(AgainstRecorder, SendsExactlyTheRestCallMxExpects) {
  upstream_.Enqueue({202, {{"Content-Type", "application/json"}}, kMemberBody});
  v1::CreateMemberRequest request = MxBankRequest("user 1 ü");
  request.set_callback_payload("aGVsbG8=");
  request.mutable_data_request()->add_products(v1::PRODUCT_TRANSACTIONS);
  v1::CreateMemberResponse response;
  ASSERT_TRUE(gateway_.CreateMember(request, &response).ok());

  const std::vector<RecordedRequest> requests = upstream_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/users/user%201%20%C3%BC/members");
  const std::string body =
      absl::StrCat(R"({"member":{"institution_code":"mxbank","credentials":[{"guid":")",
                   sandbox::kMxBankUsernameGuid, R"(","value":"mxuser"},{"guid":")",
                   sandbox::kMxBankPasswordGuid, R"(","value":")", kPassword,
                   R"("}]},"data_request":{"products":["transactions"]}})");
  EXPECT_THAT(
      requests[0].headers,
      ElementsAre(Pair("Host", absl::StrCat("127.0.0.1:", upstream_.port())),
                  Pair("Accept", "application/json"), Pair("Accept-Version", "v20250224"),
                  Pair("Authorization", "Basic aXQtY2xpZW50LWlkOml0LWFwaS1rZXktN2YzYTlj"),
                  Pair("Content-Type", "application/json"),
                  Pair("User-Agent", "mxgate/" MXGATE_VERSION),
                  Pair("X-Request-Id", MatchesRegex(kUuidV4)),
                  Pair("X-CALLBACK-PAYLOAD", "aGVsbG8="),
                  Pair("Content-Length", absl::StrCat(body.size()))));
  EXPECT_EQ(requests[0].body, body);
  EXPECT_EQ(response.http_status(), 202);
  EXPECT_EQ(response.member().guid(), "MBR-1");
  EXPECT_EQ(response.member().connection_status(), v1::CONNECTION_STATUS_CONNECTED);
}

TEST_F(AgainstRecorder, ForwardsTheCallersRequestIdAndTraceContextToMx) {
  upstream_.Enqueue({202, {{"Content-Type", "application/json"}}, kMemberBody});
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  context.AddMetadata("x-request-id", "it-req-1");
  context.AddMetadata("traceparent", kTraceparent);
  context.AddMetadata("tracestate", "vendor=it");
  context.AddMetadata("x-callback-payload", "aGVsbG8=");
  v1::CreateMemberResponse response;
  ASSERT_TRUE(
      gateway_.stub().CreateMember(&context, MxBankRequest("USR-1"), &response).ok());

  const auto& returned = context.GetServerInitialMetadata();
  ASSERT_EQ(returned.count("x-request-id"), 1u);
  EXPECT_EQ(returned.find("x-request-id")->second, "it-req-1");
  const RecordedRequest sent = upstream_.requests().at(0);
  // The same trace id and parent: mxgate makes no span of its own.
  EXPECT_THAT(sent.headers, ::testing::IsSupersetOf({
                                Pair("X-Request-Id", "it-req-1"),
                                Pair("traceparent", kTraceparent),
                                Pair("tracestate", "vendor=it"),
                                Pair("X-CALLBACK-PAYLOAD", "aGVsbG8="),
                            }));
}

TEST_F(AgainstRecorder, V20111101UsesItsMediaTypeAndNoCallbackHeaderWhenUnset) {
  upstream_.Enqueue(
      {202, {{"Content-Type", "application/vnd.mx.api.v1+json"}}, kMemberBody});
  v1::CreateMemberRequest request = MxBankRequest("USR-1");
  request.set_accept_version("v20111101");
  v1::CreateMemberResponse response;
  ASSERT_TRUE(gateway_.CreateMember(request, &response).ok());
  const RecordedRequest sent = upstream_.requests().at(0);
  EXPECT_THAT(sent.headers,
              ::testing::Contains(Pair("Accept", "application/vnd.mx.api.v1+json")));
  EXPECT_THAT(sent.headers, ::testing::Contains(Pair("Accept-Version", "v20111101")));
  for (const auto& [name, value] : sent.headers) EXPECT_NE(name, "X-CALLBACK-PAYLOAD");
  EXPECT_EQ(response.member().guid(), "MBR-1");
}

struct ErrorRow {
  int http_status;
  grpc::StatusCode code;
  const char* reason;
};
void PrintTo(const ErrorRow& row, std::ostream* os) { *os << "HTTP " << row.http_status; }

class MapsEveryError : public AgainstRecorder,
                       public ::testing::WithParamInterface<ErrorRow> {};

TEST_P(MapsEveryError, ToCodeReasonAndMetadata) {
  const ErrorRow row = GetParam();
  upstream_.Enqueue({row.http_status, {}, R"({"error":{"message":"scripted"}})"});
  // With a member id, so that the table alone decides (a 502 to a create
  // without one is UNKNOWN: mx_client_test).
  v1::CreateMemberRequest request = MxBankRequest();
  request.mutable_member()->set_id("it-member-errors");
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_.CreateMember(request, &response);
  EXPECT_EQ(status.error_code(), row.code);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("MX answered HTTP ", row.http_status, ": scripted"));
  const google::rpc::ErrorInfo info = ErrorInfoOf(status);
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), row.reason);
  EXPECT_EQ(info.metadata().at("http_status"), absl::StrCat(row.http_status));
  EXPECT_EQ(info.metadata().at("mx_error_message"), "scripted");
}

INSTANTIATE_TEST_SUITE_P(
    HttpStatuses, MapsEveryError,
    ::testing::Values(
        ErrorRow{400, grpc::StatusCode::INVALID_ARGUMENT, "UPSTREAM_BAD_REQUEST"},
        ErrorRow{401, grpc::StatusCode::UNAUTHENTICATED, "UPSTREAM_UNAUTHENTICATED"},
        ErrorRow{403, grpc::StatusCode::PERMISSION_DENIED, "UPSTREAM_PERMISSION_DENIED"},
        ErrorRow{404, grpc::StatusCode::NOT_FOUND, "UPSTREAM_NOT_FOUND"},
        ErrorRow{405, grpc::StatusCode::FAILED_PRECONDITION,
                 "UPSTREAM_CONSTRAINT_NOT_MET"},
        ErrorRow{406, grpc::StatusCode::FAILED_PRECONDITION,
                 "UPSTREAM_VERSION_NOT_ACCEPTED"},
        ErrorRow{409, grpc::StatusCode::ALREADY_EXISTS, "UPSTREAM_CONFLICT"},
        ErrorRow{422, grpc::StatusCode::INVALID_ARGUMENT, "UPSTREAM_UNPROCESSABLE"},
        ErrorRow{429, grpc::StatusCode::RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED"},
        ErrorRow{500, grpc::StatusCode::INTERNAL, "UPSTREAM_INTERNAL_ERROR"},
        ErrorRow{502, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_BAD_GATEWAY"},
        ErrorRow{503, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE"},
        ErrorRow{504, grpc::StatusCode::DEADLINE_EXCEEDED, "UPSTREAM_GATEWAY_TIMEOUT"},
        ErrorRow{418, grpc::StatusCode::UNKNOWN, "UPSTREAM_UNEXPECTED_STATUS"}),
    [](const ::testing::TestParamInfo<ErrorRow>& info) {
      return absl::StrCat("Http", info.param.http_status);
    });

TEST_F(AgainstRecorder, RateLimitCarriesRetryInfoFromRetryAfter) {
  upstream_.Enqueue({429, {{"Retry-After", "7"}}, ""});
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_.CreateMember(MxBankRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  absl::optional<google::rpc::RetryInfo> retry =
      FindDetail<google::rpc::RetryInfo>(status);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->retry_delay().seconds(), 7);
  EXPECT_EQ(ErrorInfoOf(status).metadata().count("mx_error_message"), 0u);
}

TEST_F(AgainstRecorder, MalformedSuccessBodyIsInternal) {
  upstream_.Enqueue({202, {}, "<html>not json</html>"});
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_.CreateMember(MxBankRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_RESPONSE_MALFORMED");
  EXPECT_EQ(ErrorInfoOf(status).metadata().at("http_status"), "202");
  EXPECT_THAT(status.error_message(), Not(HasSubstr("html")));
}

TEST_F(AgainstRecorder, NullHeavyBodyIsAccepted) {
  upstream_.Enqueue({202,
                     {},
                     R"({"member":{"guid":"MBR-2","connection_status":null,)"
                     R"("is_being_aggregated":null,"aggregated_at":null,)"
                     R"("most_recent_job_guid":true,"name":null,"extra":{"x":1}}})"});
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_.CreateMember(MxBankRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.member().guid(), "MBR-2");
  EXPECT_EQ(response.member().connection_status(), v1::CONNECTION_STATUS_UNSPECIFIED);
  EXPECT_FALSE(response.member().has_is_being_aggregated());
  EXPECT_FALSE(response.member().has_aggregated_at());
  EXPECT_EQ(response.member().most_recent_job_guid(), "");
}

TEST_F(AgainstRecorder, CallerDeadlineBoundsTheUpstreamCall) {
  upstream_.Enqueue({202, {}, kMemberBody, absl::Seconds(5)});
  v1::CreateMemberResponse response;
  const absl::Time start = absl::Now();
  const grpc::Status status =
      gateway_.CreateMember(MxBankRequest(), &response, absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The gateway gives up on MX too: the upstream sees its connection close.
  const absl::Time give_up = absl::Now() + absl::Seconds(3);
  while (upstream_.aborted() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(upstream_.aborted(), 1);
}

TEST_F(AgainstRecorder, GatewayTimeoutIsUpstreamTimeout) {
  // --mx_timeout_ms=3000 is sooner than the caller's 10 s deadline.
  upstream_.Enqueue({202, {}, kMemberBody, absl::Seconds(6)});
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_.CreateMember(MxBankRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_TIMEOUT");
  EXPECT_EQ(ErrorInfoOf(status).metadata().count("http_status"), 0u);
}

TEST_F(AgainstRecorder, ConnectionLostAfterSendingIsOutcomeUnknown) {
  ScriptedResponse hang_up;
  hang_up.close_without_answer = true;
  upstream_.Enqueue(hang_up);
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_.CreateMember(MxBankRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_OUTCOME_UNKNOWN");
  // libcurl must not have re-sent the POST on its own.
  EXPECT_EQ(upstream_.requests().size(), 1u);
}

TEST_F(AgainstRecorder, LostConnectionWithARequestIdIsResentAndTheMemberReadBack) {
  ScriptedResponse hang_up;
  hang_up.close_without_answer = true;
  upstream_.Enqueue(hang_up);
  upstream_.Enqueue({409, {}, R"({"error":{"message":"Member already exists."}})"});
  upstream_.Enqueue({200, {{"Content-Type", "application/json"}}, kMemberBody});
  v1::CreateMemberRequest request = MxBankRequest("user-1");
  request.set_request_id("it-request-1");
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_.CreateMember(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.outcome(), v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  EXPECT_EQ(response.member().guid(), "MBR-1");
  const std::vector<RecordedRequest> requests = upstream_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].body, requests[0].body);
  EXPECT_THAT(requests[0].body, HasSubstr(R"("id":"it-request-1")"));
  EXPECT_EQ(requests[2].method, "GET");
  EXPECT_EQ(requests[2].target, "/users/user-1/members/it-request-1");
}

TEST_F(AgainstRecorder, LostConnectionWithAMemberIdIsUnavailable) {
  ScriptedResponse hang_up;
  hang_up.close_without_answer = true;
  upstream_.Enqueue(hang_up);
  v1::CreateMemberRequest request = MxBankRequest();
  request.mutable_member()->set_id("it-member-1");
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway_.CreateMember(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_OUTCOME_UNKNOWN");
  // Sent once: without a request_id the gateway does not re-send it.
  EXPECT_EQ(upstream_.requests().size(), 1u);
}

TEST(GatewayUpstream, ClosedPortIsUnavailable) {
  int port;
  {
    RecordingUpstream closed;  // bind a port, then free it
    port = closed.port();
  }
  Gateway gateway(absl::StrCat("http://127.0.0.1:", port));
  v1::CreateMemberResponse response;
  const grpc::Status status = gateway.CreateMember(MxBankRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPSTREAM_UNREACHABLE");
}

// The soft and hard core-file limits of process `pid`, as /proc shows them
// ("0 0", "unlimited unlimited").
std::string CoreLimits(const std::string& pid) {
  std::ifstream limits("/proc/" + pid + "/limits");
  std::string line;
  while (std::getline(limits, line)) {
    if (absl::StartsWith(line, "Max core file size")) {
      const std::vector<std::string> fields = absl::StrSplit(
          line.substr(sizeof("Max core file size") - 1), ' ', absl::SkipWhitespace());
      if (fields.size() >= 2) return absl::StrCat(fields[0], " ", fields[1]);
    }
  }
  return "";
}

// A core file would hold the API key and the credentials of calls in flight.
TEST(GatewayProcess, DumpsNoCoreUnlessAllowed) {
  RecordingUpstream upstream;
  Gateway hardened(upstream.base_url());
  Gateway allowed(upstream.base_url(), {"--allow_core_dumps"});

  EXPECT_EQ(CoreLimits(std::to_string(hardened.process().pid())), "0 0");
  // --allow_core_dumps leaves what it inherited, this test's own limits.
  EXPECT_EQ(CoreLimits(std::to_string(allowed.process().pid())), CoreLimits("self"));
  EXPECT_NE(CoreLimits("self"), "");
}

// ---------------------------------------------------------------------------
// The access log on stderr.

// mxgate's JSON lines in `log`, without its plain start and stop lines.
std::vector<std::string> JsonLines(const std::string& log) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StartsWith(line, "{")) lines.emplace_back(line);
  }
  return lines;
}

// A gateway run whose stderr the test reads: two CreateMember calls for
// "user 1 ü", the first answered 202 by MX, the second 404.
std::string LogOfTwoCalls(const std::vector<std::string>& flags) {
  RecordingUpstream upstream;
  upstream.Enqueue({202, {{"Content-Type", "application/json"}}, kMemberBody});
  upstream.Enqueue({404, {}, R"({"error":{"message":"no such user"}})"});
  std::vector<std::string> argv = {BinPath("mxgate"), "--listen=127.0.0.1:0",
                                   "--mx_base_url=" + upstream.base_url(),
                                   "--drain_timeout_ms=100"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  ChildProcess gateway(argv, {{"MX_CLIENT_ID", kClientId}, {"MX_API_KEY", kApiKey}});
  const std::string address = gateway.WaitForListening();
  EXPECT_FALSE(address.empty()) << gateway.Stderr();
  auto stub = v1::MemberService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  for (const char* request_id : {"it-log-1", "it-log-2"}) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    context.AddMetadata("x-request-id", request_id);
    context.AddMetadata("traceparent", kTraceparent);
    v1::CreateMemberRequest request = MxBankRequest("user 1 ü");
    request.set_callback_payload("aGVsbG8=");
    v1::CreateMemberResponse response;
    stub->CreateMember(&context, request, &response);
  }
  EXPECT_EQ(gateway.Terminate(), 0);
  return gateway.Stderr();
}

TEST(GatewayLog, OneJsonLinePerCallWithTheUserHashedAndNoSecret) {
  const std::string log = LogOfTwoCalls({});
  const std::vector<std::string> lines = JsonLines(log);
  ASSERT_EQ(lines.size(), 2u) << log;
  EXPECT_THAT(lines[0],
              HasSubstr(R"("level":"info","method":"CreateMember","code":"OK",)"));
  EXPECT_THAT(lines[0], HasSubstr(R"("upstream_status":202,"request_id":"it-log-1",)"
                                  R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"));
  EXPECT_THAT(lines[0], HasSubstr(absl::StrCat(R"("user":")", kUser1Hash,
                                               R"(","member":"MBR-1"})")));
  EXPECT_THAT(lines[1], HasSubstr(R"("level":"warning","method":"CreateMember",)"
                                  R"("code":"NOT_FOUND",)"));
  EXPECT_THAT(lines[1], HasSubstr(R"("upstream_status":404,"request_id":"it-log-2",)"));
  EXPECT_THAT(lines[1], HasSubstr(R"("reason":"UPSTREAM_NOT_FOUND"})"));
  for (const std::string secret :
       {"user 1", "user%201", kApiKey, kClientId, kPassword, "mxuser",
        "aGVsbG8=", "aXQtY2xpZW50", "Authorization", "Basic ", "no such user"}) {
    EXPECT_THAT(log, Not(HasSubstr(secret))) << "the log holds " << secret;
  }
}

TEST(GatewayLog, LogLevelWarningKeepsOnlyTheFailedCall) {
  const std::vector<std::string> lines =
      JsonLines(LogOfTwoCalls({"--log_level=warning"}));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(R"("request_id":"it-log-2")"));
  EXPECT_THAT(JsonLines(LogOfTwoCalls({"--log_level=off"})), ::testing::IsEmpty());
}

// ---------------------------------------------------------------------------
// The circuit breaker and readiness.

grpc::health::v1::HealthCheckResponse::ServingStatus Readiness(const Gateway& gateway) {
  auto health = grpc::health::v1::Health::NewStub(gateway.channel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("mx.platform.v1.MemberService");
  grpc::health::v1::HealthCheckResponse response;
  health->Check(&context, request, &response);
  return response.status();
}

TEST(GatewayCircuit, OpensOnFailuresTurnsReadinessOffAndClosesOnAProbe) {
  RecordingUpstream upstream;
  const ScriptedResponse unavailable{503, {}, R"({"error":{"message":"maintenance"}})"};
  upstream.Enqueue(unavailable);
  upstream.Enqueue(unavailable);
  upstream.Enqueue({202, {{"Content-Type", "application/json"}}, kMemberBody});
  Gateway gateway(upstream.base_url(),
                  {"--circuit_failure_threshold=2", "--circuit_open_ms=300"});
  v1::CreateMemberResponse response;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(gateway.CreateMember(MxBankRequest(), &response).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_EQ(Readiness(gateway), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  const grpc::Status refused = gateway.CreateMember(MxBankRequest(), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ErrorInfoOf(refused).reason(), "UPSTREAM_CIRCUIT_OPEN");
  EXPECT_TRUE(FindDetail<google::rpc::RetryInfo>(refused).has_value());
  EXPECT_EQ(upstream.requests().size(), 2u) << "the open circuit let a call through";

  absl::SleepFor(absl::Milliseconds(350));
  EXPECT_TRUE(gateway.CreateMember(MxBankRequest(), &response).ok());
  EXPECT_EQ(upstream.requests().size(), 3u);
  EXPECT_EQ(Readiness(gateway), grpc::health::v1::HealthCheckResponse::SERVING);
}

// ---------------------------------------------------------------------------
// Prometheus metrics on --metrics_listen.

// The samples in `exposition` whose series name is `name` (no comments, no
// other series), in order.
std::vector<std::string> Samples(const std::string& exposition, absl::string_view name) {
  std::vector<std::string> samples;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (absl::StartsWith(line, absl::StrCat(name, "{")) ||
        absl::StartsWith(line, absl::StrCat(name, " "))) {
      samples.emplace_back(line);
    }
  }
  return samples;
}

// The samples of `name` at `url` once they equal `expected`, or after 2 s.
// For mxgate_calls_in_flight: a call counts until gRPC is done with it,
// just after the client has its status.
std::vector<std::string> SamplesOnceEqual(const std::string& url, absl::string_view name,
                                          const std::vector<std::string>& expected) {
  std::vector<std::string> samples;
  for (int i = 0; i < 100; ++i) {
    samples = Samples(::mxgate::testing::HttpGet(url), name);
    if (samples == expected) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return samples;
}

TEST(GatewayMetrics, CountRpcsByCodeUpstreamAnswersByStatusAndConnections) {
  RecordingUpstream upstream;
  upstream.Enqueue({202, {{"Content-Type", "application/json"}}, kMemberBody});
  upstream.Enqueue({404, {}, R"({"error":{"message":"no such user"}})"});
  Gateway gateway(upstream.base_url(), {"--metrics_listen=127.0.0.1:0"});
  ASSERT_FALSE(gateway.metrics_address().empty());
  v1::CreateMemberResponse response;
  EXPECT_TRUE(gateway.CreateMember(MxBankRequest("user-a"), &response).ok());
  EXPECT_EQ(gateway.CreateMember(MxBankRequest("user-b"), &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::CreateMemberRequest invalid = MxBankRequest();
  invalid.clear_user_identifier();
  EXPECT_EQ(gateway.CreateMember(invalid, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  const std::string text =
      ::mxgate::testing::HttpGet("http://" + gateway.metrics_address() + "/metrics");
  constexpr char kCreate[] =
      R"(grpc_method="CreateMember",grpc_service="mx.platform.v1.MemberService",)"
      R"(grpc_type="unary")";
  EXPECT_THAT(
      Samples(text, "grpc_server_handled_total"),
      ::testing::UnorderedElementsAre(
          absl::StrCat(R"(grpc_server_handled_total{grpc_code="OK",)", kCreate, "} 1"),
          absl::StrCat(R"(grpc_server_handled_total{grpc_code="NOT_FOUND",)", kCreate,
                       "} 1"),
          absl::StrCat(R"(grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",)",
                       kCreate, "} 1")));
  EXPECT_THAT(
      Samples(text, "grpc_server_handling_seconds_count"),
      ElementsAre(absl::StrCat("grpc_server_handling_seconds_count{", kCreate, "} 3")));
  // The invalid request never reached MX.
  EXPECT_THAT(
      Samples(text, "mxgate_upstream_responses_total"),
      ::testing::UnorderedElementsAre(
          R"(mxgate_upstream_responses_total{operation="createMember",status="202"} 1)",
          R"(mxgate_upstream_responses_total{operation="createMember",status="404"} 1)"));
  EXPECT_THAT(
      Samples(text, "mxgate_upstream_request_seconds_count"),
      ElementsAre(
          R"(mxgate_upstream_request_seconds_count{operation="createMember"} 2)"));
  EXPECT_THAT(Samples(text, "mxgate_upstream_failures_total"), ::testing::IsEmpty());
  EXPECT_THAT(SamplesOnceEqual("http://" + gateway.metrics_address() + "/metrics",
                               "mxgate_calls_in_flight", {"mxgate_calls_in_flight 0"}),
              ElementsAre("mxgate_calls_in_flight 0"));
  // Both upstream requests went over one kept-alive connection.
  EXPECT_EQ(upstream.connections(), 1);
  EXPECT_THAT(Samples(text, "mxgate_upstream_connections_open"),
              ElementsAre("mxgate_upstream_connections_open 1"));
  EXPECT_THAT(Samples(text, "mxgate_upstream_connections_opened_total"),
              ElementsAre("mxgate_upstream_connections_opened_total 1"));
  for (const std::string secret :
       {"user-a", kApiKey, kClientId, kPassword, "no such user"}) {
    EXPECT_THAT(text, Not(HasSubstr(secret))) << "the metrics hold " << secret;
  }
}

TEST(GatewayMetrics, UpstreamFailuresAreCountedByReasonAndCallsInFlightShown) {
  RecordingUpstream upstream;
  upstream.Enqueue({202, {}, kMemberBody, /*delay=*/absl::Seconds(2)});
  Gateway gateway(upstream.base_url(),
                  {"--metrics_listen=127.0.0.1:0", "--mx_timeout_ms=800"});
  ASSERT_FALSE(gateway.metrics_address().empty());
  const std::string url = "http://" + gateway.metrics_address() + "/metrics";
  // One call waits on MX while the metrics are read; the gateway's upstream
  // timeout then ends it.
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  const v1::CreateMemberRequest request = MxBankRequest();
  v1::CreateMemberResponse response;
  grpc::Status status;
  absl::Notification done;
  gateway.stub().async()->CreateMember(&context, &request, &response,
                                       [&](grpc::Status s) {
                                         status = std::move(s);
                                         done.Notify();
                                       });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_THAT(Samples(::mxgate::testing::HttpGet(url), "mxgate_calls_in_flight"),
              ElementsAre("mxgate_calls_in_flight 1"));
  done.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  const std::string text = ::mxgate::testing::HttpGet(url);
  EXPECT_THAT(Samples(text, "mxgate_upstream_failures_total"),
              ElementsAre(R"(mxgate_upstream_failures_total{operation="createMember",)"
                          R"(reason="UPSTREAM_TIMEOUT"} 1)"));
  EXPECT_THAT(
      SamplesOnceEqual(url, "mxgate_calls_in_flight", {"mxgate_calls_in_flight 0"}),
      ElementsAre("mxgate_calls_in_flight 0"));
}

// ---------------------------------------------------------------------------
// Start-up refusal.

TEST(GatewayFlags, TheReadmeDocumentsEveryFlagAndNoOther) {
  std::set<std::string> in_help;
  FILE* help = popen((BinPath("mxgate") + " --help").c_str(), "r");
  ASSERT_NE(help, nullptr);
  char line[4096];
  while (fgets(line, sizeof(line), help) != nullptr) {
    absl::string_view text(line);
    if (absl::ConsumePrefix(&text, "    --")) {
      in_help.emplace(text.substr(0, text.find_first_of(" (")));
    }
  }
  pclose(help);
  std::ifstream readme(MXGATE_SOURCE_DIR "/README.md");
  std::set<std::string> in_readme;
  std::string row;
  while (std::getline(readme, row)) {
    absl::string_view text(row);
    if (absl::ConsumePrefix(&text, "| `--")) {
      in_readme.emplace(text.substr(0, text.find('`')));
    }
  }
  EXPECT_GT(in_help.size(), 20u);
  EXPECT_EQ(in_readme, in_help);
}

TEST(GatewayStartup, RefusesAPortAnotherGatewayHolds) {
  RecordingUpstream upstream;
  Gateway first(upstream.base_url());
  ASSERT_FALSE(first.address().empty());
  ChildProcess second({BinPath("mxgate"), "--listen=" + first.address(),
                       "--mx_base_url=" + upstream.base_url()},
                      {{"MX_CLIENT_ID", "id"}, {"MX_API_KEY", "key"}});
  EXPECT_EQ(second.WaitForListening(), "");
  EXPECT_EQ(second.WaitForExit(), 2);
  EXPECT_THAT(second.Stderr(), HasSubstr("mxgate: cannot listen on " + first.address()));
}

struct RefusalCase {
  const char* name;
  std::vector<std::string> flags;
  bool with_credentials;
  const char* says;
};
void PrintTo(const RefusalCase& c, std::ostream* os) { *os << c.name; }

class RefusesToStart : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(RefusesToStart, WithExitCodeAndAtMostTwoLines) {
  const RefusalCase& c = GetParam();
  std::vector<std::string> argv = {BinPath("mxgate"), "--listen=127.0.0.1:0"};
  argv.insert(argv.end(), c.flags.begin(), c.flags.end());
  std::map<std::string, std::string> env;
  if (c.with_credentials) env = {{"MX_CLIENT_ID", "id"}, {"MX_API_KEY", "key"}};
  ChildProcess process(argv, env, {"MX_CLIENT_ID", "MX_API_KEY"});
  EXPECT_EQ(process.WaitForListening(), "");
  EXPECT_NE(process.WaitForExit(), 0);
  const std::string err = process.Stderr();
  EXPECT_THAT(err, HasSubstr(c.says));
  EXPECT_LE(std::count(err.begin(), err.end(), '\n'), 2);
}

INSTANTIATE_TEST_SUITE_P(
    BadConfigurations, RefusesToStart,
    ::testing::Values(
        RefusalCase{"NoCredentials", {}, false, "no MX credentials"},
        RefusalCase{"PlainHttpToRemoteHost",
                    {"--mx_base_url=http://api.mx.com"},
                    true,
                    "non-loopback"},
        RefusalCase{
            "UnknownApiVersion", {"--mx_api_version=v1"}, true, "--mx_api_version"},
        RefusalCase{"UnknownLogLevel", {"--log_level=debug"}, true, "--log_level"},
        RefusalCase{"NegativeReplayEntries",
                    {"--request_replay_entries=-1"},
                    true,
                    "--request_replay_entries"},
        RefusalCase{"ZeroReplayTtl",
                    {"--request_replay_ttl_s=0"},
                    true,
                    "--request_replay_ttl_s"},
        RefusalCase{"UnreadableCredentialsFile",
                    {"--mx_credentials_file=/nonexistent/creds"},
                    false,
                    "cannot read"}),
    [](const ::testing::TestParamInfo<RefusalCase>& info) { return info.param.name; });

}  // namespace
}  // namespace mxgate
