#include "service/request_validation.h"

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::Product;
using ::mx::platform::v1::UseCase;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::Property;

constexpr MxApiVersion kV1 = MxApiVersion::kV20111101;
constexpr MxApiVersion kV2 = MxApiVersion::kV20250224;

CreateMemberRequest ParseRequest(const std::string& text) {
  CreateMemberRequest request;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request));
  return request;
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

// Checks what every validation error shares (INVALID_ARGUMENT, ErrorInfo
// mxgate/INVALID_REQUEST) and returns the BadRequest field paths in order.
std::vector<std::string> RefusedFields(
    const absl::StatusOr<MxApiVersion>& result) {
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      GetErrorInfo(result.status()),
      Optional(
          AllOf(Property(&google::rpc::ErrorInfo::domain, "mxgate"),
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

// ValidRequest() after `change` is accepted; `name` says what it shows.
struct Acceptance {
  std::string name;
  std::function<void(CreateMemberRequest&)> change;
  MxApiVersion server_default;
  MxApiVersion version;  // Returned.
};

// ValidRequest() after `change` is refused; `name` says what it shows.
struct Refusal {
  std::string name;
  std::function<void(CreateMemberRequest&)> change;
  std::vector<std::string> fields;  // The BadRequest field paths, in order.
  MxApiVersion server_default = kV2;
};

void PrintTo(const Acceptance& c, std::ostream* os) { *os << c.name; }
void PrintTo(const Refusal& c, std::ostream* os) { *os << c.name; }

template <typename Case>
std::string CaseName(const testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

auto UserIdentifier(std::string value) {
  return [value](CreateMemberRequest& r) { r.set_user_identifier(value); };
}

auto CallbackPayload(std::string value) {
  return [value](CreateMemberRequest& r) { r.set_callback_payload(value); };
}

void NoDataRequest(CreateMemberRequest& r) { r.clear_data_request(); }

void NoCredentials(CreateMemberRequest& r) {
  r.mutable_member()->clear_credentials();
}

auto UseCases(std::vector<int> values) {
  return [values](CreateMemberRequest& r) {
    for (int v : values) r.mutable_member()->add_use_cases(UseCase(v));
  };
}

auto Products(std::vector<int> values) {
  return [values](CreateMemberRequest& r) {
    r.mutable_data_request()->clear_products();
    for (int v : values) r.mutable_data_request()->add_products(Product(v));
  };
}

class AcceptedRequest : public testing::TestWithParam<Acceptance> {};

TEST_P(AcceptedRequest, ReturnsVersion) {
  CreateMemberRequest request = ValidRequest();
  GetParam().change(request);
  const absl::StatusOr<MxApiVersion> result =
      ValidateCreateMemberRequest(request, GetParam().server_default);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, GetParam().version);
}

INSTANTIATE_TEST_SUITE_P(
    RequestValidation, AcceptedRequest,
    testing::ValuesIn(std::vector<Acceptance>{
        {"BaselineUnderDefaultV20250224", [](CreateMemberRequest&) {}, kV2,
         kV2},
        {"BaselineUnderDefaultV20111101", NoDataRequest, kV1, kV1},
        {"ExplicitV20250224OverDefault",
         [](CreateMemberRequest& r) { r.set_accept_version("v20250224"); }, kV1,
         kV2},
        {"ExplicitV20111101OverDefault",
         [](CreateMemberRequest& r) {
           r.set_accept_version("v20111101");
           r.clear_data_request();
         },
         kV2, kV1},
        {"UserIdentifierWithSpaceAndNonAscii", UserIdentifier("user 1 ü"), kV2,
         kV2},
        {"UserIdentifierOfThreeDots", UserIdentifier("..."), kV2, kV2},
        {"PaddedBase64Payload", CallbackPayload("aGVsbG8="), kV2, kV2},
        {"DoublePaddedBase64Payload", CallbackPayload("YQ=="), kV2, kV2},
        {"PayloadOf1024Characters",
         CallbackPayload(std::string(1020, 'A') + "+/=="), kV2, kV2},
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
        {"RequestId",
         [](CreateMemberRequest& r) { r.set_request_id("not even a uuid"); },
         kV2, kV2},
    }),
    CaseName<Acceptance>);

class RefusedRequest : public testing::TestWithParam<Refusal> {};

TEST_P(RefusedRequest, NamesEveryBadField) {
  CreateMemberRequest request = ValidRequest();
  GetParam().change(request);
  EXPECT_EQ(RefusedFields(ValidateCreateMemberRequest(
                request, GetParam().server_default)),
            GetParam().fields);
}

INSTANTIATE_TEST_SUITE_P(
    RequestValidation, RefusedRequest,
    testing::ValuesIn(std::vector<Refusal>{
        {"EmptyUserIdentifier", UserIdentifier(""), {"user_identifier"}},
        // Each of these would change the path MX sees.
        {"UserIdentifierWithSlash", UserIdentifier("a/b"), {"user_identifier"}},
        {"UserIdentifierWithQuery", UserIdentifier("a?b"), {"user_identifier"}},
        {"UserIdentifierWithFragment",
         UserIdentifier("a#b"),
         {"user_identifier"}},
        {"UserIdentifierWithNewline",
         UserIdentifier("a\nb"),
         {"user_identifier"}},
        {"UserIdentifierWithDelete",
         UserIdentifier("a\x7f"),
         {"user_identifier"}},
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
        {"PayloadNotMultipleOfFour",
         CallbackPayload("abc"),
         {"callback_payload"}},
        {"PayloadWithInnerPadding",
         CallbackPayload("a=bc"),
         {"callback_payload"}},
        {"PayloadOfOnlyPadding", CallbackPayload("===="), {"callback_payload"}},
        {"PayloadWithLineBreak",
         CallbackPayload("aGVs\r\nbG8="),
         {"callback_payload"}},
        {"PayloadInUrlSafeAlphabet",
         CallbackPayload("aGVsbG8-"),
         {"callback_payload"}},
        {"MissingMember",
         [](CreateMemberRequest& r) { r.clear_member(); },
         {"member"}},
        {"EmptyInstitutionCode",
         [](CreateMemberRequest& r) {
           r.mutable_member()->clear_institution_code();
         },
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
         [](CreateMemberRequest& r) {
           r.mutable_member()->set_skip_aggregation(false);
         },
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
    }),
    CaseName<Refusal>);

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
  const absl::StatusOr<MxApiVersion> result =
      ValidateCreateMemberRequest(request, kV2);
  EXPECT_THAT(
      RefusedFields(result),
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
  const absl::StatusOr<MxApiVersion> result =
      ValidateCreateMemberRequest(request, kV2);
  const absl::Status& status = result.status();
  ASSERT_THAT(RefusedFields(result),
              ElementsAre("member.credentials", "member.credentials[0].guid"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kSecret)));
  const google::rpc::BadRequest bad_request = *GetBadRequest(status);
  for (const auto& violation : bad_request.field_violations()) {
    EXPECT_THAT(violation.description(), Not(HasSubstr(kSecret)));
  }
}

}  // namespace
}  // namespace mxgate
