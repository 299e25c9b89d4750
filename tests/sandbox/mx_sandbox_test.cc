// The sandbox's MX behaviour, through Sandbox::Handle directly on a fake
// clock, and round trips through the real HTTP server (sandbox_server.h).
#include "sandbox/mx_sandbox.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "rapidjson/document.h"
#include "sandbox/sandbox_server.h"

namespace mxgate {
namespace sandbox {

// gtest prints a response as its status and body.
void PrintTo(const SandboxResponse& response, std::ostream* os) {
  *os << "HTTP " << response.status << " " << response.body;
}

namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kV1Accept[] = "application/vnd.mx.api.v1+json";
constexpr char kBaseUrl[] = "http://127.0.0.1:8089";
// 2023-11-14T22:13:20Z, plus a fraction MX would not show.
const absl::Time kNow = absl::FromUnixMillis(1700000000123);
constexpr char kNowText[] = "2023-11-14T22:13:20.000Z";
// The fixture's aggregation step, and kNow plus one step as MX writes it.
constexpr absl::Duration kStep = absl::Seconds(2);
constexpr char kOneStepLaterText[] = "2023-11-14T22:13:22.000Z";
constexpr char kGuidPattern[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

std::string BasicAuth(absl::string_view id, absl::string_view key) {
  return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(id, ":", key)));
}

// A request that passes every header check, as v20250224.
SandboxRequest Request(std::string method, std::string path, std::string body = "") {
  SandboxRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.body = std::move(body);
  request.headers["authorization"] = BasicAuth(kDefaultClientId, kDefaultApiKey);
  request.headers["accept-version"] = "v20250224";
  request.headers["accept"] = "application/json";
  request.headers["content-type"] = "application/json";
  return request;
}

SandboxRequest AsV1(SandboxRequest request) {
  request.headers["accept-version"] = "v20111101";
  request.headers["accept"] = kV1Accept;
  return request;
}

std::string MxBankCredentials(absl::string_view login = "mxuser",
                              absl::string_view password = "password") {
  return absl::StrCat(R"([{"guid":")", kMxBankUsernameGuid, R"(","value":")", login,
                      R"("},{"guid":")", kMxBankPasswordGuid, R"(","value":")", password,
                      R"("}])");
}

// {"member":{"institution_code":"mxbank","credentials":[...]<member_extra>}
//  <top_extra>}
std::string MxBankBody(absl::string_view member_extra = "",
                       absl::string_view top_extra = "") {
  return absl::StrCat(R"({"member":{"institution_code":"mxbank","credentials":)",
                      MxBankCredentials(), member_extra, "}", top_extra, "}");
}

// An mxbank member whose job ends by `password` (and `login`).
std::string MxBankBodyWith(absl::string_view password,
                           absl::string_view login = "mxuser") {
  return absl::StrCat(R"({"member":{"institution_code":"mxbank","credentials":)",
                      MxBankCredentials(login, password), "}}");
}

constexpr char kOauthBody[] =
    R"({"member":{"institution_code":"mx_bank_oauth","is_oauth":true}})";

SandboxRequest CreateMember(std::string body, const std::string& user = kDemoUserId) {
  return Request("POST", absl::StrCat("/users/", user, "/members"), std::move(body));
}

// "/users/<user>/members/<member><suffix>"
std::string MemberPath(absl::string_view member, absl::string_view suffix = "",
                       absl::string_view user = kDemoUserId) {
  return absl::StrCat("/users/", user, "/members/", member, suffix);
}

// resumeAggregation's body with one answer.
std::string ResumeBody(absl::string_view challenge_guid, absl::string_view value) {
  return absl::StrCat(R"({"member":{"challenges":[{"guid":")", challenge_guid,
                      R"(","value":")", value, R"("}]}})");
}

rapidjson::Document Parse(const SandboxResponse& response) {
  rapidjson::Document doc;
  doc.Parse(response.body.c_str());
  EXPECT_FALSE(doc.HasParseError()) << response.body;
  return doc;
}

MATCHER_P2(IsError, status, message,
           absl::StrCat("is HTTP ", status, " with error.message \"", message, "\"")) {
  rapidjson::Document doc;
  doc.Parse(arg.body.c_str());
  return arg.status == status && arg.content_type == "application/json" &&
         !doc.HasParseError() && doc.IsObject() && doc.MemberCount() == 1 &&
         doc.HasMember("error") && doc["error"].IsObject() &&
         doc["error"].MemberCount() == 1 && doc["error"].HasMember("message") &&
         doc["error"]["message"].IsString() &&
         doc["error"]["message"].GetString() == std::string(message);
}

// The fixture's sandbox runs on a fake clock that stands at kNow until a
// test calls Elapse().
class SandboxTest : public ::testing::Test {
 protected:
  static SandboxOptions Options() {
    SandboxOptions options;
    options.base_url = kBaseUrl;
    options.step = kStep;
    options.now = [] { return kNow; };
    return options;
  }

  SandboxOptions FakeClockOptions() {
    SandboxOptions options = Options();
    options.now = [this] { return clock_; };
    return options;
  }

  void Elapse(absl::Duration duration) { clock_ += duration; }

  SandboxResponse Send(const SandboxRequest& request) { return sandbox_.Handle(request); }

  // Creates a member whose job starts (202); returns its guid.
  std::string CreateAggregating(std::string body) {
    SandboxResponse response = Send(CreateMember(std::move(body)));
    EXPECT_EQ(response.status, 202) << response.body;
    return Parse(response)["member"]["guid"].GetString();
  }

  // The readMemberStatus body of a member of demo-user.
  rapidjson::Document StatusOf(absl::string_view member) {
    SandboxResponse response = Send(Request("GET", MemberPath(member, "/status")));
    EXPECT_EQ(response.status, 200) << response.body;
    return Parse(response);
  }

  // The member's connection_status, or "" (and a failure) if unreadable.
  std::string ConnectionStatus(absl::string_view member) {
    rapidjson::Document doc = StatusOf(member);
    if (!doc.IsObject() || !doc.HasMember("member")) return "";
    return doc["member"]["connection_status"].GetString();
  }

  SandboxResponse Resume(absl::string_view member, std::string body) {
    return Send(Request("PUT", MemberPath(member, "/resume"), std::move(body)));
  }

  SandboxResponse Authorize(absl::string_view member_guid) {
    SandboxRequest request;  // a browser's: no MX headers
    request.method = "GET";
    request.path = absl::StrCat("/oauth/authorize/", member_guid);
    return Send(request);
  }

  // The created user's guid.
  std::string CreateUser(absl::string_view id) {
    SandboxResponse response =
        Send(Request("POST", "/users", absl::StrCat(R"({"user":{"id":")", id, R"("}})")));
    EXPECT_EQ(response.status, 200) << response.body;
    return Parse(response)["user"]["guid"].GetString();
  }

  int64_t Stat(const char* name) {
    return Parse(Send(Request("GET", "/_sandbox/stats")))[name].GetInt64();
  }

  absl::Time clock_ = kNow;
  Sandbox sandbox_{FakeClockOptions()};
};

// ---------------------------------------------------------------------------
// Every refusal of Create member, one row each, in the order MX checks.

struct ErrorCase {
  const char* name;
  std::function<SandboxRequest()> request;
  int status;
  const char* message;
};

void PrintTo(const ErrorCase& row, std::ostream* os) { *os << row.name; }

SandboxRequest With(SandboxRequest request, const std::string& header,
                    const std::string& value) {
  request.headers[header] = value;
  return request;
}

SandboxRequest Without(SandboxRequest request, const std::string& header) {
  request.headers.erase(header);
  return request;
}

const ErrorCase kErrorCases[] = {
    // 401
    {"NoAuthorization",
     [] { return Without(CreateMember(MxBankBody()), "authorization"); }, 401,
     "Missing HTTP Basic credentials (client_id:api_key)."},
    {"BearerInsteadOfBasic",
     [] { return With(CreateMember(MxBankBody()), "authorization", "Bearer abc"); }, 401,
     "Missing HTTP Basic credentials (client_id:api_key)."},
    {"BasicNotBase64",
     [] { return With(CreateMember(MxBankBody()), "authorization", "Basic %%%"); }, 401,
     "Malformed HTTP Basic credentials."},
    {"WrongApiKey",
     [] {
       return With(CreateMember(MxBankBody()), "authorization",
                   BasicAuth(kDefaultClientId, "wrong"));
     },
     401, "Invalid client_id or api_key."},
    {"WrongClientId",
     [] {
       return With(CreateMember(MxBankBody()), "authorization",
                   BasicAuth("someone", kDefaultApiKey));
     },
     401, "Invalid client_id or api_key."},
    {"AuthCheckedBeforeVersion",
     [] {
       return Without(Without(CreateMember("x", "nobody"), "authorization"),
                      "accept-version");
     },
     401, "Missing HTTP Basic credentials (client_id:api_key)."},
    // 406
    {"NoAcceptVersion",
     [] { return Without(CreateMember(MxBankBody()), "accept-version"); }, 406,
     "Missing Accept-Version header: use v20250224 or v20111101."},
    {"UnknownAcceptVersion",
     [] { return With(CreateMember(MxBankBody()), "accept-version", "v20240101"); }, 406,
     "Unsupported Accept-Version: use v20250224 or v20111101."},
    {"V1WithJsonAccept",
     [] {
       return With(AsV1(CreateMember(MxBankBody(), kDemoUserGuid)), "accept",
                   "application/json");
     },
     406, "v20111101 requires Accept: application/vnd.mx.api.v1+json."},
    {"V1WithoutAccept",
     [] { return Without(AsV1(CreateMember(MxBankBody(), kDemoUserGuid)), "accept"); },
     406, "v20111101 requires Accept: application/vnd.mx.api.v1+json."},
    {"V2WithV1Accept",
     [] { return With(CreateMember(MxBankBody()), "accept", kV1Accept); }, 406,
     "v20250224 requires Accept: application/json."},
    {"VersionCheckedBeforeUser",
     [] { return Without(CreateMember("x", "nobody"), "accept-version"); }, 406,
     "Missing Accept-Version header: use v20250224 or v20111101."},
    // 404 user
    {"UnknownUser", [] { return CreateMember(MxBankBody(), "nobody"); }, 404,
     "User not found."},
    {"V1UserById", [] { return AsV1(CreateMember(MxBankBody())); }, 404,
     "User not found."},
    {"UserCheckedBeforeBody", [] { return CreateMember("not json", "nobody"); }, 404,
     "User not found."},
    // 400 body
    {"BodyNotJson", [] { return CreateMember("not json"); }, 400,
     "Request body must be a JSON object."},
    {"BodyNotObject", [] { return CreateMember("[]"); }, 400,
     "Request body must be a JSON object."},
    {"EmptyBody", [] { return CreateMember(""); }, 400,
     "Request body must be a JSON object."},
    {"NoMemberObject", [] { return CreateMember(R"({"user":{}})"); }, 400,
     "Request body needs a member object."},
    {"MemberNotObject", [] { return CreateMember(R"({"member":"mxbank"})"); }, 400,
     "Request body needs a member object."},
    {"NoInstitutionCode", [] { return CreateMember(R"({"member":{"id":"m"}})"); }, 400,
     "member.institution_code is required."},
    {"InstitutionCodeNotString",
     [] { return CreateMember(R"({"member":{"institution_code":7}})"); }, 400,
     "member.institution_code must be a string."},
    {"IsOauthNotBoolean", [] { return CreateMember(MxBankBody(R"(,"is_oauth":"yes")")); },
     400, "member.is_oauth must be a boolean."},
    {"CredentialsNotArray",
     [] {
       return CreateMember(
           R"({"member":{"institution_code":"mxbank","credentials":{}}})");
     },
     400, "member.credentials must be an array."},
    {"CredentialNotObject",
     [] {
       return CreateMember(
           R"({"member":{"institution_code":"mxbank","credentials":["x"]}})");
     },
     400, "member.credentials[] must be objects of string guid and value."},
    {"EmptyMemberId", [] { return CreateMember(MxBankBody(R"(,"id":"")")); }, 400,
     "member.id must not be empty."},
    {"UnknownUseCase",
     [] { return CreateMember(MxBankBody(R"(,"use_cases":["CRYPTO"])")); }, 400,
     "member.use_cases has an unknown value."},
    {"UnknownProduct",
     [] {
       return CreateMember(MxBankBody("", R"(,"data_request":{"products":["loans"]})"));
     },
     400, "data_request.products has an unknown value."},
    {"DataRequestWithoutProducts",
     [] { return CreateMember(MxBankBody("", R"(,"data_request":{})")); }, 400,
     "data_request must be an object with a products array."},
    {"BodyCheckedBeforeInstitution",
     [] {
       return CreateMember(R"({"member":{"institution_code":"nobank","is_oauth":1}})");
     },
     400, "member.is_oauth must be a boolean."},
    // 404 institution
    {"UnknownInstitution",
     [] { return CreateMember(R"({"member":{"institution_code":"nobank"}})"); }, 404,
     "Institution not found."},
    {"InstitutionByGuidNotCode",
     [] {
       return CreateMember(
           absl::StrCat(R"({"member":{"institution_code":")", kMxBankGuid, R"("}})"));
     },
     404, "Institution not found."},
    // 422 credentials
    {"NoCredentials",
     [] { return CreateMember(R"({"member":{"institution_code":"mxbank"}})"); }, 422,
     "Missing credential LOGIN (CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d) for "
     "mxbank."},
    {"MissingPassword",
     [] {
       return CreateMember(absl::StrCat(
           R"({"member":{"institution_code":"mxbank","credentials":[{"guid":")",
           kMxBankUsernameGuid, R"(","value":"mxuser"}]}})"));
     },
     422,
     "Missing credential PASSWORD (CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e) "
     "for mxbank."},
    {"ForeignCredentialGuid",
     [] {
       return CreateMember(R"({"member":{"institution_code":"mxbank","credentials":)"
                           R"([{"guid":"CRD-other","value":"v"}]}})");
     },
     422, "Credential guid \"CRD-other\" is not one of mxbank's credentials."},
    {"CredentialTwice",
     [] {
       return CreateMember(absl::StrCat(
           R"({"member":{"institution_code":"mxbank","credentials":[{"guid":")",
           kMxBankUsernameGuid, R"(","value":"a"},{"guid":")", kMxBankUsernameGuid,
           R"(","value":"b"}]}})"));
     },
     422, "Credential LOGIN is given more than once."},
    {"EmptyCredentialValue",
     [] {
       return CreateMember(absl::StrCat(
           R"({"member":{"institution_code":"mxbank","credentials":[{"guid":")",
           kMxBankUsernameGuid, R"(","value":""},{"guid":")", kMxBankPasswordGuid,
           R"(","value":"p"}]}})"));
     },
     422, "Credential LOGIN is empty."},
    // 422 OAuth
    {"OauthInstitutionWithoutIsOauth",
     [] { return CreateMember(R"({"member":{"institution_code":"mx_bank_oauth"}})"); },
     422, "mx_bank_oauth connects through OAuth only: set member.is_oauth to true."},
    {"OauthMemberWithCredentials",
     [] {
       return CreateMember(absl::StrCat(
           R"({"member":{"institution_code":"mx_bank_oauth","is_oauth":true,)",
           R"("credentials":)", MxBankCredentials(), "}}"));
     },
     422, "An OAuth member takes no credentials."},
    {"MxBankWithIsOauth", [] { return CreateMember(MxBankBody(R"(,"is_oauth":true)")); },
     422, "mxbank does not support OAuth."},
    // 400 X-CALLBACK-PAYLOAD
    {"CallbackPayloadNotBase64",
     [] { return With(CreateMember(MxBankBody()), "x-callback-payload", "not base64!"); },
     400, "X-CALLBACK-PAYLOAD must be base64."},
    {"CallbackPayloadEmpty",
     [] { return With(CreateMember(MxBankBody()), "x-callback-payload", ""); }, 400,
     "X-CALLBACK-PAYLOAD must be base64."},
    {"CallbackPayloadBadLength",
     [] { return With(CreateMember(MxBankBody()), "x-callback-payload", "abcde"); }, 400,
     "X-CALLBACK-PAYLOAD must be base64."},
    {"CallbackPayloadTooLong",
     [] {
       return With(CreateMember(MxBankBody()), "x-callback-payload",
                   std::string(1028, 'A'));
     },
     400, "X-CALLBACK-PAYLOAD must be at most 1024 characters."},
};

class CreateMemberErrorTest : public SandboxTest,
                              public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(CreateMemberErrorTest, AnswersStatusAndMessageAndCreatesNothing) {
  EXPECT_THAT(Send(GetParam().request()), IsError(GetParam().status, GetParam().message));
  EXPECT_EQ(Stat("members_created"), 0);
}

INSTANTIATE_TEST_SUITE_P(Rows, CreateMemberErrorTest, ::testing::ValuesIn(kErrorCases),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(SandboxTest, DuplicateMemberIdIs409AcrossUsers) {
  const std::string other = CreateUser("other-user");
  ASSERT_EQ(Send(CreateMember(MxBankBody(R"(,"id":"m-1")"))).status, 202);
  EXPECT_THAT(Send(CreateMember(MxBankBody(R"(,"id":"m-1")"), other)),
              IsError(409, "A member with this id already exists."));
  EXPECT_EQ(Send(AsV1(CreateMember(kOauthBody, other))).status, 200);
  EXPECT_EQ(Stat("members_created"), 2);
}

TEST_F(SandboxTest, IdConflictCheckedBeforeCallbackPayload) {
  ASSERT_EQ(Send(CreateMember(MxBankBody(R"(,"id":"m-1")"))).status, 202);
  EXPECT_THAT(
      Send(With(CreateMember(MxBankBody(R"(,"id":"m-1")")), "x-callback-payload", "!!")),
      IsError(409, "A member with this id already exists."));
}

TEST_F(SandboxTest, CustomCredentialsReplaceTheDefaults) {
  SandboxOptions options = Options();
  options.client_id = "cid";
  options.api_key = "key";
  Sandbox sandbox(options);
  EXPECT_THAT(sandbox.Handle(CreateMember(MxBankBody())),
              IsError(401, "Invalid client_id or api_key."));
  EXPECT_EQ(sandbox
                .Handle(With(CreateMember(MxBankBody()), "authorization",
                             BasicAuth("cid", "key")))
                .status,
            202);
}

TEST_F(SandboxTest, ErrorMessagesNeverEchoCredentialValues) {
  SandboxResponse response = Send(With(CreateMember(MxBankBody()), "authorization",
                                       BasicAuth("leaky-id", "leaky-key")));
  EXPECT_THAT(response.body, Not(HasSubstr("leaky")));
  response = Send(CreateMember(
      absl::StrCat(R"({"member":{"institution_code":"mxbank","credentials":[{"guid":")",
                   kMxBankUsernameGuid, R"(","value":"secret-user"}]}})")));
  EXPECT_EQ(response.status, 422);
  EXPECT_THAT(response.body, Not(HasSubstr("secret-user")));
}

// ---------------------------------------------------------------------------
// Successful creations.

TEST_F(SandboxTest, AggregatingMemberIs202Created) {
  SandboxResponse response = Send(
      CreateMember(MxBankBody(R"(,"id":"m-1","metadata":"note","use_cases":["PFM"])")));
  ASSERT_EQ(response.status, 202) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  rapidjson::Document doc = Parse(response);
  const rapidjson::Value& m = doc["member"];
  EXPECT_THAT(m["guid"].GetString(), MatchesRegex(absl::StrCat("MBR-", kGuidPattern)));
  EXPECT_STREQ(m["id"].GetString(), "m-1");
  EXPECT_STREQ(m["user_guid"].GetString(), kDemoUserGuid);
  EXPECT_STREQ(m["user_id"].GetString(), kDemoUserId);
  EXPECT_STREQ(m["institution_code"].GetString(), kMxBankCode);
  EXPECT_STREQ(m["institution_guid"].GetString(), kMxBankGuid);
  EXPECT_STREQ(m["name"].GetString(), "MX Bank");
  EXPECT_STREQ(m["metadata"].GetString(), "note");
  EXPECT_STREQ(m["connection_status"].GetString(), "CREATED");
  EXPECT_TRUE(m["is_being_aggregated"].GetBool());
  EXPECT_STREQ(m["aggregated_at"].GetString(), kNowText);
  EXPECT_THAT(m["most_recent_job_guid"].GetString(),
              MatchesRegex(absl::StrCat("JOB-", kGuidPattern)));
  EXPECT_TRUE(m["successfully_aggregated_at"].IsNull());
  EXPECT_TRUE(m["oauth_window_uri"].IsNull());
  EXPECT_FALSE(m["is_oauth"].GetBool());
  EXPECT_EQ(m["use_cases"].Size(), 1u);
  EXPECT_EQ(Stat("members_created"), 1);
}

TEST_F(SandboxTest, EveryMemberResponsePropertyIsPresentInBothVersions) {
  const std::vector<std::string> kProperties = {"aggregated_at",
                                                "background_aggregation_is_disabled",
                                                "connection_status",
                                                "connection_status_message",
                                                "guid",
                                                "id",
                                                "institution_code",
                                                "institution_guid",
                                                "is_being_aggregated",
                                                "is_managed_by_user",
                                                "is_manual",
                                                "is_oauth",
                                                "metadata",
                                                "most_recent_job_detail_code",
                                                "most_recent_job_detail_text",
                                                "most_recent_job_guid",
                                                "name",
                                                "needs_updated_credentials",
                                                "oauth_window_uri",
                                                "successfully_aggregated_at",
                                                "use_cases",
                                                "user_guid",
                                                "user_id"};
  for (const SandboxRequest& request :
       {CreateMember(MxBankBody()), AsV1(CreateMember(MxBankBody(), kDemoUserGuid))}) {
    rapidjson::Document doc = Parse(Send(request));
    std::vector<std::string> keys;
    for (const auto& member : doc["member"].GetObject()) {
      keys.emplace_back(member.name.GetString());
    }
    EXPECT_EQ(keys, kProperties);
  }
}

TEST_F(SandboxTest, SupportedProductsAre202) {
  SandboxResponse response = Send(CreateMember(
      MxBankBody("", R"(,"data_request":{"products":["transactions","statements"]})")));
  EXPECT_EQ(response.status, 202) << response.body;
}

TEST_F(SandboxTest, UnsupportedProductIs201CreatedWithoutJob) {
  SandboxResponse response = Send(CreateMember(
      MxBankBody("", R"(,"data_request":{"products":["transactions","investments"]})")));
  ASSERT_EQ(response.status, 201) << response.body;
  rapidjson::Document doc = Parse(response);
  const rapidjson::Value& m = doc["member"];
  EXPECT_STREQ(m["connection_status"].GetString(), "CREATED");
  EXPECT_FALSE(m["is_being_aggregated"].GetBool());
  EXPECT_TRUE(m["most_recent_job_guid"].IsNull());
  EXPECT_TRUE(m["aggregated_at"].IsNull());
  EXPECT_EQ(Stat("members_created"), 1);
}

TEST_F(SandboxTest, OauthMemberIs200PendingWithWindowUri) {
  for (const SandboxRequest& request :
       {CreateMember(kOauthBody), AsV1(CreateMember(kOauthBody, kDemoUserGuid)),
        CreateMember(absl::StrCat(
            R"({"member":{"institution_code":"mx_bank_oauth","is_oauth":true,)",
            R"("credentials":[]},"data_request":{"products":["rewards"]}})"))}) {
    SandboxResponse response = Send(request);
    ASSERT_EQ(response.status, 200) << response.body;
    rapidjson::Document doc = Parse(response);
    const rapidjson::Value& m = doc["member"];
    EXPECT_STREQ(m["connection_status"].GetString(), "PENDING");
    EXPECT_TRUE(m["is_oauth"].GetBool());
    EXPECT_FALSE(m["is_being_aggregated"].GetBool());
    EXPECT_TRUE(m["most_recent_job_guid"].IsNull());
    EXPECT_TRUE(m["aggregated_at"].IsNull());
    EXPECT_STREQ(m["institution_guid"].GetString(), kMxBankOauthGuid);
    EXPECT_STREQ(m["name"].GetString(), "MX Bank (OAuth)");
    EXPECT_EQ(m["oauth_window_uri"].GetString(),
              absl::StrCat(kBaseUrl, "/oauth/authorize/", m["guid"].GetString()));
  }
}

TEST_F(SandboxTest, V1SkipAggregationIs200Created) {
  SandboxResponse response =
      Send(AsV1(CreateMember(MxBankBody(R"(,"skip_aggregation":true)"), kDemoUserGuid)));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, kV1Accept);
  rapidjson::Document doc = Parse(response);
  EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "CREATED");
  EXPECT_FALSE(doc["member"]["is_being_aggregated"].GetBool());
  EXPECT_TRUE(doc["member"]["most_recent_job_guid"].IsNull());
}

TEST_F(SandboxTest, V1AggregatingMemberIs202WithV1MediaType) {
  SandboxResponse response =
      Send(AsV1(CreateMember(MxBankBody(R"(,"skip_aggregation":false)"), kDemoUserGuid)));
  ASSERT_EQ(response.status, 202) << response.body;
  EXPECT_EQ(response.content_type, kV1Accept);
  // A string, as MX sends it, although v20111101's spec says boolean.
  EXPECT_TRUE(Parse(response)["member"]["most_recent_job_guid"].IsString());
}

TEST_F(SandboxTest, KeysOfTheOtherVersionAreIgnored) {
  // skip_aggregation is gone from v20250224; data_request is not in v20111101.
  EXPECT_EQ(Send(CreateMember(MxBankBody(R"(,"skip_aggregation":true)"))).status, 202);
  EXPECT_EQ(Send(AsV1(CreateMember(
                     MxBankBody("", R"(,"data_request":{"products":["rewards"]})"),
                     kDemoUserGuid)))
                .status,
            202);
}

TEST_F(SandboxTest, UnknownKeysAreIgnored) {
  EXPECT_EQ(Send(CreateMember(
                     MxBankBody(R"(,"colour":"red")", R"(,"oauth":{"x":1},"extra":[1])")))
                .status,
            202);
}

TEST_F(SandboxTest, AcceptsLenientAcceptHeadersForV20250224) {
  for (const char* accept : {"*/*", "application/*", "application/json; charset=utf-8",
                             "text/html, application/json;q=0.9"}) {
    EXPECT_EQ(Send(With(CreateMember(MxBankBody()), "accept", accept)).status, 202)
        << accept;
  }
  EXPECT_EQ(Send(Without(CreateMember(MxBankBody()), "accept")).status, 202);
}

TEST_F(SandboxTest, AcceptsBase64CallbackPayloads) {
  for (const char* payload :
       {"813e50bd-4a7e-4517-b6bb-9eef65a68cbd",  // the spec's example
        "dHJhY2U6MTIz", "dHJhY2U6MQ==", "dHJhY2U6MQ", "a_b-"}) {
    EXPECT_EQ(
        Send(With(CreateMember(MxBankBody()), "x-callback-payload", payload)).status, 202)
        << payload;
  }
  EXPECT_EQ(
      Send(With(CreateMember(MxBankBody()), "x-callback-payload", std::string(1024, 'A')))
          .status,
      202);
}

// ---------------------------------------------------------------------------
// Users, reading members, stats, routing.

TEST_F(SandboxTest, CreatesUsersInBothVersions) {
  SandboxResponse response =
      Send(Request("POST", "/users",
                   R"({"user":{"id":"u-1","email":"u@example.com","metadata":"m"}})"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  rapidjson::Document doc = Parse(response);
  EXPECT_THAT(doc["user"]["guid"].GetString(),
              MatchesRegex(absl::StrCat("USR-", kGuidPattern)));
  EXPECT_STREQ(doc["user"]["id"].GetString(), "u-1");
  EXPECT_STREQ(doc["user"]["email"].GetString(), "u@example.com");
  EXPECT_FALSE(doc["user"]["is_disabled"].GetBool());

  response = Send(AsV1(Request("POST", "/users", R"({"user":{"email":"e"}})")));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, kV1Accept);
  EXPECT_TRUE(Parse(response)["user"]["id"].IsNull());
}

TEST_F(SandboxTest, NewUserIsAddressedByIdOrGuid) {
  const std::string guid = CreateUser("u-1");
  SandboxResponse response = Send(CreateMember(MxBankBody(), "u-1"));
  ASSERT_EQ(response.status, 202);
  EXPECT_EQ(Parse(response)["member"]["user_guid"].GetString(), guid);
  EXPECT_EQ(Send(AsV1(CreateMember(MxBankBody(), guid))).status, 202);
  EXPECT_THAT(Send(AsV1(CreateMember(MxBankBody(), "u-1"))),
              IsError(404, "User not found."));
}

TEST_F(SandboxTest, CreateUserRefusals) {
  CreateUser("u-1");
  EXPECT_THAT(Send(Request("POST", "/users", R"({"user":{"id":"u-1"}})")),
              IsError(409, "A user with this id already exists."));
  EXPECT_THAT(Send(Request("POST", "/users", R"({"user":{"id":"demo-user"}})")),
              IsError(409, "A user with this id already exists."));
  EXPECT_THAT(Send(Request("POST", "/users", R"({"user":{}})")),
              IsError(400, "The user object cannot be empty."));
  EXPECT_THAT(Send(Request("POST", "/users", "{}")),
              IsError(400, "The user object cannot be empty."));
  EXPECT_THAT(Send(Request("POST", "/users", R"({"user":{"is_disabled":0}})")),
              IsError(400, "user.is_disabled must be a boolean."));
  EXPECT_THAT(
      Send(Without(Request("POST", "/users", R"({"user":{"id":"x"}})"), "authorization")),
      IsError(401, "Missing HTTP Basic credentials (client_id:api_key)."));
}

TEST_F(SandboxTest, ReadsMemberByGuidOrIdAsCreated) {
  const std::string other = CreateUser("other");
  SandboxResponse created = Send(CreateMember(MxBankBody(R"(,"id":"m-1")")));
  const std::string guid = Parse(created)["member"]["guid"].GetString();

  for (const std::string& path :
       {absl::StrCat("/users/demo-user/members/", guid),
        std::string("/users/demo-user/members/m-1"),
        absl::StrCat("/users/", kDemoUserGuid, "/members/m-1")}) {
    SandboxResponse read = Send(Request("GET", path));
    EXPECT_EQ(read.status, 200) << path;
    EXPECT_EQ(read.body, created.body) << path;
  }
  SandboxResponse v1 = Send(
      AsV1(Request("GET", absl::StrCat("/users/", kDemoUserGuid, "/members/", guid))));
  EXPECT_EQ(v1.status, 200);
  EXPECT_EQ(v1.content_type, kV1Accept);

  EXPECT_THAT(
      Send(AsV1(Request("GET", absl::StrCat("/users/", kDemoUserGuid, "/members/m-1")))),
      IsError(404, "Member not found."));
  EXPECT_THAT(Send(Request("GET", absl::StrCat("/users/", other, "/members/m-1"))),
              IsError(404, "Member not found."));
  EXPECT_THAT(Send(Request("GET", "/users/demo-user/members/MBR-none")),
              IsError(404, "Member not found."));
  EXPECT_THAT(Send(Request("GET", "/users/nobody/members/m-1")),
              IsError(404, "User not found."));
}

TEST_F(SandboxTest, StatsCountRequestsAndCreations) {
  Send(CreateMember(MxBankBody()));
  Send(CreateMember(kOauthBody));
  Send(CreateMember("not json"));
  Send(Request("GET", "/nowhere"));
  Send(Without(Request("GET", "/_sandbox/stats"), "authorization"));
  SandboxResponse stats = Send(Request("GET", "/_sandbox/stats"));
  EXPECT_EQ(stats.status, 200);
  EXPECT_EQ(stats.body, R"({"members_created":2,"members_deleted":0,"requests":4,)"
                        R"("status_requests":0})");
}

TEST_F(SandboxTest, UnknownRoutesAre404) {
  EXPECT_THAT(Send(Request("GET", "/nowhere")), IsError(404, "Not found."));
  EXPECT_THAT(Send(Request("GET", "/users/demo-user/members")),
              IsError(404, "Not found."));
  EXPECT_THAT(Send(Request("DELETE", "/users")), IsError(404, "Not found."));
  EXPECT_THAT(Send(Request("POST", "/users//members")), IsError(404, "Not found."));
  EXPECT_THAT(Send(Without(Request("GET", "/nowhere"), "authorization")),
              IsError(404, "Not found."));
}

// ---------------------------------------------------------------------------
// GET /institutions/{institution}/credentials

TEST_F(SandboxTest, ListsMxBankCredentials) {
  SandboxResponse response = Send(Request("GET", "/institutions/mxbank/credentials"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(
      response.body,
      absl::StrCat(R"({"credentials":[)",
                   R"({"display_order":0,"field_name":"LOGIN","field_type":"TEXT",)",
                   R"("guid":")", kMxBankUsernameGuid,
                   R"(","label":"Username","type":"TEXT"},)",
                   R"({"display_order":1,"field_name":"PASSWORD",)",
                   R"("field_type":"PASSWORD","guid":")", kMxBankPasswordGuid,
                   R"(","label":"Password","type":"PASSWORD"}],)",
                   R"("pagination":{"current_page":1,"per_page":25,)",
                   R"("total_entries":2,"total_pages":1}})"));
}

TEST_F(SandboxTest, CredentialsByGuidOnlyInV20250224) {
  const std::string path = absl::StrCat("/institutions/", kMxBankGuid, "/credentials");
  EXPECT_EQ(Send(Request("GET", path)).status, 200);
  EXPECT_THAT(Send(AsV1(Request("GET", path))), IsError(404, "Institution not found."));
  SandboxResponse v1 = Send(AsV1(Request("GET", "/institutions/mxbank/credentials")));
  EXPECT_EQ(v1.status, 200);
  EXPECT_EQ(v1.content_type, kV1Accept);
}

TEST_F(SandboxTest, UnknownInstitutionCredentialsAre404) {
  EXPECT_THAT(Send(Request("GET", "/institutions/nobank/credentials")),
              IsError(404, "Institution not found."));
  EXPECT_THAT(
      Send(Without(Request("GET", "/institutions/nobank/credentials"), "accept-version")),
      IsError(406,
              "Missing Accept-Version header: use v20250224 or "
              "v20111101."));
}

TEST_F(SandboxTest, OauthInstitutionHasNoCredentials) {
  rapidjson::Document doc =
      Parse(Send(Request("GET", "/institutions/mx_bank_oauth/credentials")));
  EXPECT_EQ(doc["credentials"].Size(), 0u);
  EXPECT_EQ(doc["pagination"]["total_entries"].GetInt(), 0);
  EXPECT_EQ(doc["pagination"]["total_pages"].GetInt(), 0);
}

TEST_F(SandboxTest, CredentialsHonourPagination) {
  struct Row {
    const char* query;
    int current_page;
    int per_page;
    int total_pages;
    std::vector<std::string> field_names;
  };
  const Row kRows[] = {
      {"page=1&records_per_page=1", 1, 1, 2, {"LOGIN"}},
      {"page=2&records_per_page=1", 2, 1, 2, {"PASSWORD"}},
      {"page=3&records_per_page=1", 3, 1, 2, {}},
      {"page=2", 2, 25, 1, {}},
      {"records_per_page=1000", 1, 1000, 1, {"LOGIN", "PASSWORD"}},
      // Above 1000 falls back to the default 25 (spec); junk is ignored.
      {"records_per_page=1001", 1, 25, 1, {"LOGIN", "PASSWORD"}},
      {"page=0&records_per_page=x", 1, 25, 1, {"LOGIN", "PASSWORD"}},
  };
  for (const Row& row : kRows) {
    SandboxRequest request = Request("GET", "/institutions/mxbank/credentials");
    for (absl::string_view pair : absl::StrSplit(row.query, '&')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(pair, '=');
      request.query[kv.first] = kv.second;
    }
    rapidjson::Document doc = Parse(Send(request));
    std::vector<std::string> names;
    for (const auto& credential : doc["credentials"].GetArray()) {
      names.emplace_back(credential["field_name"].GetString());
    }
    EXPECT_EQ(names, row.field_names) << row.query;
    EXPECT_EQ(doc["pagination"]["current_page"].GetInt(), row.current_page) << row.query;
    EXPECT_EQ(doc["pagination"]["per_page"].GetInt(), row.per_page) << row.query;
    EXPECT_EQ(doc["pagination"]["total_entries"].GetInt(), 2) << row.query;
    EXPECT_EQ(doc["pagination"]["total_pages"].GetInt(), row.total_pages) << row.query;
  }
}

// ---------------------------------------------------------------------------
// Aggregation: one state per step, worked out from the fake clock.

TEST(SandboxOptions, StepDefaultsTo1500Ms) {
  EXPECT_EQ(SandboxOptions().step, absl::Milliseconds(1500));
  EXPECT_EQ(ServerOptions().step, absl::Milliseconds(1500));
}

TEST_F(SandboxTest, PlainPasswordConnectsExactlyOneStepLater) {
  const std::string guid = CreateAggregating(MxBankBodyWith("password"));
  rapidjson::Document doc = StatusOf(guid);
  EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "CREATED");
  EXPECT_TRUE(doc["member"]["is_being_aggregated"].GetBool());
  EXPECT_EQ(doc["member"]["challenges"].Size(), 0u);

  Elapse(kStep - absl::Milliseconds(1));
  EXPECT_EQ(ConnectionStatus(guid), "CREATED");
  Elapse(absl::Milliseconds(1));
  doc = StatusOf(guid);
  const rapidjson::Value& m = doc["member"];
  EXPECT_STREQ(m["connection_status"].GetString(), "CONNECTED");
  EXPECT_FALSE(m["is_being_aggregated"].GetBool());
  EXPECT_TRUE(m["is_authenticated"].GetBool());
  EXPECT_TRUE(m["has_processed_accounts"].GetBool());
  EXPECT_TRUE(m["has_processed_account_numbers"].GetBool());
  EXPECT_TRUE(m["has_processed_transactions"].GetBool());
  EXPECT_STREQ(m["aggregated_at"].GetString(), kNowText);
  EXPECT_STREQ(m["successfully_aggregated_at"].GetString(), kOneStepLaterText);
  EXPECT_EQ(m["challenges"].Size(), 0u);
}

TEST_F(SandboxTest, ReadMemberReflectsTheStateDatedAtTheStep) {
  const std::string guid = CreateAggregating(MxBankBodyWith("password"));
  Elapse(absl::Hours(5));  // noticed late, still dated at the step
  SandboxResponse read = Send(Request("GET", MemberPath(guid)));
  ASSERT_EQ(read.status, 200) << read.body;
  rapidjson::Document doc = Parse(read);
  const rapidjson::Value& m = doc["member"];
  EXPECT_STREQ(m["connection_status"].GetString(), "CONNECTED");
  EXPECT_STREQ(m["connection_status_message"].GetString(), "Connected to MX Bank.");
  EXPECT_FALSE(m["is_being_aggregated"].GetBool());
  EXPECT_STREQ(m["aggregated_at"].GetString(), kNowText);
  EXPECT_STREQ(m["successfully_aggregated_at"].GetString(), kOneStepLaterText);
}

TEST_F(SandboxTest, BadRequestPasswordFails) {
  const std::string guid = CreateAggregating(MxBankBodyWith("BAD_REQUEST"));
  Elapse(kStep);
  rapidjson::Document status = StatusOf(guid);
  EXPECT_STREQ(status["member"]["connection_status"].GetString(), "FAILED");
  EXPECT_FALSE(status["member"]["is_being_aggregated"].GetBool());
  EXPECT_TRUE(status["member"]["successfully_aggregated_at"].IsNull());
  rapidjson::Document read = Parse(Send(Request("GET", MemberPath(guid))));
  EXPECT_STREQ(read["member"]["connection_status_message"].GetString(),
               "You must fill out the username and password fields.");
}

TEST_F(SandboxTest, LoginOtherThanMxuserIsDeniedWhateverThePassword) {
  for (const char* password : {"password", "challenge", "BAD_REQUEST"}) {
    const std::string guid = CreateAggregating(MxBankBodyWith(password, "someone"));
    Elapse(kStep);
    rapidjson::Document doc = StatusOf(guid);
    EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "DENIED") << password;
    EXPECT_FALSE(doc["member"]["is_being_aggregated"].GetBool());
    EXPECT_FALSE(doc["member"]["is_authenticated"].GetBool());
    EXPECT_EQ(doc["member"]["challenges"].Size(), 0u);
  }
}

TEST_F(SandboxTest, TestPasswordsAreCaseSensitive) {
  for (const char* password : {"CHALLENGE", "Options", "bad_request"}) {
    const std::string guid = CreateAggregating(MxBankBodyWith(password));
    Elapse(kStep);
    EXPECT_EQ(ConnectionStatus(guid), "CONNECTED") << password;
  }
}

TEST_F(SandboxTest, MembersWithoutAJobStayCreated) {
  SandboxResponse v1 =
      Send(AsV1(CreateMember(MxBankBody(R"(,"skip_aggregation":true)"), kDemoUserGuid)));
  ASSERT_EQ(v1.status, 200);
  SandboxResponse v2 = Send(
      CreateMember(MxBankBody("", R"(,"data_request":{"products":["investments"]})")));
  ASSERT_EQ(v2.status, 201);
  Elapse(kStep * 10);
  for (const SandboxResponse& created : {v1, v2}) {
    const std::string guid = Parse(created)["member"]["guid"].GetString();
    rapidjson::Document doc = StatusOf(guid);
    EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "CREATED");
    EXPECT_FALSE(doc["member"]["is_being_aggregated"].GetBool());
    EXPECT_TRUE(doc["member"]["aggregated_at"].IsNull());
    EXPECT_EQ(Send(Request("GET", MemberPath(guid))).body, created.body);
  }
}

// ---------------------------------------------------------------------------
// MFA: each test password's challenge, answered every way.

struct ChallengeCase {
  const char* password;
  const char* type;
  const char* guid;
  const char* follow_up_guid;
  const char* label;
};

void PrintTo(const ChallengeCase& row, std::ostream* os) { *os << row.type; }

const ChallengeCase kChallengeCases[] = {
    {"challenge", "TEXT", kTextChallengeGuid, kTextFollowUpChallengeGuid,
     "What is the name of your first pet?"},
    {"options", "OPTIONS", kOptionsChallengeGuid, kOptionsFollowUpChallengeGuid,
     "Where should we send your one-time code?"},
    {"image", "IMAGE_DATA", kImageChallengeGuid, kImageFollowUpChallengeGuid,
     "What is shown in this image?"},
};

class ChallengeTest : public SandboxTest,
                      public ::testing::WithParamInterface<ChallengeCase> {
 protected:
  // A member CHALLENGED by the row's password; returns its guid.
  std::string CreateChallenged() {
    std::string guid = CreateAggregating(MxBankBodyWith(GetParam().password));
    Elapse(kStep);
    return guid;
  }

  // Answers the open challenge `challenge_guid` with `value`: 202 RESUMED.
  void Answer(const std::string& member, absl::string_view challenge_guid,
              absl::string_view value) {
    SandboxResponse response = Resume(member, ResumeBody(challenge_guid, value));
    ASSERT_EQ(response.status, 202) << response.body;
    EXPECT_EQ(response.content_type, "application/json");
    rapidjson::Document doc = Parse(response);
    EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "RESUMED");
    EXPECT_TRUE(doc["member"]["is_being_aggregated"].GetBool());
  }
};

TEST_P(ChallengeTest, IsChallengedOneStepAfterCreation) {
  const std::string guid = CreateChallenged();
  rapidjson::Document doc = StatusOf(guid);
  const rapidjson::Value& m = doc["member"];
  EXPECT_STREQ(m["connection_status"].GetString(), "CHALLENGED");
  EXPECT_FALSE(m["is_being_aggregated"].GetBool());
  EXPECT_FALSE(m["is_authenticated"].GetBool());
  EXPECT_TRUE(m["successfully_aggregated_at"].IsNull());
  ASSERT_EQ(m["challenges"].Size(), 1u);
  const rapidjson::Value& challenge = m["challenges"][0];
  EXPECT_STREQ(challenge["guid"].GetString(), GetParam().guid);
  EXPECT_STREQ(challenge["type"].GetString(), GetParam().type);
  EXPECT_STREQ(challenge["label"].GetString(), GetParam().label);
  EXPECT_TRUE(challenge["field_name"].IsNull());
  EXPECT_EQ(challenge["image_options"].Size(), 0u);
  EXPECT_EQ(challenge["image_data"].IsString(),
            std::string(GetParam().type) == "IMAGE_DATA");
  EXPECT_EQ(challenge["options"].Size() > 0, std::string(GetParam().type) == "OPTIONS");

  rapidjson::Document read = Parse(Send(Request("GET", MemberPath(guid))));
  EXPECT_STREQ(read["member"]["connection_status"].GetString(), "CHALLENGED");
  EXPECT_STREQ(read["member"]["connection_status_message"].GetString(),
               "To authenticate your connection to MX Bank, please answer "
               "the following challenge(s).");
}

TEST_P(ChallengeTest, ListsTheOpenChallengeWithPagination) {
  const std::string guid = CreateChallenged();
  SandboxResponse response = Send(Request("GET", MemberPath(guid, "/challenges")));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  rapidjson::Document doc = Parse(response);
  ASSERT_EQ(doc["challenges"].Size(), 1u);
  EXPECT_STREQ(doc["challenges"][0]["guid"].GetString(), GetParam().guid);
  EXPECT_EQ(doc["pagination"]["current_page"].GetInt(), 1);
  EXPECT_EQ(doc["pagination"]["per_page"].GetInt(), 25);
  EXPECT_EQ(doc["pagination"]["total_entries"].GetInt(), 1);
  EXPECT_EQ(doc["pagination"]["total_pages"].GetInt(), 1);
  // The same challenge object as the status body's.
  rapidjson::Document status = StatusOf(guid);
  EXPECT_TRUE(doc["challenges"][0] == status["member"]["challenges"][0]);
}

TEST_P(ChallengeTest, RightAnswerResumesThenConnects) {
  const std::string guid = CreateChallenged();
  Answer(guid, GetParam().guid, "correct");
  rapidjson::Document doc = StatusOf(guid);
  EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "RESUMED");
  EXPECT_TRUE(doc["member"]["is_being_aggregated"].GetBool());
  EXPECT_EQ(doc["member"]["challenges"].Size(), 0u);
  EXPECT_EQ(Send(Request("GET", MemberPath(guid, "/challenges"))).status, 204);

  Elapse(kStep - absl::Milliseconds(1));
  EXPECT_EQ(ConnectionStatus(guid), "RESUMED");
  Elapse(absl::Milliseconds(1));
  doc = StatusOf(guid);
  EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "CONNECTED");
  EXPECT_FALSE(doc["member"]["is_being_aggregated"].GetBool());
  EXPECT_TRUE(doc["member"]["is_authenticated"].GetBool());
  // Created at kNow, challenged at +1 step, resumed there, connected at +2.
  EXPECT_STREQ(doc["member"]["successfully_aggregated_at"].GetString(),
               "2023-11-14T22:13:24.000Z");
  EXPECT_STREQ(doc["member"]["aggregated_at"].GetString(), kNowText);
}

TEST_P(ChallengeTest, WrongAnswerIsDenied) {
  const std::string guid = CreateChallenged();
  Answer(guid, GetParam().guid, "incorrect");
  Elapse(kStep);
  rapidjson::Document doc = StatusOf(guid);
  EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "DENIED");
  EXPECT_FALSE(doc["member"]["is_being_aggregated"].GetBool());
  EXPECT_EQ(doc["member"]["challenges"].Size(), 0u);
}

TEST_P(ChallengeTest, AnswerChallengeBringsAFollowUpOfTheSameType) {
  const std::string guid = CreateChallenged();
  Answer(guid, GetParam().guid, "challenge");
  Elapse(kStep);
  rapidjson::Document doc = StatusOf(guid);
  EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "CHALLENGED");
  ASSERT_EQ(doc["member"]["challenges"].Size(), 1u);
  const rapidjson::Value& follow_up = doc["member"]["challenges"][0];
  EXPECT_STREQ(follow_up["guid"].GetString(), GetParam().follow_up_guid);
  EXPECT_STREQ(follow_up["type"].GetString(), GetParam().type);
  EXPECT_STRNE(follow_up["label"].GetString(), GetParam().label);

  // The first challenge is closed; the follow-up takes answers.
  EXPECT_THAT(Resume(guid, ResumeBody(GetParam().guid, "correct")),
              IsError(400, absl::StrCat("Challenge guid \"", GetParam().guid,
                                        "\" is not an open challenge of this "
                                        "member.")));
  Answer(guid, GetParam().follow_up_guid, "challenge");
  Elapse(kStep);
  EXPECT_EQ(ConnectionStatus(guid), "CHALLENGED");  // the follow-up again
  Answer(guid, GetParam().follow_up_guid, "correct");
  Elapse(kStep);
  EXPECT_EQ(ConnectionStatus(guid), "CONNECTED");
}

TEST_P(ChallengeTest, WorksInV20111101ByGuid) {
  const std::string guid = CreateChallenged();
  const std::string path = MemberPath(guid, "/challenges", kDemoUserGuid);
  SandboxResponse listed = Send(AsV1(Request("GET", path)));
  EXPECT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.content_type, kV1Accept);
  SandboxResponse resumed =
      Send(AsV1(Request("PUT", MemberPath(guid, "/resume", kDemoUserGuid),
                        ResumeBody(GetParam().guid, "correct"))));
  EXPECT_EQ(resumed.status, 202) << resumed.body;
  EXPECT_EQ(resumed.content_type, kV1Accept);
  Elapse(kStep);
  SandboxResponse status =
      Send(AsV1(Request("GET", MemberPath(guid, "/status", kDemoUserGuid))));
  EXPECT_EQ(status.content_type, kV1Accept);
  EXPECT_STREQ(Parse(status)["member"]["connection_status"].GetString(), "CONNECTED");
}

INSTANTIATE_TEST_SUITE_P(Types, ChallengeTest, ::testing::ValuesIn(kChallengeCases),
                         [](const ::testing::TestParamInfo<ChallengeCase>& info) {
                           return std::string(info.param.password);
                         });

TEST_F(SandboxTest, OptionsChallengeOffersACorrectOption) {
  const std::string guid = CreateAggregating(MxBankBodyWith("options"));
  Elapse(kStep);
  rapidjson::Document doc = StatusOf(guid);
  const rapidjson::Value& options = doc["member"]["challenges"][0]["options"];
  ASSERT_GE(options.Size(), 2u);
  int correct = 0;
  for (const auto& option : options.GetArray()) {
    EXPECT_THAT(option["guid"].GetString(),
                MatchesRegex(absl::StrCat("CRD-", kGuidPattern)));
    EXPECT_TRUE(option["label"].IsString());
    correct += std::string(option["value"].GetString()) == "correct";
  }
  EXPECT_EQ(correct, 1);
}

TEST_F(SandboxTest, ImageChallengeIsAOnePixelPngDataUri) {
  const std::string guid = CreateAggregating(MxBankBodyWith("image"));
  Elapse(kStep);
  rapidjson::Document doc = StatusOf(guid);
  absl::string_view uri = doc["member"]["challenges"][0]["image_data"].GetString();
  ASSERT_TRUE(absl::ConsumePrefix(&uri, "data:image/png;base64,")) << uri;
  std::string png;
  ASSERT_TRUE(absl::Base64Unescape(uri, &png));
  ASSERT_GE(png.size(), 24u);
  EXPECT_EQ(png.substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(png.substr(16, 8), std::string("\0\0\0\1\0\0\0\1", 8));  // 1x1
}

TEST_F(SandboxTest, ChallengeGuidsLookLikeMxGuids) {
  for (const char* guid : {kTextChallengeGuid, kTextFollowUpChallengeGuid,
                           kOptionsChallengeGuid, kOptionsFollowUpChallengeGuid,
                           kImageChallengeGuid, kImageFollowUpChallengeGuid}) {
    EXPECT_THAT(guid, MatchesRegex(absl::StrCat("CRD-", kGuidPattern)));
  }
}

TEST_F(SandboxTest, ResumeStepCountsFromTheResume) {
  const std::string guid = CreateAggregating(MxBankBodyWith("challenge"));
  Elapse(kStep * 10);  // the member waits, CHALLENGED, for its answer
  EXPECT_EQ(ConnectionStatus(guid), "CHALLENGED");
  ASSERT_EQ(Resume(guid, ResumeBody(kTextChallengeGuid, "correct")).status, 202);
  Elapse(kStep - absl::Milliseconds(1));
  EXPECT_EQ(ConnectionStatus(guid), "RESUMED");
  Elapse(absl::Milliseconds(1));
  EXPECT_STREQ(StatusOf(guid)["member"]["successfully_aggregated_at"].GetString(),
               "2023-11-14T22:13:42.000Z");  // kNow + 11 steps
}

// ---------------------------------------------------------------------------
// Resume refusals.

TEST_F(SandboxTest, ResumeIs405UnlessChallenged) {
  const std::string kMessage =
      "A constraint on the requested endpoint wasn't met: the member is not "
      "CHALLENGED.";
  const std::string created = CreateAggregating(MxBankBodyWith("challenge"));
  EXPECT_THAT(Resume(created, ResumeBody(kTextChallengeGuid, "correct")),
              IsError(405, kMessage));  // challenged only one step later

  const std::string connected = CreateAggregating(MxBankBody());
  const std::string denied = CreateAggregating(MxBankBodyWith("p", "nobody"));
  const std::string failed = CreateAggregating(MxBankBodyWith("BAD_REQUEST"));
  const std::string resumed = CreateAggregating(MxBankBodyWith("challenge"));
  const std::string pending =
      Parse(Send(CreateMember(kOauthBody)))["member"]["guid"].GetString();
  Elapse(kStep);
  ASSERT_EQ(Resume(resumed, ResumeBody(kTextChallengeGuid, "correct")).status, 202);
  for (const std::string& guid : {connected, denied, failed, resumed, pending}) {
    EXPECT_THAT(Resume(guid, ResumeBody(kTextChallengeGuid, "correct")),
                IsError(405, kMessage))
        << ConnectionStatus(guid);
  }
  // 405 is decided before the body is read.
  EXPECT_THAT(Resume(connected, "not json"), IsError(405, kMessage));
}

TEST_F(SandboxTest, ResumeBodyRefusalsAre400AndLeaveTheChallengeOpen) {
  struct Row {
    const char* name;
    std::string body;
    std::string message;
  };
  const std::string other_guid = kOptionsChallengeGuid;
  const std::string answer =
      absl::StrCat(R"({"guid":")", kTextChallengeGuid, R"(","value":"x"})");
  const Row kRows[] = {
      {"not json", "not json", "Request body must be a JSON object."},
      {"empty", "", "Request body must be a JSON object."},
      {"array", "[]", "Request body must be a JSON object."},
      {"no member", R"({"challenges":[]})", "Request body needs a member object."},
      {"member not object", R"({"member":[]})", "Request body needs a member object."},
      {"no challenges", R"({"member":{}})",
       "member.challenges must be an array of objects of string guid and "
       "value."},
      {"challenges not array", R"({"member":{"challenges":{}}})",
       "member.challenges must be an array of objects of string guid and "
       "value."},
      {"answer not object", R"({"member":{"challenges":["correct"]}})",
       "member.challenges must be an array of objects of string guid and "
       "value."},
      {"value not string",
       absl::StrCat(R"({"member":{"challenges":[{"guid":")", kTextChallengeGuid,
                    R"(","value":1}]}})"),
       "member.challenges must be an array of objects of string guid and "
       "value."},
      {"no value",
       absl::StrCat(R"({"member":{"challenges":[{"guid":")", kTextChallengeGuid,
                    R"("}]}})"),
       "member.challenges must be an array of objects of string guid and "
       "value."},
      {"no guid", R"({"member":{"challenges":[{"value":"correct"}]}})",
       "member.challenges must be an array of objects of string guid and "
       "value."},
      {"no answers", R"({"member":{"challenges":[]}})",
       absl::StrCat("Missing an answer for challenge ", kTextChallengeGuid, ".")},
      {"unknown guid", ResumeBody(other_guid, "correct"),
       absl::StrCat("Challenge guid \"", other_guid,
                    "\" is not an open challenge of this member.")},
      {"credential guid", ResumeBody(kMxBankPasswordGuid, "correct"),
       absl::StrCat("Challenge guid \"", kMxBankPasswordGuid,
                    "\" is not an open challenge of this member.")},
      {"answered twice",
       absl::StrCat(R"({"member":{"challenges":[)", answer, ",", answer, "]}}"),
       absl::StrCat("Challenge ", kTextChallengeGuid, " is answered more than once.")},
  };
  const std::string guid = CreateAggregating(MxBankBodyWith("challenge"));
  Elapse(kStep);
  for (const Row& row : kRows) {
    EXPECT_THAT(Resume(guid, row.body), IsError(400, row.message)) << row.name;
  }
  EXPECT_EQ(ConnectionStatus(guid), "CHALLENGED");
  EXPECT_EQ(Resume(guid, ResumeBody(kTextChallengeGuid, "correct")).status, 202);
}

TEST_F(SandboxTest, ResumeErrorsNeverEchoTheAnswer) {
  const std::string guid = CreateAggregating(MxBankBodyWith("challenge"));
  Elapse(kStep);
  const std::string twice =
      absl::StrCat(R"({"member":{"challenges":[{"guid":")", kTextChallengeGuid,
                   R"(","value":"secret-answer"},{"guid":")", kTextChallengeGuid,
                   R"(","value":"secret-answer"}]}})");
  SandboxResponse response = Resume(guid, twice);
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, Not(HasSubstr("secret-answer")));
}

// ---------------------------------------------------------------------------
// OAuth: the oauth_window_uri page.

TEST_F(SandboxTest, OauthMemberWaitsPendingUntilAuthorizedThenConnects) {
  SandboxResponse created = Send(CreateMember(kOauthBody));
  ASSERT_EQ(created.status, 200);
  const std::string guid = Parse(created)["member"]["guid"].GetString();
  Elapse(kStep * 10);
  rapidjson::Document doc = StatusOf(guid);
  EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "PENDING");
  EXPECT_FALSE(doc["member"]["is_being_aggregated"].GetBool());
  EXPECT_TRUE(doc["member"]["aggregated_at"].IsNull());

  SandboxResponse page = Authorize(guid);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html");
  EXPECT_THAT(page.body, HasSubstr("Authorized; you can close this window."));

  SandboxResponse read = Send(Request("GET", MemberPath(guid)));
  rapidjson::Document member = Parse(read);
  EXPECT_STREQ(member["member"]["connection_status"].GetString(), "CREATED");
  EXPECT_TRUE(member["member"]["is_being_aggregated"].GetBool());
  EXPECT_STREQ(member["member"]["aggregated_at"].GetString(),
               "2023-11-14T22:13:40.000Z");  // when authorized
  EXPECT_THAT(member["member"]["most_recent_job_guid"].GetString(),
              MatchesRegex(absl::StrCat("JOB-", kGuidPattern)));

  Elapse(kStep);
  doc = StatusOf(guid);
  EXPECT_STREQ(doc["member"]["connection_status"].GetString(), "CONNECTED");
  EXPECT_FALSE(doc["member"]["is_being_aggregated"].GetBool());
  EXPECT_STREQ(doc["member"]["successfully_aggregated_at"].GetString(),
               "2023-11-14T22:13:42.000Z");
  member = Parse(Send(Request("GET", MemberPath(guid))));
  EXPECT_STREQ(member["member"]["connection_status_message"].GetString(),
               "Connected to MX Bank (OAuth).");
}

TEST_F(SandboxTest, OauthWindowUriIsSingleUse) {
  const std::string guid =
      Parse(Send(CreateMember(kOauthBody)))["member"]["guid"].GetString();
  ASSERT_EQ(Authorize(guid).status, 200);
  SandboxResponse again = Authorize(guid);
  EXPECT_EQ(again.status, 410);
  EXPECT_EQ(again.content_type, "text/html");
  EXPECT_THAT(again.body, HasSubstr("already used"));
  Elapse(kStep);
  EXPECT_EQ(Authorize(guid).status, 410);
  EXPECT_EQ(ConnectionStatus(guid), "CONNECTED");
}

TEST_F(SandboxTest, OauthAuthorizeIs404ForAnythingButAnOauthMember) {
  const std::string mxbank = CreateAggregating(MxBankBody());
  const std::string oauth =
      Parse(Send(CreateMember(kOauthBody)))["member"]["guid"].GetString();
  ASSERT_EQ(Send(Request("DELETE", MemberPath(oauth))).status, 204);
  for (const std::string& guid : {std::string("MBR-none"), mxbank, oauth}) {
    SandboxResponse page = Authorize(guid);
    EXPECT_EQ(page.status, 404) << guid;
    EXPECT_EQ(page.content_type, "text/html");
  }
  EXPECT_EQ(Authorize("").status, 404);  // no guid: no route
}

TEST_F(SandboxTest, OauthAuthorizeNeedsNoAuthAndIsNotAnMxRequest) {
  const std::string guid =
      Parse(Send(CreateMember(kOauthBody)))["member"]["guid"].GetString();
  const int64_t before = Stat("requests");
  EXPECT_EQ(Authorize(guid).status, 200);
  EXPECT_EQ(Authorize(guid).status, 410);
  EXPECT_EQ(Stat("requests"), before);
}

// ---------------------------------------------------------------------------
// Status, challenges and delete: bodies and refusals.

TEST_F(SandboxTest, StatusHasEveryMemberStatusResponsePropertyInBothVersions) {
  const std::vector<std::string> kProperties = {"aggregated_at",
                                                "challenges",
                                                "connection_status",
                                                "guid",
                                                "has_processed_account_numbers",
                                                "has_processed_accounts",
                                                "has_processed_transactions",
                                                "is_authenticated",
                                                "is_being_aggregated",
                                                "successfully_aggregated_at"};
  const std::string guid = CreateAggregating(MxBankBody());
  for (const SandboxRequest& request :
       {Request("GET", MemberPath(guid, "/status")),
        AsV1(Request("GET", MemberPath(guid, "/status", kDemoUserGuid)))}) {
    SandboxResponse response = Send(request);
    ASSERT_EQ(response.status, 200) << response.body;
    rapidjson::Document doc = Parse(response);
    ASSERT_EQ(doc.MemberCount(), 1u);
    std::vector<std::string> keys;
    for (const auto& member : doc["member"].GetObject()) {
      keys.emplace_back(member.name.GetString());
    }
    EXPECT_EQ(keys, kProperties);
    EXPECT_STREQ(doc["member"]["guid"].GetString(), guid.c_str());
  }
}

TEST_F(SandboxTest, ChallengesAre204WithNoBodyUnlessChallenged) {
  const std::string guid = CreateAggregating(MxBankBodyWith("challenge"));
  const std::string connects = CreateAggregating(MxBankBody());
  auto expect_no_content = [&](const std::string& member) {
    SandboxResponse response = Send(Request("GET", MemberPath(member, "/challenges")));
    EXPECT_EQ(response.status, 204) << ConnectionStatus(member);
    EXPECT_EQ(response.body, "");
    EXPECT_EQ(response.content_type, "");
  };
  expect_no_content(guid);  // CREATED
  Elapse(kStep);
  expect_no_content(connects);  // CONNECTED
  ASSERT_EQ(Resume(guid, ResumeBody(kTextChallengeGuid, "correct")).status, 202);
  expect_no_content(guid);  // RESUMED
}

TEST_F(SandboxTest, ChallengesHonourPagination) {
  const std::string guid = CreateAggregating(MxBankBodyWith("challenge"));
  Elapse(kStep);
  SandboxRequest request = Request("GET", MemberPath(guid, "/challenges"));
  request.query = {{"page", "2"}, {"records_per_page", "10"}};
  rapidjson::Document doc = Parse(Send(request));
  EXPECT_EQ(doc["challenges"].Size(), 0u);
  EXPECT_EQ(doc["pagination"]["current_page"].GetInt(), 2);
  EXPECT_EQ(doc["pagination"]["per_page"].GetInt(), 10);
  EXPECT_EQ(doc["pagination"]["total_entries"].GetInt(), 1);
  EXPECT_EQ(doc["pagination"]["total_pages"].GetInt(), 1);
}

TEST_F(SandboxTest, DeleteIs204ThenTheMemberIs404Everywhere) {
  const std::string guid = CreateAggregating(MxBankBody(R"(,"id":"m-1")"));
  SandboxResponse deleted = Send(Request("DELETE", MemberPath("m-1")));
  EXPECT_EQ(deleted.status, 204);
  EXPECT_EQ(deleted.body, "");
  EXPECT_EQ(deleted.content_type, "");
  for (const std::string& member : {guid, std::string("m-1")}) {
    EXPECT_THAT(Send(Request("GET", MemberPath(member))),
                IsError(404, "Member not found."));
    EXPECT_THAT(Send(Request("GET", MemberPath(member, "/status"))),
                IsError(404, "Member not found."));
    EXPECT_THAT(Send(Request("GET", MemberPath(member, "/challenges"))),
                IsError(404, "Member not found."));
    EXPECT_THAT(Resume(member, ResumeBody(kTextChallengeGuid, "correct")),
                IsError(404, "Member not found."));
    EXPECT_THAT(Send(Request("DELETE", MemberPath(member))),
                IsError(404, "Member not found."));
  }
  EXPECT_EQ(Stat("members_deleted"), 1);
  // The id is free again.
  EXPECT_EQ(Send(CreateMember(MxBankBody(R"(,"id":"m-1")"))).status, 202);
}

TEST_F(SandboxTest, MemberRoutesRefuseInCreateMembersOrder) {
  const std::string other = CreateUser("other");
  const std::string guid = CreateAggregating(MxBankBody(R"(,"id":"m-1")"));
  struct Route {
    const char* method;
    const char* suffix;
  };
  const Route kRoutes[] = {{"GET", ""},
                           {"DELETE", ""},
                           {"GET", "/status"},
                           {"GET", "/challenges"},
                           {"PUT", "/resume"}};
  for (const Route& route : kRoutes) {
    SCOPED_TRACE(absl::StrCat(route.method, " ", route.suffix));
    auto at = [&](absl::string_view member, absl::string_view user) {
      return Request(route.method, MemberPath(member, route.suffix, user),
                     ResumeBody(kTextChallengeGuid, "correct"));
    };
    EXPECT_THAT(Send(Without(at("m-1", "nobody"), "authorization")),
                IsError(401,
                        "Missing HTTP Basic credentials "
                        "(client_id:api_key)."));
    EXPECT_THAT(Send(Without(at("m-1", "nobody"), "accept-version")),
                IsError(406,
                        "Missing Accept-Version header: use v20250224 "
                        "or v20111101."));
    EXPECT_THAT(Send(With(at("m-1", kDemoUserId), "accept", kV1Accept)),
                IsError(406, "v20250224 requires Accept: application/json."));
    EXPECT_THAT(Send(at("MBR-none", "nobody")), IsError(404, "User not found."));
    EXPECT_THAT(Send(at("MBR-none", kDemoUserId)), IsError(404, "Member not found."));
    EXPECT_THAT(Send(at("m-1", other)), IsError(404, "Member not found."));
    EXPECT_THAT(Send(at(guid, other)), IsError(404, "Member not found."));
    // v20111101 takes guids only, for the user and the member.
    EXPECT_THAT(Send(AsV1(at(guid, kDemoUserId))), IsError(404, "User not found."));
    EXPECT_THAT(Send(AsV1(at("m-1", kDemoUserGuid))), IsError(404, "Member not found."));
  }
  // Nothing was deleted by the refusals.
  EXPECT_EQ(Stat("members_deleted"), 0);
  EXPECT_EQ(Send(Request("GET", MemberPath("m-1"))).status, 200);
}

TEST_F(SandboxTest, MemberRoutesTakeTheMemberIdInV20250224) {
  const std::string guid = CreateAggregating(
      absl::StrCat(R"({"member":{"institution_code":"mxbank","id":"m-1",)",
                   R"("credentials":)", MxBankCredentials("mxuser", "image"), "}}"));
  Elapse(kStep);
  for (const std::string& user : {std::string(kDemoUserId), std::string(kDemoUserGuid)}) {
    EXPECT_EQ(Send(Request("GET", MemberPath("m-1", "/status", user))).status, 200);
    EXPECT_EQ(Send(Request("GET", MemberPath("m-1", "/challenges", user))).status, 200);
  }
  EXPECT_EQ(Resume("m-1", ResumeBody(kImageChallengeGuid, "correct")).status, 202);
  EXPECT_EQ(Send(Request("DELETE", MemberPath("m-1"))).status, 204);
  EXPECT_THAT(Send(Request("GET", MemberPath(guid))), IsError(404, "Member not found."));
}

TEST_F(SandboxTest, StatsCountStatusRequestsOfAnyAnswerAndDeletions) {
  const std::string guid = CreateAggregating(MxBankBody());
  Send(Request("GET", MemberPath(guid, "/status")));        // 200
  Send(Request("GET", MemberPath("MBR-none", "/status")));  // 404
  Send(Without(Request("GET", MemberPath(guid, "/status")), "authorization"));
  Send(Request("GET", MemberPath(guid)));  // not a status request
  Send(Request("DELETE", MemberPath(guid)));
  Send(Request("DELETE", MemberPath(guid)));  // 404: not counted as deleted
  SandboxResponse stats = Send(Request("GET", "/_sandbox/stats"));
  EXPECT_EQ(stats.body, R"({"members_created":1,"members_deleted":1,"requests":7,)"
                        R"("status_requests":3})");
}

// ---------------------------------------------------------------------------
// The HTTP adapter.

TEST(ListenAddress, AcceptsLoopbackOnly) {
  for (const char* ok :
       {"127.0.0.1:0", "127.1.2.3:8089", "localhost:80", "LOCALHOST:1", "[::1]:0"}) {
    EXPECT_TRUE(ParseListenAddress(ok).ok()) << ok;
  }
  for (const char* refused : {"0.0.0.0:8089", "10.0.0.1:80", "192.168.1.1:80", "[::]:80",
                              "[::ffff:127.0.0.1]:80", "example.com:80"}) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(refused);
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument) << refused;
    EXPECT_THAT(std::string(address.status().message()),
                HasSubstr("refusing a non-loopback host"))
        << refused;
  }
  for (const char* malformed :
       {"127.0.0.1", ":80", "::1:80", "127.0.0.1:x", "127.0.0.1:65536", "[::1]80", ""}) {
    EXPECT_EQ(ParseListenAddress(malformed).status().code(),
              absl::StatusCode::kInvalidArgument)
        << malformed;
  }
  EXPECT_EQ(FormatHostPort({"::1", 80}), "[::1]:80");
  EXPECT_EQ(FormatHostPort({"127.0.0.1", 80}), "127.0.0.1:80");
}

TEST(SandboxServer, RefusesNonLoopbackBeforeBinding) {
  ServerOptions options;
  options.listen = "0.0.0.0:0";
  EXPECT_EQ(SandboxServer::Bind(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Before Serve() no connection is accepted, so the kernel queues what the
// listen backlog allows and drops the SYNs beyond it (their connect waits
// for a retry, 1 s later, that meets a full queue again). A burst the size
// of a gateway's connection pool must all be queued: httplib's default
// backlog, 5, held 6 of these 64.
TEST(SandboxServer, QueuesABurstOfConnectionsBeforeAccepting) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.log = nullptr;
  absl::StatusOr<std::unique_ptr<SandboxServer>> server = SandboxServer::Bind(options);
  ASSERT_TRUE(server.ok()) << server.status();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>((*server)->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  constexpr int kBurst = 64;
  std::vector<pollfd> connecting;
  for (int i = 0; i < kBurst; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    const int rc =
        connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
    connecting.push_back({fd, POLLOUT, 0});
  }
  // Loopback handshakes take microseconds; a dropped SYN is retried after 1 s.
  int connected = 0;
  const absl::Time give_up = absl::Now() + absl::Milliseconds(500);
  while (connected < kBurst && absl::Now() < give_up) {
    poll(connecting.data(), connecting.size(), 10);
    connected = 0;
    for (pollfd& socket : connecting) {
      int error = 0;
      socklen_t length = sizeof(error);
      if ((socket.revents & POLLOUT) != 0 &&
          getsockopt(socket.fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
          error == 0) {
        ++connected;
      }
    }
  }
  for (const pollfd& socket : connecting) close(socket.fd);
  EXPECT_EQ(connected, kBurst);
}

// Reads everything written to `file` so far.
std::string ReadAll(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[512];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    text.append(buffer, n);
  }
  return text;
}

TEST(SandboxServer, ServesOneRoundTripAndLogsWithoutSecrets) {
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.api_key = "round-trip-key";
  options.latency = absl::Milliseconds(50);
  options.log = log;
  absl::StatusOr<std::unique_ptr<SandboxServer>> server = SandboxServer::Bind(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(), absl::StrCat("127.0.0.1:", (*server)->port()));
  std::thread serving([&] { (*server)->Serve(); });

  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_basic_auth(kDefaultClientId, "round-trip-key");
  const absl::Time start = absl::Now();
  httplib::Result result =
      client.Post("/users/demo-user/members",
                  {{"Accept-Version", "v20250224"}, {"Accept", "application/json"}},
                  MxBankBody(R"(,"id":"rt-1")"), "application/json");
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 202) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  EXPECT_GE(elapsed, absl::Milliseconds(50));
  rapidjson::Document doc;
  doc.Parse(result->body.c_str());
  ASSERT_TRUE(doc.IsObject()) << result->body;
  EXPECT_STREQ(doc["member"]["id"].GetString(), "rt-1");

  httplib::Result stats = client.Get("/_sandbox/stats");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->body, R"({"members_created":1,"members_deleted":0,"requests":1,)"
                         R"("status_requests":0})");

  (*server)->Shutdown();
  serving.join();

  const std::string logged = ReadAll(log);
  std::fclose(log);
  EXPECT_THAT(logged, ContainsRegex("^POST /users/demo-user/members 202 "
                                    "[0-9.]+ms\nGET /_sandbox/stats 200 "
                                    "[0-9.]+ms\n$"));
  EXPECT_THAT(logged, Not(HasSubstr("round-trip-key")));
  EXPECT_THAT(logged, Not(HasSubstr("mxuser")));
  EXPECT_THAT(logged, Not(HasSubstr("Basic")));
}

TEST(SandboxServer, ServesTheOauthPageStepsAndA204WithoutContentType) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.step = absl::Milliseconds(30);
  options.log = nullptr;
  absl::StatusOr<std::unique_ptr<SandboxServer>> server = SandboxServer::Bind(options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::thread serving([&] { (*server)->Serve(); });
  const httplib::Headers headers = {{"Accept-Version", "v20250224"},
                                    {"Accept", "application/json"}};
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_basic_auth(kDefaultClientId, kDefaultApiKey);

  httplib::Result created =
      client.Post("/users/demo-user/members", headers, kOauthBody, "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 200) << created->body;
  rapidjson::Document doc;
  doc.Parse(created->body.c_str());
  const std::string guid = doc["member"]["guid"].GetString();
  const std::string path = absl::StrCat("/oauth/authorize/", guid);
  EXPECT_EQ(doc["member"]["oauth_window_uri"].GetString(),
            absl::StrCat("http://", (*server)->address(), path));

  httplib::Client browser("127.0.0.1", (*server)->port());
  httplib::Result page = browser.Get(path);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html");

  // The job connects one 30 ms step later, by the real clock.
  std::string status;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(5);
       status != "CONNECTED" && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(10))) {
    httplib::Result polled = client.Get(MemberPath(guid, "/status").c_str(), headers);
    ASSERT_TRUE(polled);
    doc.Parse(polled->body.c_str());
    status = doc["member"]["connection_status"].GetString();
  }
  EXPECT_EQ(status, "CONNECTED");

  httplib::Result deleted = client.Delete(MemberPath(guid).c_str(), headers);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 204);
  EXPECT_EQ(deleted->body, "");
  EXPECT_FALSE(deleted->has_header("Content-Type"));

  (*server)->Shutdown();
  serving.join();
}

}  // namespace
}  // namespace sandbox
}  // namespace mxgate
