#include "service/mx_client.h"

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/member_json_codec.h"
#include "service/metrics.h"
#include "service/mx_transport.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::CreateMemberResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

constexpr HttpTransport::TransferId kTransferId = 42;
constexpr absl::Duration kTimeout = absl::Seconds(15);
// Base64 of "client-id:api-key".
constexpr char kAuthorization[] = "Basic Y2xpZW50LWlkOmFwaS1rZXk=";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// A call's ids with a trace context, as member_service passes them.
CallMetadata TracedMetadata() {
  return MakeCallMetadata("req-1", kTraceparent, "vendor=abc");
}

// Stands in for the network: keeps what Send got, and lets the test run the
// callback as the transport's thread would.
class FakeTransport final : public HttpTransport {
 public:
  TransferId Send(HttpRequest request, Callback done) override {
    sent_.push_back(std::move(request));
    done_ = std::move(done);
    return kTransferId;
  }
  void Cancel(TransferId id) override { cancelled_.push_back(id); }

  void Answer(absl::StatusOr<HttpResponse> answer) {
    ASSERT_TRUE(done_ != nullptr) << "nothing was sent";
    Callback done = std::move(done_);
    done_ = nullptr;
    done(std::move(answer));
  }

  const std::vector<HttpRequest>& sent() const { return sent_; }
  const std::vector<TransferId>& cancelled() const { return cancelled_; }

 private:
  std::vector<HttpRequest> sent_;
  std::vector<TransferId> cancelled_;
  Callback done_;
};

CreateMemberRequest ValidRequest() {
  CreateMemberRequest request;
  request.set_user_identifier("user 1");
  request.mutable_member()->set_institution_code("mxbank");
  auto* credential = request.mutable_member()->add_credentials();
  credential->set_guid("CRD-1");
  credential->set_value("hunter2");
  return request;
}

class RestMxClientTest : public ::testing::Test {
 protected:
  RestMxClient::Options ClientOptions() {
    RestMxClient::Options options;
    options.base_url = "https://mx.example";
    options.client_id = "client-id";
    options.api_key = "api-key";
    options.timeout = kTimeout;
    return options;
  }

  FakeTransport transport_;
  RestMxClient client_{ClientOptions(), transport_};
};

// ---------------------------------------------------- percent-encoding

TEST(PercentEncodePathSegment, EncodesSpacesAndUtf8BytesInUpperCaseHex) {
  EXPECT_EQ(PercentEncodePathSegment("user 1 \xC3\xBC"), "user%201%20%C3%BC");
}

TEST(PercentEncodePathSegment, KeepsTheUnreservedSet) {
  constexpr char kUnreserved[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
  EXPECT_EQ(PercentEncodePathSegment(kUnreserved), kUnreserved);
}

TEST(PercentEncodePathSegment, EncodesEveryOtherByte) {
  const absl::string_view unreserved =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    if (unreserved.find(c) != absl::string_view::npos) continue;
    EXPECT_EQ(PercentEncodePathSegment(std::string(1, c)),
              absl::StrFormat("%%%02X", byte))
        << "byte " << byte;
  }
}

TEST(PercentEncodePathSegment, LeavesEmptyEmpty) {
  EXPECT_EQ(PercentEncodePathSegment(""), "");
}

// ------------------------------------------------------- request building

struct VersionHeadersCase {
  MxApiVersion version;
  const char* accept;
  const char* accept_version;
};
void PrintTo(const VersionHeadersCase& c, std::ostream* os) { *os << c.accept_version; }

class BuildCreateMemberRequestTest
    : public RestMxClientTest,
      public ::testing::WithParamInterface<VersionHeadersCase> {};

TEST_P(BuildCreateMemberRequestTest, PostsTheEncodedBodyWithHeadersInOrder) {
  const CreateMemberRequest request = ValidRequest();
  const HttpRequest http = client_.BuildCreateMemberRequest(
      request, GetParam().version, absl::InfiniteFuture(), TracedMetadata());

  EXPECT_EQ(http.method, "POST");
  EXPECT_EQ(http.url, "https://mx.example/users/user%201/members");
  EXPECT_THAT(http.headers, ElementsAre(Pair("Accept", GetParam().accept),
                                        Pair("Accept-Version", GetParam().accept_version),
                                        Pair("Authorization", kAuthorization),
                                        Pair("Content-Type", "application/json"),
                                        Pair("User-Agent", "mxgate/" MXGATE_VERSION),
                                        Pair("X-Request-Id", "req-1"),
                                        Pair("traceparent", kTraceparent),
                                        Pair("tracestate", "vendor=abc")));
  EXPECT_EQ(http.body, EncodeCreateMemberBody(request, GetParam().version));
}

TEST_P(BuildCreateMemberRequestTest, AddsCallbackPayloadHeaderLastWhenSet) {
  CreateMemberRequest request = ValidRequest();
  request.set_callback_payload("eyJ1c2VyIjoxfQ==");
  const HttpRequest http = client_.BuildCreateMemberRequest(
      request, GetParam().version, absl::InfiniteFuture(), TracedMetadata());

  ASSERT_EQ(http.headers.size(), 9u);
  EXPECT_THAT(http.headers.back(), Pair("X-CALLBACK-PAYLOAD", "eyJ1c2VyIjoxfQ=="));
}

INSTANTIATE_TEST_SUITE_P(
    Versions, BuildCreateMemberRequestTest,
    ::testing::Values(VersionHeadersCase{MxApiVersion::kV20111101,
                                         "application/vnd.mx.api.v1+json", "v20111101"},
                      VersionHeadersCase{MxApiVersion::kV20250224, "application/json",
                                         "v20250224"}),
    [](const ::testing::TestParamInfo<VersionHeadersCase>& info) {
      return std::string(info.param.accept_version);
    });

TEST_F(RestMxClientTest, SendsOnlyTheRequestIdWithoutATraceContext) {
  const HttpRequest http = client_.BuildCreateMemberRequest(
      ValidRequest(), MxApiVersion::kV20250224, absl::InfiniteFuture(),
      MakeCallMetadata("req-2", "", "vendor=abc"));
  EXPECT_THAT(http.headers.back(), Pair("X-Request-Id", "req-2"));
  for (const auto& [name, value] : http.headers) {
    EXPECT_NE(name, "traceparent");
    EXPECT_NE(name, "tracestate");
  }
}

TEST_F(RestMxClientTest, EveryCallSendsTheCallsIds) {
  ::mx::platform::v1::GetMemberRequest request;
  request.set_user_identifier("user 1");
  request.set_member_identifier("MBR-1");
  client_.GetMember(request, MxApiVersion::kV20250224, absl::InfiniteFuture(),
                    TracedMetadata(), [](auto) {});
  ASSERT_EQ(transport_.sent().size(), 1u);
  EXPECT_EQ(transport_.sent()[0].url, "https://mx.example/users/user%201/members/MBR-1");
  EXPECT_THAT(transport_.sent()[0].headers,
              ::testing::IsSupersetOf({Pair("X-Request-Id", "req-1"),
                                       Pair("traceparent", kTraceparent),
                                       Pair("tracestate", "vendor=abc")}));
}

TEST_F(RestMxClientTest, KeepsTheCallersDeadlineWhenSoonerThanTheTimeout) {
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  const HttpRequest http = client_.BuildCreateMemberRequest(
      ValidRequest(), MxApiVersion::kV20250224, deadline, TracedMetadata());
  EXPECT_EQ(http.deadline, deadline);
}

TEST_F(RestMxClientTest, CapsTheDeadlineAtNowPlusTheTimeout) {
  const absl::Time before = absl::Now();
  const HttpRequest http = client_.BuildCreateMemberRequest(
      ValidRequest(), MxApiVersion::kV20250224, absl::InfiniteFuture(), TracedMetadata());
  const absl::Time after = absl::Now();
  EXPECT_GE(http.deadline, before + kTimeout);
  EXPECT_LE(http.deadline, after + kTimeout);
}

// ------------------------------------------------------------ calls

// Runs CreateMember and keeps what its callback got.
class CreateMemberCall {
 public:
  CreateMemberCall(RestMxClient& client, const CreateMemberRequest& request,
                   absl::Time deadline = absl::InfiniteFuture())
      : id_(client.CreateMember(request, MxApiVersion::kV20250224, deadline,
                                TracedMetadata(),
                                [this](absl::StatusOr<CreateMemberResponse> result) {
                                  ++callbacks_;
                                  result_ = std::move(result);
                                })) {}

  MxClient::CallId id() const { return id_; }
  int callbacks() const { return callbacks_; }
  const absl::StatusOr<CreateMemberResponse>& result() const { return result_; }

 private:
  int callbacks_ = 0;
  absl::StatusOr<CreateMemberResponse> result_ =
      absl::UnknownError("the callback did not run");
  const MxClient::CallId id_;
};

TEST_F(RestMxClientTest, SendsTheBuiltRequestAndReturnsTheTransferId) {
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  const CreateMemberCall call(client_, ValidRequest(), deadline);

  EXPECT_EQ(call.id(), kTransferId);
  ASSERT_EQ(transport_.sent().size(), 1u);
  const HttpRequest expected = client_.BuildCreateMemberRequest(
      ValidRequest(), MxApiVersion::kV20250224, deadline, TracedMetadata());
  const HttpRequest& sent = transport_.sent()[0];
  EXPECT_EQ(sent.method, expected.method);
  EXPECT_EQ(sent.url, expected.url);
  EXPECT_EQ(sent.headers, expected.headers);
  EXPECT_EQ(sent.body, expected.body);
  EXPECT_EQ(sent.deadline, deadline);
  EXPECT_EQ(call.callbacks(), 0);
}

TEST_F(RestMxClientTest, MapsA202AnswerToAggregationRequested) {
  const CreateMemberCall call(client_, ValidRequest());
  HttpResponse answer;
  answer.status_code = 202;
  answer.headers = {{"content-type", "application/json"}};
  answer.body = R"({"member":{"guid":"MBR-1","user_guid":"USR-1",)"
                R"("connection_status":"CONNECTED"}})";
  transport_.Answer(answer);

  ASSERT_EQ(call.callbacks(), 1);
  ASSERT_TRUE(call.result().ok()) << call.result().status();
  EXPECT_EQ(call.result()->outcome(),
            ::mx::platform::v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  EXPECT_EQ(call.result()->http_status(), 202);
  EXPECT_EQ(call.result()->member().guid(), "MBR-1");
  EXPECT_EQ(call.result()->member().user_guid(), "USR-1");
  EXPECT_EQ(call.result()->member().connection_status(),
            ::mx::platform::v1::CONNECTION_STATUS_CONNECTED);
}

TEST_F(RestMxClientTest, MapsAnErrorAnswerThroughTheStatusMapping) {
  const CreateMemberCall call(client_, ValidRequest());
  HttpResponse answer;
  answer.status_code = 404;
  answer.body = R"({"error":{"message":"user not found"}})";
  transport_.Answer(answer);

  ASSERT_EQ(call.callbacks(), 1);
  EXPECT_EQ(call.result().status().code(), absl::StatusCode::kNotFound);
  const absl::optional<google::rpc::ErrorInfo> info =
      GetErrorInfo(call.result().status());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("http_status"), "404");
}

TEST_F(RestMxClientTest, PassesATransportErrorThroughUnchanged) {
  const CreateMemberCall call(client_, ValidRequest());
  const absl::Status failure =
      MakeError(absl::StatusCode::kUnavailable, "could not reach MX: refused",
                kReasonUpstreamUnreachable);
  transport_.Answer(failure);

  ASSERT_EQ(call.callbacks(), 1);
  // absl::Status equality includes every payload byte.
  EXPECT_EQ(call.result().status(), failure);
}

// ------------------------------------------------ idempotent creates

constexpr char kRequestId[] = "5f0c2b1e-8a3d-4c6f-9e21-7b4a0d9c3e18";

CreateMemberRequest IdempotentRequest() {
  CreateMemberRequest request = ValidRequest();
  request.set_request_id(kRequestId);
  return request;
}

HttpResponse MemberAnswer(absl::string_view institution_code) {
  return HttpResponse{
      200,
      {},
      absl::StrCat(R"({"member":{"guid":"MBR-1","id":")", kRequestId,
                   R"(","institution_code":")", institution_code, R"("}})")};
}

const HttpResponse kConflict{
    409, {}, R"({"error":{"message":"Member already exists."}})"};

TEST_F(RestMxClientTest, SendsTheRequestIdAsTheMemberIdAndMarksTheCreateIdempotent) {
  const CreateMemberCall call(client_, IdempotentRequest());
  ASSERT_EQ(transport_.sent().size(), 1u);
  const HttpRequest& sent = transport_.sent()[0];
  EXPECT_TRUE(sent.idempotent);
  EXPECT_THAT(sent.body, HasSubstr(absl::StrCat(R"("id":")", kRequestId, R"(")")));
}

TEST_F(RestMxClientTest, KeepsTheMembersOwnIdOverTheRequestId) {
  CreateMemberRequest request = IdempotentRequest();
  request.mutable_member()->set_id("my-member-1");
  const CreateMemberCall call(client_, request);
  EXPECT_THAT(transport_.sent()[0].body, HasSubstr(R"("id":"my-member-1")"));
  EXPECT_THAT(transport_.sent()[0].body, Not(HasSubstr(kRequestId)));
}

TEST_F(RestMxClientTest, WithoutARequestIdTheCreateIsNotIdempotent) {
  const CreateMemberCall call(client_, ValidRequest());
  EXPECT_FALSE(transport_.sent()[0].idempotent);
  EXPECT_THAT(transport_.sent()[0].body, Not(HasSubstr(R"("id")")));
}

TEST_F(RestMxClientTest, AnswersAConflictWithTheMemberReadBack) {
  const CreateMemberCall call(client_, IdempotentRequest());
  transport_.Answer(kConflict);

  ASSERT_EQ(transport_.sent().size(), 2u);
  const HttpRequest& read = transport_.sent()[1];
  EXPECT_EQ(read.method, "GET");
  EXPECT_EQ(read.url,
            absl::StrCat("https://mx.example/users/user%201/members/", kRequestId));
  EXPECT_EQ(read.deadline, transport_.sent()[0].deadline);
  EXPECT_EQ(call.callbacks(), 0);
  transport_.Answer(MemberAnswer("mxbank"));

  ASSERT_EQ(call.callbacks(), 1);
  ASSERT_TRUE(call.result().ok()) << call.result().status();
  EXPECT_EQ(call.result()->outcome(),
            mx::platform::v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  EXPECT_EQ(call.result()->http_status(), 409);
  EXPECT_EQ(call.result()->member().guid(), "MBR-1");
  EXPECT_EQ(call.result()->member().id(), kRequestId);
}

struct ReadBackFailureCase {
  const char* name;
  absl::StatusOr<HttpResponse> read_back;
  absl::StatusCode code;
};
void PrintTo(const ReadBackFailureCase& c, std::ostream* os) { *os << c.name; }

class ReadBackFailure : public RestMxClientTest,
                        public ::testing::WithParamInterface<ReadBackFailureCase> {};

TEST_P(ReadBackFailure, AnswersWithTheConflictOrTheTransportFailure) {
  const CreateMemberCall call(client_, IdempotentRequest());
  transport_.Answer(kConflict);
  transport_.Answer(GetParam().read_back);
  ASSERT_EQ(call.callbacks(), 1);
  EXPECT_EQ(call.result().status().code(), GetParam().code);
}

INSTANTIATE_TEST_SUITE_P(
    Idempotency, ReadBackFailure,
    ::testing::Values(
        // Same id, another institution: another request's member.
        ReadBackFailureCase{"OtherInstitution", MemberAnswer("other-bank"),
                            absl::StatusCode::kAlreadyExists},
        // The id is taken by a member of another user.
        ReadBackFailureCase{"NotFoundForThisUser",
                            HttpResponse{404, {}, R"({"error":{"message":"no"}})"},
                            absl::StatusCode::kAlreadyExists},
        ReadBackFailureCase{"Unreachable",
                            MakeError(absl::StatusCode::kUnavailable, "refused",
                                      kReasonUpstreamUnreachable),
                            absl::StatusCode::kUnavailable}),
    [](const ::testing::TestParamInfo<ReadBackFailureCase>& info) {
      return std::string(info.param.name);
    });

TEST_F(RestMxClientTest, AnUnknownOutcomeIsSafeToRetryWhenTheMemberHasAnId) {
  const absl::Status unknown = MakeError(
      absl::StatusCode::kUnknown, "reset after sending", kReasonUpstreamOutcomeUnknown);
  CreateMemberRequest with_id = ValidRequest();
  with_id.mutable_member()->set_id("my-member-1");
  for (const CreateMemberRequest& request : {with_id, IdempotentRequest()}) {
    const CreateMemberCall call(client_, request);
    transport_.Answer(unknown);
    EXPECT_EQ(call.result().status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(call.result().status().message(),
              "reset after sending; retrying the same request is safe: MX refuses a "
              "second member with the same id");
    EXPECT_EQ(GetErrorInfo(call.result().status())->reason(),
              kReasonUpstreamOutcomeUnknown);
  }
  // Without an id a retry could create a second member: UNKNOWN stays.
  const CreateMemberCall call(client_, ValidRequest());
  transport_.Answer(unknown);
  EXPECT_EQ(call.result().status(), unknown);
}

TEST_F(RestMxClientTest, ABadGatewayIsUnknownWhenARetryCouldCreateASecondMember) {
  const HttpResponse bad_gateway{502, {}, R"({"error":{"message":"proxy"}})"};
  {
    const CreateMemberCall call(client_, ValidRequest());
    transport_.Answer(bad_gateway);
    EXPECT_EQ(call.result().status().code(), absl::StatusCode::kUnknown);
    EXPECT_THAT(call.result().status().message(),
                HasSubstr("; MX may have created the member, and without a member id or "
                          "request_id a retry could create a second"));
    EXPECT_EQ(GetErrorInfo(call.result().status())->reason(), "UPSTREAM_BAD_GATEWAY");
    EXPECT_EQ(GetErrorInfo(call.result().status())->metadata().at("http_status"), "502");
  }
  // With an id a retry is safe: UNAVAILABLE, as the table says.
  CreateMemberRequest with_id = ValidRequest();
  with_id.mutable_member()->set_id("my-member-1");
  const CreateMemberCall call(client_, with_id);
  transport_.Answer(bad_gateway);
  EXPECT_EQ(call.result().status().code(), absl::StatusCode::kUnavailable);
}

TEST(RestMxClientMetrics, RecordsEachAnswerAndFailureUnderMxsOperationId) {
  FakeTransport transport;
  Metrics metrics;
  RestMxClient client({"https://mx.example", "client-id", "api-key", kTimeout}, transport,
                      &metrics);
  const CreateMemberCall created(client, ValidRequest());
  transport.Answer(HttpResponse{202, {}, "{}"});
  mx::platform::v1::GetMemberRequest get;
  get.set_user_identifier("user 1");
  get.set_member_identifier("MBR-1");
  client.GetMember(get, MxApiVersion::kV20250224, absl::InfiniteFuture(), CallMetadata(),
                   [](const absl::StatusOr<mx::platform::v1::GetMemberResponse>&) {});
  transport.Answer(MakeError(absl::StatusCode::kDeadlineExceeded, "MX was too slow",
                             kReasonUpstreamTimeout));

  const std::string text = metrics.Text();
  EXPECT_THAT(text,
              HasSubstr("\nmxgate_upstream_responses_total{operation=\"createMember\","
                        "status=\"202\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nmxgate_upstream_failures_total{operation=\"readMember\","
                              "reason=\"UPSTREAM_TIMEOUT\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nmxgate_upstream_request_seconds_count{operation="
                              "\"createMember\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nmxgate_upstream_request_seconds_count{operation="
                              "\"readMember\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("user")));
}

TEST_F(RestMxClientTest, ForwardsCancelWithTheSameId) {
  const CreateMemberCall call(client_, ValidRequest());
  client_.Cancel(call.id());
  EXPECT_THAT(transport_.cancelled(), ElementsAre(kTransferId));
}

}  // namespace
}  // namespace mxgate
