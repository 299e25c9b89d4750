#include "service/request_validation.h"

#include <climits>
#include <functional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::DeleteMemberRequest;
using ::mx::platform::v1::GetMemberRequest;
using ::mx::platform::v1::GetMemberStatusRequest;
using ::mx::platform::v1::ListInstitutionCredentialsRequest;
using ::mx::platform::v1::Product;
using ::mx::platform::v1::ResumeMemberRequest;
using ::mx::platform::v1::UseCase;
using ::mx::platform::v1::WatchMemberStatusRequest;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::Property;

constexpr MxApiVersion kV1 = MxApiVersion::kV20111101;
constexpr MxApiVersion kV2 = MxApiVersion::kV20250224;

constexpr char kPathSegmentRule[] =
    "must be one path segment: no '/', '?', '#' or control characters, and "
    "not '.' or '..'";

// One name for every Validate*Request, so that table helpers and typed
// tests can call the validator of any request type.
absl::StatusOr<MxApiVersion> Validate(const CreateMemberRequest& r,
                                      MxApiVersion server_default) {
  return ValidateCreateMemberRequest(r, server_default);
}
absl::StatusOr<MxApiVersion> Validate(const ListInstitutionCredentialsRequest& r,
                                      MxApiVersion server_default) {
  return ValidateListInstitutionCredentialsRequest(r, server_default);
}
absl::StatusOr<MxApiVersion> Validate(const GetMemberRequest& r,
                                      MxApiVersion server_default) {
  return ValidateGetMemberRequest(r, server_default);
}
absl::StatusOr<MxApiVersion> Validate(const GetMemberStatusRequest& r,
                                      MxApiVersion server_default) {
  return ValidateGetMemberStatusRequest(r, server_default);
}
absl::StatusOr<MxApiVersion> Validate(const ResumeMemberRequest& r,
                                      MxApiVersion server_default) {
  return ValidateResumeMemberRequest(r, server_default);
}
absl::StatusOr<MxApiVersion> Validate(const DeleteMemberRequest& r,
                                      MxApiVersion server_default) {
  return ValidateDeleteMemberRequest(r, server_default);
}
absl::StatusOr<MxApiVersion> Validate(const WatchMemberStatusRequest& r,
                                      MxApiVersion server_default) {
  return ValidateWatchMemberStatusRequest(r, server_default);
}

template <typename Request>
Request Parse(const std::string& text) {
  Request request;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request));
  return request;
}

CreateMemberRequest ParseRequest(const std::string& text) {
  return Parse<CreateMemberRequest>(text);
}

// Valid under v20250224; under v20111101 only without `data_request`.
CreateMemberRequest ValidRequest() {
  return ParseRequest(R"pb(
    user_identifier: "user-1"
    member {
      institution_code: "mxbank"
      credentials { guid: "CRD-username" value: "mxuser" }
      credentials { guid: "CRD-password" value: "password" }
    }
    data_request {
      products: PRODUCT_TRANSACTIONS
      products: PRODUCT_ACCOUNT_VERIFICATION
    }
  )pb");
}

ListInstitutionCredentialsRequest ValidListRequest() {
  return Parse<ListInstitutionCredentialsRequest>(R"pb(
    institution_code: "mxbank"
    page: 2
    records_per_page: 100
  )pb");
}

ResumeMemberRequest ValidResumeRequest() {
  return Parse<ResumeMemberRequest>(R"pb(
    user_identifier: "user-1"
    member_identifier: "member-1"
    challenges { guid: "CRD-question-1" value: "blue" }
    challenges { guid: "CRD-question-2" value: "Fido" }
  )pb");
}

// Checks what every validation error shares (INVALID_ARGUMENT, ErrorInfo
// mxgate/INVALID_REQUEST) and returns the BadRequest field paths in order.
std::vector<std::string> RefusedFields(const absl::StatusOr<MxApiVersion>& result) {
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      GetErrorInfo(result.status()),
      Optional(AllOf(Property(&google::rpc::ErrorInfo::domain, "mxgate"),
                     Property(&google::rpc::ErrorInfo::reason, "INVALID_REQUEST"))));
  const absl::optional<google::rpc::BadRequest> bad_request =
      GetBadRequest(result.status());
  if (!bad_request.has_value()) {
    ADD_FAILURE() << "no BadRequest in " << result.status();
    return {};
  }
  std::vector<std::string> fields;
  for (const auto& violation : bad_request->field_violations()) {
    fields.push_back(violation.field());
  }
  return fields;
}

// Fails when `secret` appears in the message or any BadRequest description.
void ExpectNotEchoed(const absl::Status& status, const std::string& secret) {
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(secret)));
  const absl::optional<google::rpc::BadRequest> bad_request = GetBadRequest(status);
  ASSERT_TRUE(bad_request.has_value());
  for (const auto& violation : bad_request->field_violations()) {
    EXPECT_THAT(violation.description(), Not(HasSubstr(secret)));
  }
}

// A valid request after `change` is accepted; `name` says what it shows.
template <typename Request>
struct Acceptance {
  std::string name;
  std::function<void(Request&)> change;
  MxApiVersion server_default;
  MxApiVersion version;  // Returned.
};

// A valid request after `change` is refused; `name` says what it shows.
template <typename Request>
struct Refusal {
  std::string name;
  std::function<void(Request&)> change;
  std::vector<std::string> fields;  // The BadRequest field paths, in order.
  MxApiVersion server_default = kV2;
};

template <typename Request>
void PrintTo(const Acceptance<Request>& c, std::ostream* os) {
  *os << c.name;
}
template <typename Request>
void PrintTo(const Refusal<Request>& c, std::ostream* os) {
  *os << c.name;
}

template <typename Case>
std::string CaseName(const testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

template <typename Request>
void ExpectAccepted(Request request, const Acceptance<Request>& c) {
  c.change(request);
  const absl::StatusOr<MxApiVersion> result = Validate(request, c.server_default);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, c.version);
}

template <typename Request>
void ExpectRefused(Request request, const Refusal<Request>& c) {
  c.change(request);
  EXPECT_EQ(RefusedFields(Validate(request, c.server_default)), c.fields);
}

// `set_accept_version(value)` for any request type.
template <typename Request>
std::function<void(Request&)> AcceptVersion(std::string value) {
  return [value](Request& r) { r.set_accept_version(value); };
}

template <typename Request>
void Unchanged(Request&) {}

auto UserIdentifier(std::string value) {
  return [value = std::move(value)](CreateMemberRequest& r) {
    r.set_user_identifier(value);
  };
}

auto CallbackPayload(std::string value) {
  return [value = std::move(value)](CreateMemberRequest& r) {
    r.set_callback_payload(value);
  };
}

void NoDataRequest(CreateMemberRequest& r) { r.clear_data_request(); }

void NoCredentials(CreateMemberRequest& r) { r.mutable_member()->clear_credentials(); }

auto UseCases(std::vector<int> values) {
  return [values = std::move(values)](CreateMemberRequest& r) {
    for (int v : values) r.mutable_member()->add_use_cases(UseCase(v));
  };
}

auto Products(std::vector<int> values) {
  return [values = std::move(values)](CreateMemberRequest& r) {
    r.mutable_data_request()->clear_products();
    for (int v : values) r.mutable_data_request()->add_products(Product(v));
  };
}

// --- CreateMember -------------------------------------------------------

class AcceptedRequest : public testing::TestWithParam<Acceptance<CreateMemberRequest>> {};

TEST_P(AcceptedRequest, ReturnsVersion) { ExpectAccepted(ValidRequest(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    RequestValidation, AcceptedRequest,
    testing::ValuesIn(std::vector<Acceptance<CreateMemberRequest>>{
        {"BaselineUnderDefaultV20250224", [](CreateMemberRequest&) {}, kV2, kV2},
        {"BaselineUnderDefaultV20111101", NoDataRequest, kV1, kV1},
        {"ExplicitV20250224OverDefault",
         [](CreateMemberRequest& r) { r.set_accept_version("v20250224"); }, kV1, kV2},
        {"ExplicitV20111101OverDefault",
         [](CreateMemberRequest& r) {
           r.set_accept_version("v20111101");
           r.clear_data_request();
         },
         kV2, kV1},
        {"UserIdentifierWithSpaceAndNonAscii", UserIdentifier("user 1 ü"), kV2, kV2},
        {"UserIdentifierOfThreeDots", UserIdentifier("..."), kV2, kV2},
        {"PaddedBase64Payload", CallbackPayload("aGVsbG8="), kV2, kV2},
        {"DoublePaddedBase64Payload", CallbackPayload("YQ=="), kV2, kV2},
        {"PayloadOf1024Characters", CallbackPayload(std::string(1020, 'A') + "+/=="), kV2,
         kV2},
        {"OAuthMemberWithoutCredentials",
         [](CreateMemberRequest& r) {
           NoCredentials(r);
           r.mutable_member()->set_is_oauth(true);
           r.set_referral_source(mx::platform::v1::REFERRAL_SOURCE_APP);
           r.set_client_redirect_url("https://app.example/oauth");
         },
         kV2, kV2},
        {"SkipAggregationUnderV20111101",
         [](CreateMemberRequest& r) {
           NoDataRequest(r);
           r.mutable_member()->set_skip_aggregation(true);
         },
         kV1, kV1},
        {"BackgroundAggregationDisabledUnderV20250224",
         [](CreateMemberRequest& r) {
           r.mutable_member()->set_background_aggregation_is_disabled(true);
         },
         kV2, kV2},
        {"BackgroundAggregationDisabledUnderV20111101",
         [](CreateMemberRequest& r) {
           NoDataRequest(r);
           r.mutable_member()->set_background_aggregation_is_disabled(true);
         },
         kV1, kV1},
        {"KnownUseCases", UseCases({1, 2}), kV2, kV2},
        // AIP-203: output-only fields are ignored in input, even if nonsense.
        {"OutputOnlyMemberFields",
         [](CreateMemberRequest& r) {
           r.mutable_member()->set_guid("MBR-1");
           r.mutable_member()->set_connection_status(
               mx::platform::v1::ConnectionStatus(999));
           r.mutable_member()->set_is_being_aggregated(true);
         },
         kV2, kV2},
        {"RequestIdAUuid",
         [](CreateMemberRequest& r) {
           r.set_request_id("5f0c2b1e-8a3d-4c6f-9e21-7b4a0d9c3e18");
         },
         kV2, kV2},
        {"RequestIdOf128Characters",
         [](CreateMemberRequest& r) { r.set_request_id(std::string(128, '_')); }, kV2,
         kV2},
    }),
    CaseName<Acceptance<CreateMemberRequest>>);

class RefusedRequest : public testing::TestWithParam<Refusal<CreateMemberRequest>> {};

TEST_P(RefusedRequest, NamesEveryBadField) { ExpectRefused(ValidRequest(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    RequestValidation, RefusedRequest,
    testing::ValuesIn(std::vector<Refusal<CreateMemberRequest>>{
        {"EmptyUserIdentifier", UserIdentifier(""), {"user_identifier"}},
        // Each of these would change the path MX sees.
        {"UserIdentifierWithSlash", UserIdentifier("a/b"), {"user_identifier"}},
        {"UserIdentifierWithQuery", UserIdentifier("a?b"), {"user_identifier"}},
        {"UserIdentifierWithFragment", UserIdentifier("a#b"), {"user_identifier"}},
        {"UserIdentifierWithNewline", UserIdentifier("a\nb"), {"user_identifier"}},
        {"UserIdentifierWithDelete", UserIdentifier("a\x7f"), {"user_identifier"}},
        {"UserIdentifierDot", UserIdentifier("."), {"user_identifier"}},
        {"UserIdentifierDotDot", UserIdentifier(".."), {"user_identifier"}},
        {"UnknownAcceptVersion",
         [](CreateMemberRequest& r) { r.set_accept_version("v20990101"); },
         {"accept_version"}},
        {"AcceptVersionInOtherCase",
         [](CreateMemberRequest& r) { r.set_accept_version("V20250224"); },
         {"accept_version"}},
        // The server default then decides what else is refused.
        {"UnknownAcceptVersionJudgedAsDefault",
         [](CreateMemberRequest& r) {
           r.set_accept_version("v1");
           r.mutable_member()->set_skip_aggregation(true);
         },
         {"accept_version", "member.skip_aggregation"}},
        {"PayloadOf1025Characters",
         CallbackPayload(std::string(1025, 'A')),
         {"callback_payload"}},
        {"PayloadNotMultipleOfFour", CallbackPayload("abc"), {"callback_payload"}},
        {"PayloadWithInnerPadding", CallbackPayload("a=bc"), {"callback_payload"}},
        {"PayloadOfOnlyPadding", CallbackPayload("===="), {"callback_payload"}},
        {"PayloadWithLineBreak", CallbackPayload("aGVs\r\nbG8="), {"callback_payload"}},
        {"PayloadInUrlSafeAlphabet", CallbackPayload("aGVsbG8-"), {"callback_payload"}},
        {"MissingMember", [](CreateMemberRequest& r) { r.clear_member(); }, {"member"}},
        {"EmptyInstitutionCode",
         [](CreateMemberRequest& r) { r.mutable_member()->clear_institution_code(); },
         {"member.institution_code"}},
        {"CredentialsOnOAuthMember",
         [](CreateMemberRequest& r) { r.mutable_member()->set_is_oauth(true); },
         {"member.credentials"}},
        {"NoCredentialsWhenOAuthUnset", NoCredentials, {"member.credentials"}},
        {"NoCredentialsWhenOAuthFalse",
         [](CreateMemberRequest& r) {
           NoCredentials(r);
           r.mutable_member()->set_is_oauth(false);
         },
         {"member.credentials"}},
        {"CredentialWithoutGuid",
         [](CreateMemberRequest& r) {
           r.mutable_member()->mutable_credentials(1)->clear_guid();
         },
         {"member.credentials[1].guid"}},
        {"CredentialGuidWithControlCharacter",
         [](CreateMemberRequest& r) {
           r.mutable_member()->mutable_credentials(0)->set_guid("CRD-1\r\n");
         },
         {"member.credentials[0].guid"}},
        {"CredentialWithoutValue",
         [](CreateMemberRequest& r) {
           r.mutable_member()->mutable_credentials(0)->clear_value();
         },
         {"member.credentials[0].value"}},
        // Present-but-false is refused too: the field does not exist there.
        {"SkipAggregationFalseUnderV20250224",
         [](CreateMemberRequest& r) { r.mutable_member()->set_skip_aggregation(false); },
         {"member.skip_aggregation"}},
        {"UnspecifiedUseCase", UseCases({0}), {"member.use_cases[0]"}},
        {"UnknownUseCase", UseCases({1, 9}), {"member.use_cases[1]"}},
        {"DuplicateUseCase", UseCases({1, 2, 1}), {"member.use_cases[2]"}},
        {"DataRequestUnderDefaultV20111101",
         [](CreateMemberRequest&) {},
         {"data_request"},
         kV1},
        {"DataRequestUnderExplicitV20111101",
         [](CreateMemberRequest& r) { r.set_accept_version("v20111101"); },
         {"data_request"}},
        {"DataRequestWithoutProducts", Products({}), {"data_request.products"}},
        {"UnspecifiedProduct", Products({3, 0}), {"data_request.products[1]"}},
        {"UnknownProduct", Products({42}), {"data_request.products[0]"}},
        {"DuplicateProduct", Products({3, 4, 3}), {"data_request.products[2]"}},
        {"UnknownReferralSource",
         [](CreateMemberRequest& r) {
           r.set_referral_source(mx::platform::v1::ReferralSource(3));
         },
         {"referral_source"}},
        {"RequestIdWithSpaces",
         [](CreateMemberRequest& r) { r.set_request_id("not even a uuid"); },
         {"request_id"}},
        {"RequestIdWithASlash",
         [](CreateMemberRequest& r) { r.set_request_id("a/b"); },
         {"request_id"}},
        {"RequestIdOf129Characters",
         [](CreateMemberRequest& r) { r.set_request_id(std::string(129, 'a')); },
         {"request_id"}},
        {"RequestIdLikeAMemberGuid",
         [](CreateMemberRequest& r) { r.set_request_id("MBR-123"); },
         {"request_id"}},
        {"RequestIdUnderV20111101",
         [](CreateMemberRequest& r) {
           NoDataRequest(r);
           r.set_request_id("5f0c2b1e-8a3d-4c6f-9e21-7b4a0d9c3e18");
         },
         {"request_id"},
         kV1},
    }),
    CaseName<Refusal<CreateMemberRequest>>);

TEST(RequestValidation, NamesFirstBadFieldInMessage) {
  CreateMemberRequest request = ValidRequest();
  request.clear_member();
  EXPECT_EQ(ValidateCreateMemberRequest(request, kV2).status().message(),
            "invalid CreateMemberRequest: member: required");
}

TEST(RequestValidation, ListsAcceptedVersionsForUnknownVersion) {
  CreateMemberRequest request = ValidRequest();
  request.set_accept_version("2025-02-24");
  EXPECT_EQ(ValidateCreateMemberRequest(request, kV2).status().message(),
            "invalid CreateMemberRequest: accept_version: must be v20250224 "
            "or v20111101, or empty for the server default");
}

TEST(RequestValidation, PointsSkipAggregationToDataRequest) {
  CreateMemberRequest request = ValidRequest();
  request.mutable_member()->set_skip_aggregation(true);
  EXPECT_EQ(ValidateCreateMemberRequest(request, kV2).status().message(),
            "invalid CreateMemberRequest: member.skip_aggregation: not "
            "available in v20250224; choose products with data_request "
            "instead");
}

TEST(RequestValidation, SaysWhyARequestIdNeedsV20250224) {
  CreateMemberRequest request = ValidRequest();
  NoDataRequest(request);
  request.set_request_id("req-1");
  EXPECT_EQ(ValidateCreateMemberRequest(request, kV1).status().message(),
            "invalid CreateMemberRequest: request_id: needs v20250224 (only there can "
            "mxgate read a member back by its id); leave it empty under v20111101");
}

TEST(RequestValidation, NamesEarlierIndexOfDuplicate) {
  CreateMemberRequest request = ValidRequest();
  UseCases({2, 1, 2})(request);
  const absl::optional<google::rpc::BadRequest> bad_request =
      GetBadRequest(ValidateCreateMemberRequest(request, kV2).status());
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 1);
  EXPECT_EQ(bad_request->field_violations(0).description(),
            "duplicates member.use_cases[0]; list each value once");
}

TEST(RequestValidation, ListsEveryViolationInRequestOrder) {
  CreateMemberRequest request = ParseRequest(R"pb(
    user_identifier: ""
    accept_version: "latest"
    callback_payload: "abc"
    member {
      institution_code: ""
      is_oauth: true
      credentials { guid: "" value: "x" }
      credentials { guid: "CRD-1" value: "" }
      skip_aggregation: true
      use_cases: USE_CASE_PFM
      use_cases: USE_CASE_PFM
    }
    data_request {}
  )pb");
  request.set_referral_source(mx::platform::v1::ReferralSource(5));
  const absl::StatusOr<MxApiVersion> result = ValidateCreateMemberRequest(request, kV2);
  EXPECT_THAT(RefusedFields(result),
              ElementsAre("user_identifier", "accept_version", "callback_payload",
                          "member.institution_code", "member.credentials",
                          "member.credentials[0].guid", "member.credentials[1].value",
                          "member.skip_aggregation", "member.use_cases[1]",
                          "data_request.products", "referral_source"));
  EXPECT_EQ(result.status().message(),
            "invalid CreateMemberRequest: user_identifier: required (and 10 "
            "more)");
}

TEST(RequestValidation, NeverEchoesCredentialValue) {
  constexpr char kSecret[] = "hunter2-s3cret";
  CreateMemberRequest request = ValidRequest();
  // Refuse the credential holding the secret on every ground but its value.
  request.mutable_member()->set_is_oauth(true);
  request.mutable_member()->mutable_credentials(0)->set_guid("\n");
  request.mutable_member()->mutable_credentials(0)->set_value(kSecret);
  const absl::StatusOr<MxApiVersion> result = ValidateCreateMemberRequest(request, kV2);
  ASSERT_THAT(RefusedFields(result),
              ElementsAre("member.credentials", "member.credentials[0].guid"));
  ExpectNotEchoed(result.status(), kSecret);
}

// --- The five requests addressed to one member ---------------------------
//
// Get, GetStatus, Resume, Delete and Watch share fields 1 to 3
// (user_identifier, member_identifier, accept_version) and their rules.

// A request of type `Request` with these three fields, otherwise valid.
template <typename Request>
Request AddressedRequest(const std::string& user_identifier,
                         const std::string& member_identifier,
                         const std::string& accept_version) {
  Request request;
  if constexpr (std::is_same_v<Request, ResumeMemberRequest>) {
    request = ValidResumeRequest();
  }
  request.set_user_identifier(user_identifier);
  request.set_member_identifier(member_identifier);
  request.set_accept_version(accept_version);
  return request;
}

struct AddressAcceptance {
  std::string name;
  std::string user_identifier;
  std::string member_identifier;
  std::string accept_version;
  MxApiVersion server_default;
  MxApiVersion version;  // Returned.
};

// Refused under server default v20250224.
struct AddressRefusal {
  std::string name;
  std::string user_identifier;
  std::string member_identifier;
  std::string accept_version;
  std::vector<std::string> fields;  // The BadRequest field paths, in order.
};

std::vector<AddressAcceptance> AddressAcceptances() {
  return {
      {"UnderDefaultV20250224", "user-1", "member-1", "", kV2, kV2},
      {"UnderDefaultV20111101", "USR-1", "MBR-1", "", kV1, kV1},
      {"ExplicitV20250224OverDefault", "user-1", "member-1", "v20250224", kV1, kV2},
      {"ExplicitV20111101OverDefault", "USR-1", "MBR-1", "v20111101", kV2, kV1},
      {"IdentifiersWithSpaceAndNonAscii", "user 1 ü", "member 1 ü", "", kV2, kV2},
      {"IdentifiersOfThreeDots", "...", "...", "", kV2, kV2},
      // Percent-encoding them is the transport's job.
      {"IdentifiersWithPercentAndAmpersand", "a%2Fb", "a&b=c", "", kV2, kV2},
  };
}

std::vector<AddressRefusal> AddressRefusals() {
  return {
      {"EmptyUserIdentifier", "", "member-1", "", {"user_identifier"}},
      {"UserIdentifierWithSlash", "a/b", "member-1", "", {"user_identifier"}},
      {"UserIdentifierDotDot", "..", "member-1", "", {"user_identifier"}},
      {"EmptyMemberIdentifier", "user-1", "", "", {"member_identifier"}},
      // Each of these would change the path MX sees.
      {"MemberIdentifierWithSlash", "user-1", "a/b", "", {"member_identifier"}},
      {"MemberIdentifierWithQuery", "user-1", "a?b", "", {"member_identifier"}},
      {"MemberIdentifierWithFragment", "user-1", "a#b", "", {"member_identifier"}},
      {"MemberIdentifierWithNewline", "user-1", "a\nb", "", {"member_identifier"}},
      {"MemberIdentifierWithDelete", "user-1", "a\x7f", "", {"member_identifier"}},
      {"MemberIdentifierDot", "user-1", ".", "", {"member_identifier"}},
      {"MemberIdentifierDotDot", "user-1", "..", "", {"member_identifier"}},
      {"UnknownAcceptVersion", "user-1", "member-1", "v20990101", {"accept_version"}},
      {"AcceptVersionInOtherCase", "user-1", "member-1", "V20111101", {"accept_version"}},
      {"EveryField",
       "",
       "..",
       "latest",
       {"user_identifier", "member_identifier", "accept_version"}},
  };
}

template <typename Request>
class MemberAddressedRequest : public testing::Test {};

using MemberAddressedRequestTypes =
    testing::Types<GetMemberRequest, GetMemberStatusRequest, ResumeMemberRequest,
                   DeleteMemberRequest, WatchMemberStatusRequest>;

struct RequestTypeName {
  template <typename Request>
  static std::string GetName(int) {
    return std::string(Request::descriptor()->name());
  }
};

TYPED_TEST_SUITE(MemberAddressedRequest, MemberAddressedRequestTypes, RequestTypeName);

TYPED_TEST(MemberAddressedRequest, ReturnsVersion) {
  for (const AddressAcceptance& c : AddressAcceptances()) {
    SCOPED_TRACE(c.name);
    const absl::StatusOr<MxApiVersion> result =
        Validate(AddressedRequest<TypeParam>(c.user_identifier, c.member_identifier,
                                             c.accept_version),
                 c.server_default);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(*result, c.version);
  }
}

TYPED_TEST(MemberAddressedRequest, NamesEveryBadField) {
  for (const AddressRefusal& c : AddressRefusals()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(RefusedFields(
                  Validate(AddressedRequest<TypeParam>(
                               c.user_identifier, c.member_identifier, c.accept_version),
                           kV2)),
              c.fields);
  }
}

TYPED_TEST(MemberAddressedRequest, NamesRequestAndFirstBadFieldInMessage) {
  EXPECT_EQ(
      Validate(AddressedRequest<TypeParam>("", "..", "latest"), kV2).status().message(),
      absl::StrCat("invalid ", TypeParam::descriptor()->name(),
                   ": user_identifier: required (and 2 more)"));
}

TEST(RequestValidation, NamesGetMemberRequestAndPathSegmentRule) {
  EXPECT_EQ(
      ValidateGetMemberRequest(AddressedRequest<GetMemberRequest>("user-1", "a/b", ""),
                               kV2)
          .status()
          .message(),
      absl::StrCat("invalid GetMemberRequest: member_identifier: ", kPathSegmentRule));
}

TEST(RequestValidation, NamesWatchMemberStatusRequestInMessage) {
  EXPECT_EQ(ValidateWatchMemberStatusRequest(
                AddressedRequest<WatchMemberStatusRequest>("", "", ""), kV1)
                .status()
                .message(),
            "invalid WatchMemberStatusRequest: user_identifier: required (and "
            "1 more)");
}

// --- ListInstitutionCredentials -------------------------------------------

using ListRequest = ListInstitutionCredentialsRequest;

auto InstitutionCode(std::string value) {
  return [value = std::move(value)](ListRequest& r) { r.set_institution_code(value); };
}

auto Page(int value) {
  return [value](ListRequest& r) { r.set_page(value); };
}

auto RecordsPerPage(int value) {
  return [value](ListRequest& r) { r.set_records_per_page(value); };
}

class AcceptedListInstitutionCredentialsRequest
    : public testing::TestWithParam<Acceptance<ListRequest>> {};

TEST_P(AcceptedListInstitutionCredentialsRequest, ReturnsVersion) {
  ExpectAccepted(ValidListRequest(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    RequestValidation, AcceptedListInstitutionCredentialsRequest,
    testing::ValuesIn(std::vector<Acceptance<ListRequest>>{
        {"UnderDefaultV20250224", Unchanged<ListRequest>, kV2, kV2},
        {"UnderDefaultV20111101", Unchanged<ListRequest>, kV1, kV1},
        {"ExplicitV20250224OverDefault", AcceptVersion<ListRequest>("v20250224"), kV1,
         kV2},
        {"ExplicitV20111101OverDefault", AcceptVersion<ListRequest>("v20111101"), kV2,
         kV1},
        {"InstitutionGuid", InstitutionCode("INS-1234-abcd"), kV2, kV2},
        {"MxDefaultPage", Page(0), kV2, kV2},
        {"FirstPage", Page(1), kV2, kV2},
        {"MxDefaultRecordsPerPage", RecordsPerPage(0), kV2, kV2},
        {"RecordsPerPageOf1000", RecordsPerPage(1000), kV2, kV2},
        // MX documents 10 as its minimum; below it is left to MX.
        {"RecordsPerPageBelowMxMinimum", RecordsPerPage(1), kV2, kV2},
    }),
    CaseName<Acceptance<ListRequest>>);

class RefusedListInstitutionCredentialsRequest
    : public testing::TestWithParam<Refusal<ListRequest>> {};

TEST_P(RefusedListInstitutionCredentialsRequest, NamesEveryBadField) {
  ExpectRefused(ValidListRequest(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    RequestValidation, RefusedListInstitutionCredentialsRequest,
    testing::ValuesIn(std::vector<Refusal<ListRequest>>{
        {"EmptyInstitutionCode", InstitutionCode(""), {"institution_code"}},
        {"InstitutionCodeWithSlash", InstitutionCode("mx/bank"), {"institution_code"}},
        {"InstitutionCodeWithQuery",
         InstitutionCode("mxbank?page=9"),
         {"institution_code"}},
        {"InstitutionCodeWithLineBreak",
         InstitutionCode("mxbank\r\n"),
         {"institution_code"}},
        {"InstitutionCodeDotDot", InstitutionCode(".."), {"institution_code"}},
        {"NegativePage", Page(-1), {"page"}},
        {"MinimumIntPage", Page(INT_MIN), {"page"}},
        {"NegativeRecordsPerPage", RecordsPerPage(-1), {"records_per_page"}},
        {"RecordsPerPageOf1001", RecordsPerPage(1001), {"records_per_page"}},
        {"MaximumIntRecordsPerPage", RecordsPerPage(INT_MAX), {"records_per_page"}},
        {"UnknownAcceptVersion", AcceptVersion<ListRequest>("v2"), {"accept_version"}},
        {"UnknownAcceptVersionUnderDefaultV20111101",
         AcceptVersion<ListRequest>("v1"),
         {"accept_version"},
         kV1},
    }),
    CaseName<Refusal<ListRequest>>);

TEST(RequestValidation, GivesRecordsPerPageRange) {
  ListRequest request = ValidListRequest();
  request.set_records_per_page(5000);
  EXPECT_EQ(ValidateListInstitutionCredentialsRequest(request, kV2).status().message(),
            "invalid ListInstitutionCredentialsRequest: records_per_page: "
            "must be from 1 to 1000, or 0 for MX's default (25)");
}

TEST(RequestValidation, ListsEveryListInstitutionCredentialsViolationInOrder) {
  const ListRequest request = Parse<ListRequest>(R"pb(
    institution_code: "../admin"
    page: -2
    records_per_page: -25
    accept_version: "2025-02-24"
  )pb");
  const absl::StatusOr<MxApiVersion> result =
      ValidateListInstitutionCredentialsRequest(request, kV2);
  EXPECT_THAT(RefusedFields(result), ElementsAre("institution_code", "page",
                                                 "records_per_page", "accept_version"));
  EXPECT_EQ(result.status().message(),
            absl::StrCat("invalid ListInstitutionCredentialsRequest: "
                         "institution_code: ",
                         kPathSegmentRule, " (and 3 more)"));
}

// --- ResumeMember: the answers --------------------------------------------
// (Its address and version: MemberAddressedRequest above.)

class AcceptedResumeMemberRequest
    : public testing::TestWithParam<Acceptance<ResumeMemberRequest>> {};

TEST_P(AcceptedResumeMemberRequest, ReturnsVersion) {
  ExpectAccepted(ValidResumeRequest(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    RequestValidation, AcceptedResumeMemberRequest,
    testing::ValuesIn(std::vector<Acceptance<ResumeMemberRequest>>{
        {"TwoAnswers", Unchanged<ResumeMemberRequest>, kV2, kV2},
        {"OneAnswer",
         [](ResumeMemberRequest& r) { r.mutable_challenges()->RemoveLast(); }, kV2, kV2},
        {"AnswerWithSpacesAndNonAscii",
         [](ResumeMemberRequest& r) {
           r.mutable_challenges(0)->set_value("  my first pet: Fido ü ");
         },
         kV2, kV2},
        {"SameValueForTwoQuestions",
         [](ResumeMemberRequest& r) {
           r.mutable_challenges(1)->set_value(r.challenges(0).value());
         },
         kV2, kV2},
        // The guid goes into the body, not the path.
        {"GuidWithSlash",
         [](ResumeMemberRequest& r) { r.mutable_challenges(0)->set_guid("CRD/1"); }, kV2,
         kV2},
    }),
    CaseName<Acceptance<ResumeMemberRequest>>);

auto AddAnswer(std::string guid, std::string value) {
  return [guid = std::move(guid), value = std::move(value)](ResumeMemberRequest& r) {
    auto* answer = r.add_challenges();
    answer->set_guid(guid);
    answer->set_value(value);
  };
}

class RefusedResumeMemberRequest
    : public testing::TestWithParam<Refusal<ResumeMemberRequest>> {};

TEST_P(RefusedResumeMemberRequest, NamesEveryBadField) {
  ExpectRefused(ValidResumeRequest(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    RequestValidation, RefusedResumeMemberRequest,
    testing::ValuesIn(std::vector<Refusal<ResumeMemberRequest>>{
        {"NoAnswers",
         [](ResumeMemberRequest& r) { r.clear_challenges(); },
         {"challenges"}},
        {"AnswerWithoutGuid",
         [](ResumeMemberRequest& r) { r.mutable_challenges(1)->clear_guid(); },
         {"challenges[1].guid"}},
        {"GuidWithControlCharacter",
         [](ResumeMemberRequest& r) { r.mutable_challenges(0)->set_guid("CRD-1\r\n"); },
         {"challenges[0].guid"}},
        {"AnswerWithoutValue",
         [](ResumeMemberRequest& r) { r.mutable_challenges(1)->clear_value(); },
         {"challenges[1].value"}},
        {"DuplicateGuid", AddAnswer("CRD-question-1", "red"), {"challenges[2].guid"}},
        {"DuplicateGuidWithoutValue",
         AddAnswer("CRD-question-2", ""),
         {"challenges[2].guid", "challenges[2].value"}},
        // Missing twice is reported as missing, not as a duplicate.
        {"TwoAnswersWithoutGuid",
         [](ResumeMemberRequest& r) {
           r.mutable_challenges(0)->clear_guid();
           r.mutable_challenges(1)->clear_guid();
         },
         {"challenges[0].guid", "challenges[1].guid"}},
        {"UnknownAcceptVersionUnderDefaultV20111101",
         AcceptVersion<ResumeMemberRequest>("v3"),
         {"accept_version"},
         kV1},
    }),
    CaseName<Refusal<ResumeMemberRequest>>);

TEST(RequestValidation, AsksForAtLeastOneAnswer) {
  ResumeMemberRequest request = ValidResumeRequest();
  request.clear_challenges();
  EXPECT_EQ(ValidateResumeMemberRequest(request, kV2).status().message(),
            "invalid ResumeMemberRequest: challenges: at least one answer "
            "required (see GetMemberStatus)");
}

TEST(RequestValidation, NamesEarlierIndexOfDuplicateGuid) {
  ResumeMemberRequest request = ValidResumeRequest();
  AddAnswer("CRD-question-2", "Rex")(request);
  EXPECT_EQ(ValidateResumeMemberRequest(request, kV2).status().message(),
            "invalid ResumeMemberRequest: challenges[2].guid: duplicates "
            "challenges[1].guid; answer each challenge once");
}

TEST(RequestValidation, ListsEveryResumeMemberViolationInRequestOrder) {
  const ResumeMemberRequest request = Parse<ResumeMemberRequest>(R"pb(
    user_identifier: ""
    member_identifier: "MBR-1/resume"
    accept_version: "latest"
    challenges { guid: "" value: "" }
    challenges { guid: "CRD-1" value: "a" }
    challenges { guid: "CRD-1\t" value: "b" }
    challenges { guid: "CRD-1" value: "" }
  )pb");
  const absl::StatusOr<MxApiVersion> result = ValidateResumeMemberRequest(request, kV2);
  EXPECT_THAT(
      RefusedFields(result),
      ElementsAre("user_identifier", "member_identifier", "accept_version",
                  "challenges[0].guid", "challenges[0].value", "challenges[2].guid",
                  "challenges[3].guid", "challenges[3].value"));
  EXPECT_EQ(result.status().message(),
            "invalid ResumeMemberRequest: user_identifier: required (and 7 "
            "more)");
}

TEST(RequestValidation, NeverEchoesAnswerValue) {
  constexpr char kSecret[] = "mothers-maiden-name-s3cret";
  ResumeMemberRequest request = ValidResumeRequest();
  // Refuse the answers holding the secret on every ground but their value.
  request.mutable_challenges(0)->set_guid("CRD-1\n");
  request.mutable_challenges(0)->set_value(kSecret);
  request.mutable_challenges(1)->set_value(kSecret);
  AddAnswer("CRD-question-2", kSecret)(request);
  const absl::StatusOr<MxApiVersion> result = ValidateResumeMemberRequest(request, kV2);
  ASSERT_THAT(RefusedFields(result),
              ElementsAre("challenges[0].guid", "challenges[2].guid"));
  ExpectNotEchoed(result.status(), kSecret);
}

}  // namespace
}  // namespace mxgate
