#include "service/member_json_codec.h"

#include <cstdint>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>

#include "absl/functional/function_ref.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::TextFormat;
using ::google::protobuf::util::MessageDifferencer;
using ::mx::platform::v1::ChallengeType;
using ::mx::platform::v1::ConnectionStatus;
using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::ListInstitutionCredentialsResponse;
using ::mx::platform::v1::Member;
using ::mx::platform::v1::MemberStatus;
using ::mx::platform::v1::Product;
using ::mx::platform::v1::ResumeMemberRequest;
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
void ExpectSameMessage(const google::protobuf::Message& actual,
                       const google::protobuf::Message& expected) {
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
  const std::string golden(absl::StripTrailingAsciiWhitespace(ReadTestdata(c.golden)));
  EXPECT_EQ(
      EncodeCreateMemberBody(ParseTextProto<CreateMemberRequest>(c.request), c.version),
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
        EncodeCase{"V20111101RequestWithSkipAggregation", MxApiVersion::kV20111101, R"pb(
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

// --- EncodeResumeMemberBody ---

TEST(EncodeResumeMemberBody, WritesTheGoldenBytes) {
  // The path fields and accept_version are not part of the body.
  const auto request = ParseTextProto<ResumeMemberRequest>(R"pb(
    user_identifier: "u-1234"
    member_identifier: "my-member-1"
    accept_version: "v20250224"
    challenges { guid: "CRD-ce76d2e3-86bd-ec4a-ec52-eb53b5194bf5" value: "correct" }
    challenges {
      guid: "CRD-1b8f3b1f-6ad5-4c1e-8e4b-3a3c4a5b6c7d"
      value: "say \"hi\" \\ ünï\n"
    }
  )pb");
  // Golden files end with a newline for editors; the body has none.
  const std::string golden(
      absl::StripTrailingAsciiWhitespace(ReadTestdata("resume_member_request.json")));
  EXPECT_EQ(EncodeResumeMemberBody(request), golden);
}

TEST(EncodeResumeMemberBody, WritesBothKeysOfAnAnswerEvenWhenEmpty) {
  const auto request = ParseTextProto<ResumeMemberRequest>(R"pb(
    challenges { guid: "CRD-1" value: "" }
    challenges {}
  )pb");
  EXPECT_EQ(EncodeResumeMemberBody(request),
            R"({"member":{"challenges":[{"guid":"CRD-1","value":""},)"
            R"({"guid":"","value":""}]}})");
}

TEST(EncodeResumeMemberBody, WritesAnEmptyChallengesArrayWithoutAnswers) {
  EXPECT_EQ(EncodeResumeMemberBody(ResumeMemberRequest()),
            R"({"member":{"challenges":[]}})");
}

// --- Decoders against golden files ---

struct DecodeCase {
  const char* name;
  const char* body;      // MX's JSON, in tests/testdata
  const char* expected;  // the decoded message in text format, likewise
};
void PrintTo(const DecodeCase& c, std::ostream* os) { *os << c.name; }

template <typename Message>
void ExpectDecodesToGolden(absl::StatusOr<Message> (*decode)(absl::string_view body),
                           const DecodeCase& c) {
  const absl::StatusOr<Message> decoded = decode(ReadTestdata(c.body));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameMessage(*decoded, ParseTextProto<Message>(ReadTestdata(c.expected)));
}

class DecodeMemberResponseBodyTest : public testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeMemberResponseBodyTest, DecodesToTheExpectedMember) {
  ExpectDecodesToGolden(&DecodeMemberResponseBody, GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    GoldenFiles, DecodeMemberResponseBodyTest,
    testing::Values(DecodeCase{"SpecExampleWithEveryField", "member_response_full.json",
                               "member_response_full.textproto"},
                    DecodeCase{"EveryFieldNull", "member_response_nulls.json",
                               "member_response_nulls.textproto"},
                    DecodeCase{"UnknownKeysAndMxTypeBugs",
                               "member_response_type_bugs.json",
                               "member_response_type_bugs.textproto"},
                    DecodeCase{"V20111101OauthMember", "member_response_v20111101.json",
                               "member_response_v20111101.textproto"}),
    CaseName<DecodeCase>);

class DecodeCredentialsResponseBodyTest : public testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeCredentialsResponseBodyTest, DecodesToTheExpectedFields) {
  ExpectDecodesToGolden(&DecodeCredentialsResponseBody, GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    GoldenFiles, DecodeCredentialsResponseBodyTest,
    testing::Values(DecodeCase{"SpecExampleWithPagination", "credentials_response.json",
                               "credentials_response.textproto"},
                    DecodeCase{"EveryFieldNull", "credentials_response_nulls.json",
                               "credentials_response_nulls.textproto"},
                    DecodeCase{"UnknownKeysAndWrongTypes",
                               "credentials_response_type_bugs.json",
                               "credentials_response_type_bugs.textproto"}),
    CaseName<DecodeCase>);

class DecodeMemberStatusResponseBodyTest : public testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeMemberStatusResponseBodyTest, DecodesToTheExpectedStatus) {
  ExpectDecodesToGolden(&DecodeMemberStatusResponseBody, GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    GoldenFiles, DecodeMemberStatusResponseBodyTest,
    testing::Values(DecodeCase{"SpecExampleConnected", "member_status_connected.json",
                               "member_status_connected.textproto"},
                    DecodeCase{"EveryFieldNull", "member_status_nulls.json",
                               "member_status_nulls.textproto"},
                    DecodeCase{"ChallengedWithText", "member_status_challenged_text.json",
                               "member_status_challenged_text.textproto"},
                    DecodeCase{"ChallengedWithOptionsThenToken",
                               "member_status_challenged_options.json",
                               "member_status_challenged_options.textproto"},
                    DecodeCase{"ChallengedWithImageOptionsThenImageData",
                               "member_status_challenged_image_options.json",
                               "member_status_challenged_image_options.textproto"},
                    DecodeCase{"ChallengeTypesSentAsIntegers",
                               "member_status_challenged_integer_type.json",
                               "member_status_challenged_integer_type.textproto"}),
    CaseName<DecodeCase>);

TEST(DecodeMemberResponseBody, DecodesAnEmptyMemberObjectToAnEmptyMember) {
  const absl::StatusOr<Member> member = DecodeMemberResponseBody(R"({"member":{}})");
  ASSERT_TRUE(member.ok()) << member.status();
  ExpectSameMessage(*member, Member());
}

TEST(DecodeMemberStatusResponseBody, DecodesAnEmptyMemberObjectToAnEmptyStatus) {
  const absl::StatusOr<MemberStatus> status =
      DecodeMemberStatusResponseBody(R"({"member":{}})");
  ASSERT_TRUE(status.ok()) << status.status();
  ExpectSameMessage(*status, MemberStatus());
}

TEST(DecodeMemberStatusResponseBody, KeepsAnUnknownConnectionStatusRaw) {
  const absl::StatusOr<MemberStatus> status = DecodeMemberStatusResponseBody(
      R"({"member":{"connection_status":"SOMETHING_NEW"}})");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->connection_status(),
            ::mx::platform::v1::CONNECTION_STATUS_UNSPECIFIED);
  EXPECT_EQ(status->connection_status_raw(), "SOMETHING_NEW");
}

TEST(DecodeMemberStatusResponseBody, ReadsChallengesThatAreNotAnArrayAsNone) {
  for (const char* challenges : {"null", R"("TEXT")", "{}", "0"}) {
    const absl::StatusOr<MemberStatus> status = DecodeMemberStatusResponseBody(
        absl::StrCat(R"({"member":{"guid":"MBR-1","challenges":)", challenges, "}}"));
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(status->guid(), "MBR-1") << challenges;
    EXPECT_EQ(status->challenges_size(), 0) << challenges;
  }
}

TEST(DecodeCredentialsResponseBody, LeavesAMissingOrNullPaginationUnset) {
  for (const char* body :
       {R"({"credentials":[]})", R"({"credentials":[],"pagination":null})",
        R"({"credentials":[],"pagination":[1]})"}) {
    const absl::StatusOr<ListInstitutionCredentialsResponse> response =
        DecodeCredentialsResponseBody(body);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_FALSE(response->has_pagination()) << body;
    EXPECT_EQ(response->credentials_size(), 0) << body;
  }
}

// --- DecodeMemberStatusResponseBody: a challenge's `type` ---

struct ChallengeTypeCase {
  const char* name;
  const char* mx_type;  // the JSON value of `type`
  ChallengeType type;
  const char* type_raw;
};
void PrintTo(const ChallengeTypeCase& c, std::ostream* os) { *os << c.name; }

class DecodeChallengeTypeTest : public testing::TestWithParam<ChallengeTypeCase> {};

TEST_P(DecodeChallengeTypeTest, ReadsStringsAndIntegersAndKeepsTheRawValue) {
  const ChallengeTypeCase& c = GetParam();
  const absl::StatusOr<MemberStatus> status = DecodeMemberStatusResponseBody(
      absl::StrCat(R"({"member":{"challenges":[{"type":)", c.mx_type, "}]}}"));
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->challenges_size(), 1);
  EXPECT_EQ(status->challenges(0).type(), c.type);
  EXPECT_EQ(status->challenges(0).type_raw(), c.type_raw);
}

INSTANTIATE_TEST_SUITE_P(
    Values, DecodeChallengeTypeTest,
    testing::Values(
        ChallengeTypeCase{"TokenString", R"("TOKEN")",
                          ::mx::platform::v1::CHALLENGE_TYPE_TOKEN, "TOKEN"},
        ChallengeTypeCase{"ZeroIsText", "0", ::mx::platform::v1::CHALLENGE_TYPE_TEXT,
                          "0"},
        ChallengeTypeCase{"UnknownStringIsUnspecified", R"("SECURITY_KEY")",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, "SECURITY_KEY"},
        ChallengeTypeCase{"LowerCaseIsUnspecified", R"("text")",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, "text"},
        ChallengeTypeCase{"EmptyStringIsUnspecified", R"("")",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, ""},
        ChallengeTypeCase{"IntegerPastTheListIsUnspecified", "5",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, "5"},
        ChallengeTypeCase{"NegativeIntegerIsUnspecified", "-1",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, "-1"},
        ChallengeTypeCase{"IntegerBeyondInt64KeepsItsDigits", "18446744073709551615",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED,
                          "18446744073709551615"},
        ChallengeTypeCase{"FractionIsUnset", "1.5",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, ""},
        ChallengeTypeCase{"WholeFractionIsUnset", "1.0",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, ""},
        ChallengeTypeCase{"BooleanIsUnset", "true",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, ""},
        ChallengeTypeCase{"NullIsUnset", "null",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, ""},
        ChallengeTypeCase{"ObjectIsUnset", R"({"name":"TEXT"})",
                          ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED, ""}),
    CaseName<ChallengeTypeCase>);

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
        TimestampCase{"MxMilliseconds", "2016-10-13T18:07:57.000Z", true, 1476382077, 0},
        TimestampCase{"NoFraction", "2016-10-13T18:07:57Z", true, 1476382077, 0},
        TimestampCase{"Nanoseconds", "2016-10-13T18:07:57.123456789Z", true, 1476382077,
                      123456789},
        TimestampCase{"NegativeOffset", "2016-10-13T12:07:57-06:00", true, 1476382077, 0},
        TimestampCase{"PositiveOffsetWithFraction", "2016-10-13T20:07:57.5+02:00", true,
                      1476382077, 500000000},
        TimestampCase{"BeforeTheEpoch", "1969-12-31T23:59:59.250Z", true, -1, 250000000},
        TimestampCase{"DateOnlyIsUnset", "2016-10-13", false, 0, 0},
        TimestampCase{"NoZoneIsUnset", "2016-10-13T18:07:57", false, 0, 0},
        TimestampCase{"SpaceSeparatorIsUnset", "2016-10-13 18:07:57Z", false, 0, 0},
        TimestampCase{"ImpossibleDateIsUnset", "2016-13-45T99:99:99Z", false, 0, 0},
        TimestampCase{"WordIsUnset", "yesterday", false, 0, 0},
        TimestampCase{"EmptyIsUnset", "", false, 0, 0}),
    CaseName<TimestampCase>);

// --- Decoders: malformed bodies ---

// One of the codec's decoders, reduced to its status so that one table of
// bad bodies serves them all.
struct Decoder {
  const char* name;
  absl::Status (*decode)(absl::string_view body);
};
void PrintTo(const Decoder& d, std::ostream* os) { *os << d.name; }

constexpr Decoder kMemberDecoder = {"Member", [](absl::string_view body) {
                                      return DecodeMemberResponseBody(body).status();
                                    }};
constexpr Decoder kMemberStatusDecoder = {
    "MemberStatus",
    [](absl::string_view body) { return DecodeMemberStatusResponseBody(body).status(); }};
constexpr Decoder kCredentialsDecoder = {
    "Credentials",
    [](absl::string_view body) { return DecodeCredentialsResponseBody(body).status(); }};
constexpr Decoder kEveryDecoder[] = {kMemberDecoder, kMemberStatusDecoder,
                                     kCredentialsDecoder};

struct MalformedCase {
  const char* name;
  const char* body;
  const char* message;  // a part of the expected error message
};
void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

// Bodies no decoder can read.
constexpr MalformedCase kUnparseableBodies[] = {
    {"Empty", "", "MX's response body is empty"},
    {"NotJson", "not json", "MX's response body is not JSON"},
    {"Truncated", R"({"member":{"guid":"MBR-1")", "is not JSON"},
    {"TrailingGarbage", R"({"member":{}} {})", "is not JSON"},
    {"InvalidUtf8", "{\"member\":{\"name\":\"\xff\"}}", "is not JSON"},
    {"Array", "[]", "is not a JSON object"},
    {"String", R"("member")", "is not a JSON object"},
};

// Objects without the `member` object of MemberResponseBody and
// MemberStatusResponseBody.
constexpr MalformedCase kBodiesWithoutMember[] = {
    {"EmptyObject", "{}", "has no member object"},
    {"NullMember", R"({"member":null})", "has no member object"},
    {"StringMember", R"({"member":"x"})", "has no member object"},
    {"ArrayMember", R"({"member":[]})", "has no member object"},
    {"ErrorBodyOnly", R"({"error":{"message":"Oops"}})", "has no member object"},
};

// Objects without the `credentials` array of CredentialsResponseBody.
constexpr MalformedCase kBodiesWithoutCredentials[] = {
    {"EmptyObject", "{}", "has no credentials array"},
    {"NullCredentials", R"({"credentials":null})", "has no credentials array"},
    {"ObjectCredentials", R"({"credentials":{"guid":"CRD-1"}})",
     "has no credentials array"},
    {"StringCredentials", R"({"credentials":"x"})", "has no credentials array"},
    {"PaginationOnly", R"({"pagination":{"current_page":1}})",
     "has no credentials array"},
    {"ErrorBodyOnly", R"({"error":{"message":"Oops"}})", "has no credentials array"},
};

class MalformedBodyTest
    : public testing::TestWithParam<std::tuple<Decoder, MalformedCase>> {};

TEST_P(MalformedBodyTest, IsInternalUpstreamResponseMalformed) {
  const auto& [decoder, c] = GetParam();
  const absl::Status status = decoder.decode(c.body);
  ASSERT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_THAT(status.message(), HasSubstr(c.message));
  const absl::optional<google::rpc::ErrorInfo> info = GetErrorInfo(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->domain(), kErrorDomain);
  EXPECT_EQ(info->reason(), kReasonUpstreamResponseMalformed);
  EXPECT_TRUE(info->metadata().empty());
}

std::string MalformedCaseName(
    const testing::TestParamInfo<std::tuple<Decoder, MalformedCase>>& info) {
  return absl::StrCat(std::get<1>(info.param).name, "For", std::get<0>(info.param).name);
}

INSTANTIATE_TEST_SUITE_P(Unparseable, MalformedBodyTest,
                         testing::Combine(testing::ValuesIn(kEveryDecoder),
                                          testing::ValuesIn(kUnparseableBodies)),
                         MalformedCaseName);
INSTANTIATE_TEST_SUITE_P(WithoutMember, MalformedBodyTest,
                         testing::Combine(testing::Values(kMemberDecoder,
                                                          kMemberStatusDecoder),
                                          testing::ValuesIn(kBodiesWithoutMember)),
                         MalformedCaseName);
INSTANTIATE_TEST_SUITE_P(WithoutCredentials, MalformedBodyTest,
                         testing::Combine(testing::Values(kCredentialsDecoder),
                                          testing::ValuesIn(kBodiesWithoutCredentials)),
                         MalformedCaseName);

TEST(Decoders, NeverQuoteTheBodyInTheirErrors) {
  for (const Decoder& decoder : kEveryDecoder) {
    for (const char* body : {"password=hunter2", R"({"member":"hunter2"})",
                             R"({"credentials":"hunter2"})", "[\"hunter2\"]"}) {
      EXPECT_THAT(decoder.decode(body).message(), Not(HasSubstr("hunter2")))
          << decoder.name << ": " << body;
    }
  }
}

// --- ExtractMxErrorMessage ---

struct ErrorMessageCase {
  const char* name;
  const char* body;
  absl::optional<std::string> message;
};
void PrintTo(const ErrorMessageCase& c, std::ostream* os) { *os << c.name; }

class ExtractMxErrorMessageTest : public testing::TestWithParam<ErrorMessageCase> {};

TEST_P(ExtractMxErrorMessageTest, FindsOnlyErrorDotMessageStrings) {
  EXPECT_EQ(ExtractMxErrorMessage(GetParam().body), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, ExtractMxErrorMessageTest,
    testing::Values(
        ErrorMessageCase{"PlatformShape", R"({"error":{"message":"User not found."}})",
                         "User not found."},
        ErrorMessageCase{"PlatformShapeWithMoreKeys",
                         R"({"error":{"type":"x","message":"Taken.","status":409}})",
                         "Taken."},
        ErrorMessageCase{"EscapedMessage", R"({"error":{"message":"Say \"hi\"\n"}})",
                         "Say \"hi\"\n"},
        ErrorMessageCase{"SsoShapeIsIgnored", R"({"error":"Not found"})", absl::nullopt},
        ErrorMessageCase{"NexusShapeIsIgnored", R"({"code":4220,"message":"Duplicate"})",
                         absl::nullopt},
        ErrorMessageCase{"NullMessage", R"({"error":{"message":null}})", absl::nullopt},
        ErrorMessageCase{"NumberMessage", R"({"error":{"message":42}})", absl::nullopt},
        ErrorMessageCase{"EmptyMessageSaysNothing", R"({"error":{"message":""}})",
                         absl::nullopt},
        ErrorMessageCase{"HtmlPage", "<html>502 Bad Gateway</html>", absl::nullopt},
        ErrorMessageCase{"EmptyBody", "", absl::nullopt},
        ErrorMessageCase{"MemberBody", R"({"member":{"guid":"MBR-1"}})", absl::nullopt},
        // The key spelled with escapes is still the key "error".
        ErrorMessageCase{"EscapedKey", R"({"\u0065rror":{"message":"Escaped key."}})",
                         "Escaped key."},
        ErrorMessageCase{"SpacesAroundTheKey",
                         R"({ "error" : { "message" : "Spaced." } })", "Spaced."}),
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
  EXPECT_EQ(
      ExtractMxErrorMessage(absl::StrCat(R"({"error":{"message":")", exact, R"("}})")),
      exact);
}

// --- Enum <-> MX string tables ---

// Each MX string is the proto value's name without its prefix (lower case
// for products), so the proto enum itself is the expected table: a value
// added to the proto without an MX string fails here.
void ExpectMxNamesFollowProtoNames(const EnumDescriptor* descriptor,
                                   absl::string_view prefix, bool lower_case,
                                   absl::FunctionRef<absl::string_view(int)> to_mx) {
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const int number = descriptor->value(i)->number();
    absl::string_view name = descriptor->value(i)->name();
    ASSERT_TRUE(absl::ConsumePrefix(&name, prefix)) << name;
    const std::string expected = name == "UNSPECIFIED" ? ""
                                 : lower_case          ? absl::AsciiStrToLower(name)
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
      ::mx::platform::v1::ConnectionStatus_descriptor(), "CONNECTION_STATUS_", false,
      [](int value) {
        return ConnectionStatusToMx(static_cast<ConnectionStatus>(value));
      });
}

TEST(MxEnumStrings, ConnectionStatusRoundTripsThroughMxStrings) {
  const EnumDescriptor* descriptor = ::mx::platform::v1::ConnectionStatus_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const auto status = static_cast<ConnectionStatus>(descriptor->value(i)->number());
    EXPECT_EQ(ConnectionStatusFromMx(ConnectionStatusToMx(status)), status)
        << descriptor->value(i)->name();
  }
}

// ChallengeType has no public ToMx: its table is checked through the
// decoder, by MX's string and by the integer MX may send instead.
TEST(MxEnumStrings, EveryChallengeTypeIsReadFromMxsNameAndFromItsInteger) {
  const EnumDescriptor* descriptor = ::mx::platform::v1::ChallengeType_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const int number = descriptor->value(i)->number();
    if (number == ::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED) continue;
    absl::string_view name = descriptor->value(i)->name();
    ASSERT_TRUE(absl::ConsumePrefix(&name, "CHALLENGE_TYPE_")) << name;
    // 0 = TEXT: the integers count from MX's first type, not from
    // UNSPECIFIED.
    for (const std::string& mx_type :
         {absl::StrCat("\"", name, "\""), absl::StrCat(number - 1)}) {
      const absl::StatusOr<MemberStatus> status = DecodeMemberStatusResponseBody(
          absl::StrCat(R"({"member":{"challenges":[{"type":)", mx_type, "}]}}"));
      ASSERT_TRUE(status.ok()) << status.status();
      ASSERT_EQ(status->challenges_size(), 1);
      EXPECT_EQ(status->challenges(0).type(), number) << mx_type;
    }
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
