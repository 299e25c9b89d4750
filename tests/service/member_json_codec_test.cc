#include "service/member_json_codec.h"

#include <cstdint>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::TextFormat;
using ::google::protobuf::util::MessageDifferencer;
using ::mx::platform::v1::ConnectionStatus;
using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::Member;
using ::mx::platform::v1::Product;
using ::mx::platform::v1::UseCase;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadTestdata(absl::string_view name) {
  const std::string path = absl::StrCat(MXGATE_TESTDATA_DIR, "/", name);
  std::ifstream file(path, std::ios::binary);
  EXPECT_TRUE(file.is_open()) << "cannot open " << path;
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

template <typename Message>
Message ParseTextProto(const std::string& text) {
  Message message;
  EXPECT_TRUE(TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// Fails with a field-by-field report when `actual` differs from `expected`.
void ExpectSameMember(const Member& actual, const Member& expected) {
  MessageDifferencer differencer;
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(expected, actual)) << differences;
}

// Every parameterised suite names its cases with a `name` member.
template <typename Case>
std::string CaseName(const testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

// --- EncodeCreateMemberBody against golden files ---

struct EncodeCase {
  const char* name;
  MxApiVersion version;
  const char* request;  // a CreateMemberRequest in text format
  const char* golden;   // the exact body, in tests/testdata
};
void PrintTo(const EncodeCase& c, std::ostream* os) { *os << c.name; }

class EncodeCreateMemberBodyTest : public testing::TestWithParam<EncodeCase> {};

TEST_P(EncodeCreateMemberBodyTest, WritesTheGoldenBytes) {
  const EncodeCase& c = GetParam();
  // Golden files end with a newline for editors; the body has none.
  const std::string golden(
      absl::StripTrailingAsciiWhitespace(ReadTestdata(c.golden)));
  EXPECT_EQ(EncodeCreateMemberBody(
                ParseTextProto<CreateMemberRequest>(c.request), c.version),
            golden);
}

INSTANTIATE_TEST_SUITE_P(
    GoldenFiles, EncodeCreateMemberBodyTest,
    testing::Values(
        // Every body field set. The non-body fields (user_identifier, ...)
        // and output-only Member fields are set too, and must not appear.
        EncodeCase{"FullV20250224Request", MxApiVersion::kV20250224, R"pb(
                     user_identifier: "u-1234"
                     accept_version: "v20250224"
                     callback_payload: "ZXhhbXBsZQ=="
                     request_id: "5f0c8a4e-0d5e-4a59-9a3e-0c2b7b0e6f11"
                     member {
                       institution_code: "mxbank"
                       id: "my-member-1"
                       is_oauth: false
                       metadata: "{\"source\":\"onboarding\"}"
                       background_aggregation_is_disabled: true
                       use_cases: [ USE_CASE_PFM, USE_CASE_MONEY_MOVEMENT ]
                       credentials {
                         guid: "CRD-27d0edb8-1d50-5b90-bcbc-be270ca42b9f"
                         value: "mxuser"
                       }
                       credentials {
                         guid: "CRD-78a4b3e1-8a0f-4e8b-9c42-2f2f7d0d1f10"
                         value: "password"
                       }
                       guid: "MBR-output-only"
                       name: "MX Bank"
                       connection_status: CONNECTION_STATUS_CONNECTED
                       is_manual: false
                       aggregated_at { seconds: 1476382077 }
                     }
                     data_request {
                       products: [
                         PRODUCT_TRANSACTIONS,
                         PRODUCT_ACCOUNT_VERIFICATION,
                         PRODUCT_TRANSACTION_HISTORY
                       ]
                     }
                     client_redirect_url: "https://example.com/mx/done"
                     enable_app2app: true
                     referral_source: REFERRAL_SOURCE_BROWSER
                     ui_message_webview_url_scheme: "mxgate"
                   )pb",
                   "create_member_request_v20250224.json"},
        // skip_aggregation exists only in v20111101; a set false optional
        // (background_aggregation_is_disabled) is still written.
        EncodeCase{"V20111101RequestWithSkipAggregation",
                   MxApiVersion::kV20111101, R"pb(
                     user_identifier: "USR-fa7537f3-48aa-a683-a02a-b18940482f54"
                     member {
                       institution_code: "mxbank"
                       id: "legacy-member-1"
                       skip_aggregation: true
                       background_aggregation_is_disabled: false
                       credentials {
                         guid: "CRD-27d0edb8-1d50-5b90-bcbc-be270ca42b9f"
                         value: "mxuser"
                       }
                       credentials {
                         guid: "CRD-78a4b3e1-8a0f-4e8b-9c42-2f2f7d0d1f10"
                         value: "password"
                       }
                     }
                   )pb",
                   "create_member_request_v20111101.json"},
        // No credentials, enable_app2app explicitly false, referral APP.
        EncodeCase{"OauthRequest", MxApiVersion::kV20250224, R"pb(
                     user_identifier: "u-1234"
                     member {
                       institution_code: "mx_bank_oauth"
                       id: "oauth-member-1"
                       is_oauth: true
                     }
                     client_redirect_url: "https://example.com/oauth/return"
                     enable_app2app: false
                     referral_source: REFERRAL_SOURCE_APP
                     ui_message_webview_url_scheme: "myapp"
                   )pb",
                   "create_member_request_oauth.json"},
        // Quotes, backslashes and control characters (NUL included) are
        // escaped; '/' and non-ASCII UTF-8 pass through unchanged.
        EncodeCase{"SpecialCharactersAreEscaped", MxApiVersion::kV20250224,
                   R"pb(
                     member {
                       institution_code: "mxbank"
                       id: "ünïcødé-🙂"
                       metadata: "\"quoted\" back\\slash /slash"
                                 "\n\t\r\b\f\001\037\000 end"
                       credentials { guid: "CRD-1" value: "p@ss\"w\\rd" }
                     }
                   )pb",
                   "create_member_request_escaping.json"}),
    CaseName<EncodeCase>);

// --- EncodeCreateMemberBody: fields the version lacks ---

TEST(EncodeCreateMemberBody, LeavesOutSkipAggregationUnderV20250224) {
  const auto request = ParseTextProto<CreateMemberRequest>(R"pb(
    member { institution_code: "mxbank" skip_aggregation: true }
  )pb");
  EXPECT_EQ(EncodeCreateMemberBody(request, MxApiVersion::kV20250224),
            R"({"member":{"institution_code":"mxbank"}})");
}

TEST(EncodeCreateMemberBody, LeavesOutDataRequestUnderV20111101) {
  const auto request = ParseTextProto<CreateMemberRequest>(R"pb(
    member { institution_code: "mxbank" }
    data_request { products: PRODUCT_TRANSACTIONS }
  )pb");
  EXPECT_EQ(EncodeCreateMemberBody(request, MxApiVersion::kV20111101),
            R"({"member":{"institution_code":"mxbank"}})");
}

TEST(EncodeCreateMemberBody, LeavesOutUnspecifiedEnumValues) {
  const auto request = ParseTextProto<CreateMemberRequest>(R"pb(
    member { institution_code: "mxbank" use_cases: USE_CASE_UNSPECIFIED }
    data_request { products: [ PRODUCT_UNSPECIFIED, PRODUCT_STATEMENTS ] }
    referral_source: REFERRAL_SOURCE_UNSPECIFIED
  )pb");
  EXPECT_EQ(EncodeCreateMemberBody(request, MxApiVersion::kV20250224),
            R"({"member":{"institution_code":"mxbank"},)"
            R"("data_request":{"products":["statements"]}})");
}

// --- DecodeMemberResponseBody against golden files ---

struct DecodeCase {
  const char* name;
  const char* body;      // MX's JSON, in tests/testdata
  const char* expected;  // the Member in text format, in tests/testdata
};
void PrintTo(const DecodeCase& c, std::ostream* os) { *os << c.name; }

class DecodeMemberResponseBodyTest : public testing::TestWithParam<DecodeCase> {
};

TEST_P(DecodeMemberResponseBodyTest, DecodesToTheExpectedMember) {
  const DecodeCase& c = GetParam();
  const absl::StatusOr<Member> member =
      DecodeMemberResponseBody(ReadTestdata(c.body));
  ASSERT_TRUE(member.ok()) << member.status();
  ExpectSameMember(*member, ParseTextProto<Member>(ReadTestdata(c.expected)));
}

INSTANTIATE_TEST_SUITE_P(
    GoldenFiles, DecodeMemberResponseBodyTest,
    testing::Values(
        DecodeCase{"SpecExampleWithEveryField", "member_response_full.json",
                   "member_response_full.textproto"},
        DecodeCase{"EveryFieldNull", "member_response_nulls.json",
                   "member_response_nulls.textproto"},
        DecodeCase{"UnknownKeysAndMxTypeBugs", "member_response_type_bugs.json",
                   "member_response_type_bugs.textproto"},
        DecodeCase{"V20111101OauthMember", "member_response_v20111101.json",
                   "member_response_v20111101.textproto"}),
    CaseName<DecodeCase>);

TEST(DecodeMemberResponseBody, DecodesAnEmptyMemberObjectToAnEmptyMember) {
  const absl::StatusOr<Member> member =
      DecodeMemberResponseBody(R"({"member":{}})");
  ASSERT_TRUE(member.ok()) << member.status();
  ExpectSameMember(*member, Member());
}

// --- DecodeMemberResponseBody: timestamps ---

struct TimestampCase {
  const char* name;
  const char* mx_value;
  bool parses;
  int64_t seconds;
  int32_t nanos;
};
void PrintTo(const TimestampCase& c, std::ostream* os) { *os << c.name; }

class DecodeTimestampTest : public testing::TestWithParam<TimestampCase> {};

TEST_P(DecodeTimestampTest, ParsesIso8601OrLeavesItUnset) {
  const TimestampCase& c = GetParam();
  const absl::StatusOr<Member> member = DecodeMemberResponseBody(
      absl::StrCat(R"({"member":{"aggregated_at":")", c.mx_value, R"("}})"));
  ASSERT_TRUE(member.ok()) << member.status();
  ASSERT_EQ(member->has_aggregated_at(), c.parses);
  EXPECT_EQ(member->aggregated_at().seconds(), c.seconds);
  EXPECT_EQ(member->aggregated_at().nanos(), c.nanos);
}

// 1476382077 is 2016-10-13T18:07:57Z.
INSTANTIATE_TEST_SUITE_P(
    Formats, DecodeTimestampTest,
    testing::Values(
        TimestampCase{"MxMilliseconds", "2016-10-13T18:07:57.000Z", true,
                      1476382077, 0},
        TimestampCase{"NoFraction", "2016-10-13T18:07:57Z", true, 1476382077,
                      0},
        TimestampCase{"Nanoseconds", "2016-10-13T18:07:57.123456789Z", true,
                      1476382077, 123456789},
        TimestampCase{"NegativeOffset", "2016-10-13T12:07:57-06:00", true,
                      1476382077, 0},
        TimestampCase{"PositiveOffsetWithFraction",
                      "2016-10-13T20:07:57.5+02:00", true, 1476382077,
                      500000000},
        TimestampCase{"BeforeTheEpoch", "1969-12-31T23:59:59.250Z", true, -1,
                      250000000},
        TimestampCase{"DateOnlyIsUnset", "2016-10-13", false, 0, 0},
        TimestampCase{"NoZoneIsUnset", "2016-10-13T18:07:57", false, 0, 0},
        TimestampCase{"SpaceSeparatorIsUnset", "2016-10-13 18:07:57Z", false, 0,
                      0},
        TimestampCase{"ImpossibleDateIsUnset", "2016-13-45T99:99:99Z", false, 0,
                      0},
        TimestampCase{"WordIsUnset", "yesterday", false, 0, 0},
        TimestampCase{"EmptyIsUnset", "", false, 0, 0}),
    CaseName<TimestampCase>);

// --- DecodeMemberResponseBody: malformed bodies ---

struct MalformedCase {
  const char* name;
  const char* body;
  const char* message;  // a part of the expected error message
};
void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class MalformedBodyTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedBodyTest, IsInternalUpstreamResponseMalformed) {
  const MalformedCase& c = GetParam();
  const absl::StatusOr<Member> member = DecodeMemberResponseBody(c.body);
  ASSERT_EQ(member.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(member.status().message(), HasSubstr(c.message));
  const absl::optional<google::rpc::ErrorInfo> info =
      GetErrorInfo(member.status());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->domain(), kErrorDomain);
  EXPECT_EQ(info->reason(), kReasonUpstreamResponseMalformed);
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, MalformedBodyTest,
    testing::Values(
        MalformedCase{"Empty", "", "MX's response body is empty"},
        MalformedCase{"NotJson", "not json", "MX's response body is not JSON"},
        MalformedCase{"Truncated", R"({"member":{"guid":"MBR-1")",
                      "is not JSON"},
        MalformedCase{"TrailingGarbage", R"({"member":{}} {})", "is not JSON"},
        MalformedCase{"InvalidUtf8", "{\"member\":{\"name\":\"\xff\"}}",
                      "is not JSON"},
        MalformedCase{"Array", "[]", "is not a JSON object"},
        MalformedCase{"String", R"("member")", "is not a JSON object"},
        MalformedCase{"EmptyObject", "{}", "has no member object"},
        MalformedCase{"NullMember", R"({"member":null})",
                      "has no member object"},
        MalformedCase{"StringMember", R"({"member":"x"})",
                      "has no member object"},
        MalformedCase{"ArrayMember", R"({"member":[]})",
                      "has no member object"},
        MalformedCase{"ErrorBodyOnly", R"({"error":{"message":"Oops"}})",
                      "has no member object"}),
    CaseName<MalformedCase>);

TEST(DecodeMemberResponseBody, NeverQuotesTheBodyInItsError) {
  for (const char* body :
       {"password=hunter2", R"({"member":"hunter2"})", "[\"hunter2\"]"}) {
    const absl::StatusOr<Member> member = DecodeMemberResponseBody(body);
    EXPECT_THAT(member.status().message(), Not(HasSubstr("hunter2"))) << body;
  }
}

// --- ExtractMxErrorMessage ---

struct ErrorMessageCase {
  const char* name;
  const char* body;
  absl::optional<std::string> message;
};
void PrintTo(const ErrorMessageCase& c, std::ostream* os) { *os << c.name; }

class ExtractMxErrorMessageTest
    : public testing::TestWithParam<ErrorMessageCase> {};

TEST_P(ExtractMxErrorMessageTest, FindsOnlyErrorDotMessageStrings) {
  EXPECT_EQ(ExtractMxErrorMessage(GetParam().body), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, ExtractMxErrorMessageTest,
    testing::Values(
        ErrorMessageCase{"PlatformShape",
                         R"({"error":{"message":"User not found."}})",
                         "User not found."},
        ErrorMessageCase{
            "PlatformShapeWithMoreKeys",
            R"({"error":{"type":"x","message":"Taken.","status":409}})",
            "Taken."},
        ErrorMessageCase{"EscapedMessage",
                         R"({"error":{"message":"Say \"hi\"\n"}})",
                         "Say \"hi\"\n"},
        ErrorMessageCase{"SsoShapeIsIgnored", R"({"error":"Not found"})",
                         absl::nullopt},
        ErrorMessageCase{"NexusShapeIsIgnored",
                         R"({"code":4220,"message":"Duplicate"})",
                         absl::nullopt},
        ErrorMessageCase{"NullMessage", R"({"error":{"message":null}})",
                         absl::nullopt},
        ErrorMessageCase{"NumberMessage", R"({"error":{"message":42}})",
                         absl::nullopt},
        ErrorMessageCase{"EmptyMessageSaysNothing",
                         R"({"error":{"message":""}})", absl::nullopt},
        ErrorMessageCase{"HtmlPage", "<html>502 Bad Gateway</html>",
                         absl::nullopt},
        ErrorMessageCase{"EmptyBody", "", absl::nullopt},
        ErrorMessageCase{"MemberBody", R"({"member":{"guid":"MBR-1"}})",
                         absl::nullopt}),
    CaseName<ErrorMessageCase>);

TEST(ExtractMxErrorMessage, CutsALongMessageOnACharacterBoundary) {
  // 1023 ASCII bytes then a two-byte character straddling the 1024 limit.
  const std::string long_message = std::string(1023, 'a') + "\xC3\xBC" + "tail";
  const absl::optional<std::string> message = ExtractMxErrorMessage(
      absl::StrCat(R"({"error":{"message":")", long_message, R"("}})"));
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(*message, std::string(1023, 'a') + "...");
}

TEST(ExtractMxErrorMessage, KeepsAMessageOfExactlyTheLimit) {
  const std::string exact(kMaxMxErrorMessageBytes, 'b');
  EXPECT_EQ(ExtractMxErrorMessage(absl::StrCat(R"({"error":{"message":")", exact, R"("}})")),
            exact);
}

// --- Enum <-> MX string tables ---

// Each MX string is the proto value's name without its prefix (lower case
// for products), so the proto enum itself is the expected table: a value
// added to the proto without an MX string fails here.
void ExpectMxNamesFollowProtoNames(
    const EnumDescriptor* descriptor, absl::string_view prefix, bool lower_case,
    absl::FunctionRef<absl::string_view(int)> to_mx) {
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const int number = descriptor->value(i)->number();
    absl::string_view name = descriptor->value(i)->name();
    ASSERT_TRUE(absl::ConsumePrefix(&name, prefix)) << name;
    const std::string expected = name == "UNSPECIFIED" ? ""
                                 : lower_case ? absl::AsciiStrToLower(name)
                                              : std::string(name);
    EXPECT_EQ(to_mx(number), expected) << descriptor->value(i)->name();
  }
}

TEST(MxEnumStrings, EveryProductHasMxsLowerCaseName) {
  ExpectMxNamesFollowProtoNames(
      ::mx::platform::v1::Product_descriptor(), "PRODUCT_", true,
      [](int value) { return ProductToMx(static_cast<Product>(value)); });
}

TEST(MxEnumStrings, EveryUseCaseHasMxsName) {
  ExpectMxNamesFollowProtoNames(
      ::mx::platform::v1::UseCase_descriptor(), "USE_CASE_", false,
      [](int value) { return UseCaseToMx(static_cast<UseCase>(value)); });
}

TEST(MxEnumStrings, EveryConnectionStatusHasMxsName) {
  ExpectMxNamesFollowProtoNames(
      ::mx::platform::v1::ConnectionStatus_descriptor(), "CONNECTION_STATUS_",
      false, [](int value) {
        return ConnectionStatusToMx(static_cast<ConnectionStatus>(value));
      });
}

TEST(MxEnumStrings, ConnectionStatusRoundTripsThroughMxStrings) {
  const EnumDescriptor* descriptor =
      ::mx::platform::v1::ConnectionStatus_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const auto status =
        static_cast<ConnectionStatus>(descriptor->value(i)->number());
    EXPECT_EQ(ConnectionStatusFromMx(ConnectionStatusToMx(status)), status)
        << descriptor->value(i)->name();
  }
}

TEST(MxEnumStrings, UnknownConnectionStatusIsUnspecified) {
  for (const char* mx : {"SOMETHING_NEW", "connected", " CONNECTED", ""}) {
    EXPECT_EQ(ConnectionStatusFromMx(mx),
              ::mx::platform::v1::CONNECTION_STATUS_UNSPECIFIED)
        << mx;
  }
}

}  // namespace
}  // namespace mxgate
