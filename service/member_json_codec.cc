#include "service/member_json_codec.h"

#include <string.h>  // explicit_bzero

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::mx::platform::v1::Challenge;
using ::mx::platform::v1::ChallengeOption;
using ::mx::platform::v1::ChallengeType;
using ::mx::platform::v1::ConnectionStatus;
using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::CredentialField;
using ::mx::platform::v1::ListInstitutionCredentialsResponse;
using ::mx::platform::v1::Member;
using ::mx::platform::v1::MemberStatus;
using ::mx::platform::v1::Pagination;
using ::mx::platform::v1::Product;
using ::mx::platform::v1::ReferralSource;
using ::mx::platform::v1::ResumeMemberRequest;
using ::mx::platform::v1::UseCase;

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// MX's JSON keys, each spelled once.
// MemberCreateRequestBody.
constexpr char kMember[] = "member";
constexpr char kDataRequest[] = "data_request";
constexpr char kProducts[] = "products";
constexpr char kClientRedirectUrl[] = "client_redirect_url";
constexpr char kEnableApp2app[] = "enable_app2app";
constexpr char kReferralSource[] = "referral_source";
constexpr char kUiMessageWebviewUrlScheme[] = "ui_message_webview_url_scheme";
// MemberCreateRequest and MemberResponse.
constexpr char kInstitutionCode[] = "institution_code";
constexpr char kCredentials[] = "credentials";
constexpr char kGuid[] = "guid";  // also the member's own guid
constexpr char kValue[] = "value";
constexpr char kId[] = "id";
constexpr char kIsOauth[] = "is_oauth";
constexpr char kMetadata[] = "metadata";
constexpr char kSkipAggregation[] = "skip_aggregation";
constexpr char kBackgroundAggregationIsDisabled[] = "background_aggregation_is_disabled";
constexpr char kUseCases[] = "use_cases";
// MemberResponse only.
constexpr char kUserGuid[] = "user_guid";
constexpr char kUserId[] = "user_id";
constexpr char kInstitutionGuid[] = "institution_guid";
constexpr char kName[] = "name";
constexpr char kConnectionStatus[] = "connection_status";
constexpr char kConnectionStatusMessage[] = "connection_status_message";
constexpr char kIsBeingAggregated[] = "is_being_aggregated";
constexpr char kAggregatedAt[] = "aggregated_at";
constexpr char kSuccessfullyAggregatedAt[] = "successfully_aggregated_at";
constexpr char kMostRecentJobGuid[] = "most_recent_job_guid";
constexpr char kOauthWindowUri[] = "oauth_window_uri";
constexpr char kIsManagedByUser[] = "is_managed_by_user";
constexpr char kIsManual[] = "is_manual";
constexpr char kNeedsUpdatedCredentials[] = "needs_updated_credentials";
// MemberStatusResponse only (guid, connection_status and the aggregation
// fields are MemberResponse's keys).
constexpr char kIsAuthenticated[] = "is_authenticated";
constexpr char kHasProcessedAccounts[] = "has_processed_accounts";
constexpr char kHasProcessedAccountNumbers[] = "has_processed_account_numbers";
constexpr char kHasProcessedTransactions[] = "has_processed_transactions";
// ChallengeResponse, its options, and MemberResumeRequest's `challenges`
// (answers of guid and value).
constexpr char kChallenges[] = "challenges";
constexpr char kLabel[] = "label";
constexpr char kFieldName[] = "field_name";  // also CredentialResponse's
constexpr char kType[] = "type";             // also CredentialResponse's
constexpr char kImageData[] = "image_data";
constexpr char kOptions[] = "options";
constexpr char kImageOptions[] = "image_options";
constexpr char kDataUri[] = "data_uri";
// CredentialResponse only.
constexpr char kDisplayOrder[] = "display_order";
constexpr char kFieldType[] = "field_type";
// PaginationResponse, under `pagination`.
constexpr char kPagination[] = "pagination";
constexpr char kCurrentPage[] = "current_page";
constexpr char kPerPage[] = "per_page";
constexpr char kTotalEntries[] = "total_entries";
constexpr char kTotalPages[] = "total_pages";
// Error bodies: {"error": {"message": "..."}}.
constexpr char kError[] = "error";
constexpr char kErrorMessage[] = "message";

// One proto enum value and MX's string for it. Each table below serves both
// directions.
template <typename Enum>
struct MxName {
  Enum value;
  const char* mx;
};

constexpr MxName<Product> kProductNames[] = {
    {::mx::platform::v1::PRODUCT_ACCOUNT_VERIFICATION, "account_verification"},
    {::mx::platform::v1::PRODUCT_IDENTITY_VERIFICATION, "identity_verification"},
    {::mx::platform::v1::PRODUCT_TRANSACTIONS, "transactions"},
    {::mx::platform::v1::PRODUCT_TRANSACTION_HISTORY, "transaction_history"},
    {::mx::platform::v1::PRODUCT_STATEMENTS, "statements"},
    {::mx::platform::v1::PRODUCT_INVESTMENTS, "investments"},
    {::mx::platform::v1::PRODUCT_REWARDS, "rewards"},
};

constexpr MxName<UseCase> kUseCaseNames[] = {
    {::mx::platform::v1::USE_CASE_PFM, "PFM"},
    {::mx::platform::v1::USE_CASE_MONEY_MOVEMENT, "MONEY_MOVEMENT"},
};

// MX documents only these two values (default BROWSER).
constexpr MxName<ReferralSource> kReferralSourceNames[] = {
    {::mx::platform::v1::REFERRAL_SOURCE_BROWSER, "BROWSER"},
    {::mx::platform::v1::REFERRAL_SOURCE_APP, "APP"},
};

// The v20250224 spec's enum; v20111101 sends the same words untyped.
constexpr MxName<ConnectionStatus> kConnectionStatusNames[] = {
    {::mx::platform::v1::CONNECTION_STATUS_CREATED, "CREATED"},
    {::mx::platform::v1::CONNECTION_STATUS_PREVENTED, "PREVENTED"},
    {::mx::platform::v1::CONNECTION_STATUS_DENIED, "DENIED"},
    {::mx::platform::v1::CONNECTION_STATUS_CHALLENGED, "CHALLENGED"},
    {::mx::platform::v1::CONNECTION_STATUS_REJECTED, "REJECTED"},
    {::mx::platform::v1::CONNECTION_STATUS_LOCKED, "LOCKED"},
    {::mx::platform::v1::CONNECTION_STATUS_CONNECTED, "CONNECTED"},
    {::mx::platform::v1::CONNECTION_STATUS_IMPEDED, "IMPEDED"},
    {::mx::platform::v1::CONNECTION_STATUS_RECONNECTED, "RECONNECTED"},
    {::mx::platform::v1::CONNECTION_STATUS_DEGRADED, "DEGRADED"},
    {::mx::platform::v1::CONNECTION_STATUS_DISCONNECTED, "DISCONNECTED"},
    {::mx::platform::v1::CONNECTION_STATUS_DISCONTINUED, "DISCONTINUED"},
    {::mx::platform::v1::CONNECTION_STATUS_CLOSED, "CLOSED"},
    {::mx::platform::v1::CONNECTION_STATUS_DELAYED, "DELAYED"},
    {::mx::platform::v1::CONNECTION_STATUS_FAILED, "FAILED"},
    {::mx::platform::v1::CONNECTION_STATUS_UPDATED, "UPDATED"},
    {::mx::platform::v1::CONNECTION_STATUS_DISABLED, "DISABLED"},
    {::mx::platform::v1::CONNECTION_STATUS_IMPORTED, "IMPORTED"},
    {::mx::platform::v1::CONNECTION_STATUS_RESUMED, "RESUMED"},
    {::mx::platform::v1::CONNECTION_STATUS_EXPIRED, "EXPIRED"},
    {::mx::platform::v1::CONNECTION_STATUS_IMPAIRED, "IMPAIRED"},
    {::mx::platform::v1::CONNECTION_STATUS_PENDING, "PENDING"},
};

// The values third-party code switches on; MX's spec gives only the example
// IMAGE_DATA. A `type` sent as an integer is read as an index into this
// table (0 = TEXT), an unverified guess from one docs example showing
// `"type": 0`: keep the rows in this order.
constexpr MxName<ChallengeType> kChallengeTypeNames[] = {
    {::mx::platform::v1::CHALLENGE_TYPE_TEXT, "TEXT"},
    {::mx::platform::v1::CHALLENGE_TYPE_OPTIONS, "OPTIONS"},
    {::mx::platform::v1::CHALLENGE_TYPE_TOKEN, "TOKEN"},
    {::mx::platform::v1::CHALLENGE_TYPE_IMAGE_DATA, "IMAGE_DATA"},
    {::mx::platform::v1::CHALLENGE_TYPE_IMAGE_OPTIONS, "IMAGE_OPTIONS"},
};

template <typename Enum, size_t N>
absl::string_view ToMx(const MxName<Enum> (&table)[N], Enum value) {
  for (const MxName<Enum>& row : table) {
    if (row.value == value) return row.mx;
  }
  return "";
}

template <typename Enum, size_t N>
absl::optional<Enum> FromMx(const MxName<Enum> (&table)[N], absl::string_view mx) {
  for (const MxName<Enum>& row : table) {
    if (row.mx == mx) return row.value;
  }
  return absl::nullopt;
}

// --- Encoding ---

void WriteKey(JsonWriter& writer, absl::string_view key) {
  writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void WriteString(JsonWriter& writer, absl::string_view value) {
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// The body's convention: an empty string is "not set" and is left out.
void WriteNonEmptyString(JsonWriter& writer, absl::string_view key,
                         absl::string_view value) {
  if (value.empty()) return;
  WriteKey(writer, key);
  WriteString(writer, value);
}

// Proto3 `optional` lets us tell "MX's default" (absent) from an explicit
// false, which MX needs for e.g. `enable_app2app: false`.
void WriteOptionalBool(JsonWriter& writer, absl::string_view key, bool has_value,
                       bool value) {
  if (!has_value) return;
  WriteKey(writer, key);
  writer.Bool(value);
}

// Writes `key: [MX strings]`, or nothing when no value has an MX string
// (UNSPECIFIED has none; validation refuses it anyway).
template <typename Enum, size_t N, typename Values>
void WriteEnumArray(JsonWriter& writer, absl::string_view key,
                    const MxName<Enum> (&table)[N], const Values& values) {
  std::vector<absl::string_view> names;
  for (const int value : values) {
    const absl::string_view mx = ToMx(table, static_cast<Enum>(value));
    if (!mx.empty()) names.push_back(mx);
  }
  if (names.empty()) return;
  WriteKey(writer, key);
  writer.StartArray();
  for (const absl::string_view name : names) WriteString(writer, name);
  writer.EndArray();
}

// Writes `key: [{"guid": ..., "value": ...}, ...]` from Credentials or
// ChallengeAnswers, MX's `CredentialRequest` in both bodies.
template <typename Answers>
void WriteGuidValueArray(JsonWriter& writer, absl::string_view key,
                         const Answers& answers) {
  WriteKey(writer, key);
  writer.StartArray();
  for (const auto& answer : answers) {
    // Both keys always: an answer is a (field, value) pair, and an empty
    // value is still an answer MX should see.
    writer.StartObject();
    WriteKey(writer, kGuid);
    WriteString(writer, answer.guid());
    WriteKey(writer, kValue);
    WriteString(writer, answer.value());
    writer.EndObject();
  }
  writer.EndArray();
}

// Only fields 1-8 of Member: the output-only ones are never sent.
void WriteMember(JsonWriter& writer, const Member& member, MxApiVersion version) {
  writer.StartObject();
  WriteNonEmptyString(writer, kInstitutionCode, member.institution_code());
  WriteNonEmptyString(writer, kId, member.id());
  WriteOptionalBool(writer, kIsOauth, member.has_is_oauth(), member.is_oauth());
  WriteNonEmptyString(writer, kMetadata, member.metadata());
  // v20250224 removed `skip_aggregation` in favour of `data_request`.
  if (version == MxApiVersion::kV20111101) {
    WriteOptionalBool(writer, kSkipAggregation, member.has_skip_aggregation(),
                      member.skip_aggregation());
  }
  WriteOptionalBool(writer, kBackgroundAggregationIsDisabled,
                    member.has_background_aggregation_is_disabled(),
                    member.background_aggregation_is_disabled());
  WriteEnumArray(writer, kUseCases, kUseCaseNames, member.use_cases());
  // No credentials is an OAuth member, which sends no key at all.
  if (!member.credentials().empty()) {
    WriteGuidValueArray(writer, kCredentials, member.credentials());
  }
  writer.EndObject();
}

// --- Decoding ---

// RapidJSON's defaults plus UTF-8 validation: every string decoded here
// lands in a proto string field, which must hold valid UTF-8.
constexpr unsigned kParseFlags = rapidjson::kParseValidateEncodingFlag;

// INTERNAL UPSTREAM_RESPONSE_MALFORMED, "MX's response body <problem>".
// `problem` says what was wrong but never quotes the body, which may echo a
// request's secrets.
absl::Status MalformedBody(absl::string_view problem) {
  return MakeError(absl::StatusCode::kInternal,
                   absl::StrCat("MX's response body ", problem),
                   kReasonUpstreamResponseMalformed);
}

// Parses `body` as a JSON object.
absl::StatusOr<rapidjson::Document> ParseObject(absl::string_view body) {
  if (body.empty()) return MalformedBody("is empty");
  rapidjson::Document document;
  document.Parse<kParseFlags>(body.data(), body.size());
  if (document.HasParseError()) {
    return MalformedBody(
        absl::StrCat("is not JSON (byte ", document.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(document.GetParseError()), ")"));
  }
  if (!document.IsObject()) return MalformedBody("is not a JSON object");
  return document;
}

// The value of `key` in `object`, or nullptr when the key is absent.
const rapidjson::Value* FindValue(const rapidjson::Value& object, const char* key) {
  const auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// The value of `key` in `object` when it has the wanted type; nullptr or
// nullopt when the key is absent, null, or of another type. MX's nullable
// fields and known spec type bugs all decode as "absent" through these.
const rapidjson::Value* FindObject(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = FindValue(object, key);
  return value != nullptr && value->IsObject() ? value : nullptr;
}

const rapidjson::Value* FindArray(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = FindValue(object, key);
  return value != nullptr && value->IsArray() ? value : nullptr;
}

absl::optional<absl::string_view> FindString(const rapidjson::Value& object,
                                             const char* key) {
  const rapidjson::Value* value = FindValue(object, key);
  if (value == nullptr || !value->IsString()) return absl::nullopt;
  return absl::string_view(value->GetString(), value->GetStringLength());
}

absl::optional<bool> FindBool(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = FindValue(object, key);
  if (value == nullptr || !value->IsBool()) return absl::nullopt;
  return value->GetBool();
}

// An integer that fits int32 (the proto's type); 1.0, "1" and 2^31 are
// absent.
absl::optional<int32_t> FindInt32(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = FindValue(object, key);
  if (value == nullptr || !value->IsInt()) return absl::nullopt;
  return value->GetInt();
}

// Calls `decode` on each object of `array` (which may be nullptr); other
// items, null included, are skipped: they hold nothing to decode.
template <typename Decode>
void ForEachObject(const rapidjson::Value* array, Decode decode) {
  if (array == nullptr) return;
  for (const rapidjson::Value& item : array->GetArray()) {
    if (item.IsObject()) decode(item);
  }
}

void CopyString(const rapidjson::Value& object, const char* key, std::string* field) {
  if (absl::optional<absl::string_view> value = FindString(object, key)) {
    field->assign(value->data(), value->size());
  }
}

// The seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range
// google.protobuf.Timestamp allows.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// MX writes ISO 8601 with a time component, e.g. "2016-10-13T18:07:57.000Z";
// RFC3339_full also takes no fraction and numeric offsets. Anything else
// is nullopt, so the field stays unset rather than failing the answer.
absl::optional<google::protobuf::Timestamp> FindTimestamp(const rapidjson::Value& object,
                                                          const char* key) {
  const absl::optional<absl::string_view> text = FindString(object, key);
  if (!text.has_value()) return absl::nullopt;
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, *text, &time, &error)) {
    return absl::nullopt;
  }
  const int64_t seconds = absl::ToUnixSeconds(time);  // rounds down
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
    return absl::nullopt;
  }
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return timestamp;
}

void CopyUseCases(const rapidjson::Value& object, Member& member) {
  const rapidjson::Value* use_cases = FindArray(object, kUseCases);
  if (use_cases == nullptr) return;
  for (const rapidjson::Value& item : use_cases->GetArray()) {
    if (!item.IsString()) continue;
    // An unknown use case is skipped: UNSPECIFIED would say nothing more.
    if (absl::optional<UseCase> use_case = FromMx(
            kUseCaseNames, absl::string_view(item.GetString(), item.GetStringLength()))) {
      member.add_use_cases(*use_case);
    }
  }
}

// The fields MemberResponse and MemberStatusResponse share, same keys and
// meaning; `Message` is Member or MemberStatus.
template <typename Message>
void CopyAggregationState(const rapidjson::Value& json, Message& message) {
  CopyString(json, kGuid, message.mutable_guid());
  if (absl::optional<absl::string_view> text = FindString(json, kConnectionStatus)) {
    if (absl::optional<ConnectionStatus> status = FromMx(kConnectionStatusNames, *text)) {
      message.set_connection_status(*status);
    } else {
      // A status newer than this mxgate: keep MX's word for the caller.
      message.set_connection_status_raw(std::string(*text));
    }
  }
  if (auto value = FindBool(json, kIsBeingAggregated)) {
    message.set_is_being_aggregated(*value);
  }
  if (auto time = FindTimestamp(json, kAggregatedAt)) {
    *message.mutable_aggregated_at() = *time;
  }
  if (auto time = FindTimestamp(json, kSuccessfullyAggregatedAt)) {
    *message.mutable_successfully_aggregated_at() = *time;
  }
}

Member DecodeMember(const rapidjson::Value& json) {
  Member member;
  CopyString(json, kInstitutionCode, member.mutable_institution_code());
  CopyString(json, kId, member.mutable_id());
  if (auto value = FindBool(json, kIsOauth)) member.set_is_oauth(*value);
  CopyString(json, kMetadata, member.mutable_metadata());
  if (auto value = FindBool(json, kBackgroundAggregationIsDisabled)) {
    member.set_background_aggregation_is_disabled(*value);
  }
  CopyUseCases(json, member);
  CopyAggregationState(json, member);
  CopyString(json, kUserGuid, member.mutable_user_guid());
  CopyString(json, kUserId, member.mutable_user_id());
  CopyString(json, kInstitutionGuid, member.mutable_institution_guid());
  CopyString(json, kName, member.mutable_name());
  CopyString(json, kConnectionStatusMessage, member.mutable_connection_status_message());
  // v20111101's spec types it boolean; only a real `JOB-...` string counts.
  CopyString(json, kMostRecentJobGuid, member.mutable_most_recent_job_guid());
  CopyString(json, kOauthWindowUri, member.mutable_oauth_window_uri());
  if (auto value = FindBool(json, kIsManagedByUser)) {
    member.set_is_managed_by_user(*value);
  }
  if (auto value = FindBool(json, kIsManual)) member.set_is_manual(*value);
  if (auto value = FindBool(json, kNeedsUpdatedCredentials)) {
    member.set_needs_updated_credentials(*value);
  }
  return member;
}

// MX's spec types `type` as a string, a docs example shows an integer; see
// kChallengeTypeNames. Another JSON type (null, a fraction, ...) leaves
// both fields unset.
void CopyChallengeType(const rapidjson::Value& json, Challenge& challenge) {
  const rapidjson::Value* type = FindValue(json, kType);
  if (type == nullptr) return;
  if (type->IsString()) {
    const absl::string_view text(type->GetString(), type->GetStringLength());
    challenge.set_type_raw(std::string(text));
    challenge.set_type(FromMx(kChallengeTypeNames, text)
                           .value_or(::mx::platform::v1::CHALLENGE_TYPE_UNSPECIFIED));
  } else if (type->IsInt64()) {
    const int64_t index = type->GetInt64();
    challenge.set_type_raw(absl::StrCat(index));
    if (index >= 0 && index < static_cast<int64_t>(std::size(kChallengeTypeNames))) {
      challenge.set_type(kChallengeTypeNames[index].value);
    }
  } else if (type->IsUint64()) {  // above int64's range: no known type
    challenge.set_type_raw(absl::StrCat(type->GetUint64()));
  }
}

// MX's OptionResponse and ImageOptionResponse, which only adds `data_uri`.
ChallengeOption DecodeChallengeOption(const rapidjson::Value& json) {
  ChallengeOption option;
  CopyString(json, kGuid, option.mutable_guid());
  CopyString(json, kLabel, option.mutable_label());
  CopyString(json, kValue, option.mutable_value());
  CopyString(json, kDataUri, option.mutable_data_uri());
  return option;
}

Challenge DecodeChallenge(const rapidjson::Value& json) {
  Challenge challenge;
  CopyString(json, kGuid, challenge.mutable_guid());
  CopyString(json, kLabel, challenge.mutable_label());
  CopyString(json, kFieldName, challenge.mutable_field_name());
  CopyChallengeType(json, challenge);
  CopyString(json, kImageData, challenge.mutable_image_data());
  ForEachObject(FindArray(json, kOptions), [&](const rapidjson::Value& item) {
    *challenge.add_options() = DecodeChallengeOption(item);
  });
  ForEachObject(FindArray(json, kImageOptions), [&](const rapidjson::Value& item) {
    *challenge.add_image_options() = DecodeChallengeOption(item);
  });
  return challenge;
}

MemberStatus DecodeMemberStatus(const rapidjson::Value& json) {
  MemberStatus status;
  CopyAggregationState(json, status);
  if (auto value = FindBool(json, kIsAuthenticated)) {
    status.set_is_authenticated(*value);
  }
  if (auto value = FindBool(json, kHasProcessedAccounts)) {
    status.set_has_processed_accounts(*value);
  }
  if (auto value = FindBool(json, kHasProcessedAccountNumbers)) {
    status.set_has_processed_account_numbers(*value);
  }
  if (auto value = FindBool(json, kHasProcessedTransactions)) {
    status.set_has_processed_transactions(*value);
  }
  ForEachObject(FindArray(json, kChallenges), [&](const rapidjson::Value& item) {
    *status.add_challenges() = DecodeChallenge(item);
  });
  return status;
}

CredentialField DecodeCredentialField(const rapidjson::Value& json) {
  CredentialField field;
  CopyString(json, kGuid, field.mutable_guid());
  CopyString(json, kFieldName, field.mutable_field_name());
  CopyString(json, kLabel, field.mutable_label());
  if (auto value = FindInt32(json, kDisplayOrder)) {
    field.set_display_order(*value);
  }
  CopyString(json, kFieldType, field.mutable_field_type());
  CopyString(json, kType, field.mutable_type());
  return field;
}

Pagination DecodePagination(const rapidjson::Value& json) {
  Pagination pagination;
  if (auto value = FindInt32(json, kCurrentPage)) {
    pagination.set_current_page(*value);
  }
  if (auto value = FindInt32(json, kPerPage)) pagination.set_per_page(*value);
  if (auto value = FindInt32(json, kTotalEntries)) {
    pagination.set_total_entries(*value);
  }
  if (auto value = FindInt32(json, kTotalPages)) {
    pagination.set_total_pages(*value);
  }
  return pagination;
}

// `body`'s `member` object, decoded: the envelope of both MemberResponseBody
// and MemberStatusResponseBody.
template <typename Decoded>
absl::StatusOr<Decoded> DecodeMemberEnvelope(absl::string_view body,
                                             Decoded (*decode)(const rapidjson::Value&)) {
  absl::StatusOr<rapidjson::Document> document = ParseObject(body);
  if (!document.ok()) return document.status();
  const rapidjson::Value* member = FindObject(*document, kMember);
  if (member == nullptr) return MalformedBody("has no member object");
  return decode(*member);
}

// Request bodies hold end users' credentials (and MFA answers). Their
// buffer starts at kBodyCapacity, so that a usual body is written without a
// reallocation (which would leave a copy in a freed block), and is zeroed
// once the body is copied out.
constexpr size_t kBodyCapacity = 4096;

std::string TakeBody(rapidjson::StringBuffer& buffer) {
  std::string body(buffer.GetString(), buffer.GetSize());
  explicit_bzero(const_cast<char*>(buffer.GetString()), buffer.GetSize());
  return body;
}

}  // namespace

std::string EncodeCreateMemberBody(const CreateMemberRequest& request,
                                   MxApiVersion version) {
  rapidjson::StringBuffer buffer(nullptr, kBodyCapacity);
  JsonWriter writer(buffer);
  writer.StartObject();
  // `member` is always written: MX's body is meaningless without it.
  WriteKey(writer, kMember);
  WriteMember(writer, request.member(), version);
  if (version == MxApiVersion::kV20250224 && request.has_data_request()) {
    WriteKey(writer, kDataRequest);
    writer.StartObject();
    WriteEnumArray(writer, kProducts, kProductNames, request.data_request().products());
    writer.EndObject();
  }
  WriteNonEmptyString(writer, kClientRedirectUrl, request.client_redirect_url());
  WriteOptionalBool(writer, kEnableApp2app, request.has_enable_app2app(),
                    request.enable_app2app());
  WriteNonEmptyString(writer, kReferralSource,
                      ToMx(kReferralSourceNames, request.referral_source()));
  WriteNonEmptyString(writer, kUiMessageWebviewUrlScheme,
                      request.ui_message_webview_url_scheme());
  writer.EndObject();
  return TakeBody(buffer);
}

absl::StatusOr<Member> DecodeMemberResponseBody(absl::string_view body) {
  return DecodeMemberEnvelope(body, &DecodeMember);
}

absl::StatusOr<ListInstitutionCredentialsResponse> DecodeCredentialsResponseBody(
    absl::string_view body) {
  absl::StatusOr<rapidjson::Document> document = ParseObject(body);
  if (!document.ok()) return document.status();
  const rapidjson::Value* credentials = FindArray(*document, kCredentials);
  if (credentials == nullptr) return MalformedBody("has no credentials array");
  ListInstitutionCredentialsResponse response;
  ForEachObject(credentials, [&](const rapidjson::Value& item) {
    *response.add_credentials() = DecodeCredentialField(item);
  });
  if (const rapidjson::Value* pagination = FindObject(*document, kPagination)) {
    *response.mutable_pagination() = DecodePagination(*pagination);
  }
  return response;
}

absl::StatusOr<MemberStatus> DecodeMemberStatusResponseBody(absl::string_view body) {
  return DecodeMemberEnvelope(body, &DecodeMemberStatus);
}

std::string EncodeResumeMemberBody(const ResumeMemberRequest& request) {
  rapidjson::StringBuffer buffer(nullptr, kBodyCapacity);
  JsonWriter writer(buffer);
  writer.StartObject();
  WriteKey(writer, kMember);
  writer.StartObject();
  // Written even when empty (validation refuses that): it is the body's
  // only field, and `[]` shows MX what was asked.
  WriteGuidValueArray(writer, kChallenges, request.challenges());
  writer.EndObject();
  writer.EndObject();
  return TakeBody(buffer);
}

absl::optional<std::string> ExtractMxErrorMessage(absl::string_view body) {
  // Every success answer comes here too, so skip the parse when it cannot
  // find anything. Exact: a key can be spelled only literally or with \u
  // escapes.
  if (!absl::StrContains(body, "\"error\"") && !absl::StrContains(body, "\\u")) {
    return absl::nullopt;
  }
  absl::StatusOr<rapidjson::Document> document = ParseObject(body);
  if (!document.ok()) return absl::nullopt;
  const rapidjson::Value* error = FindObject(*document, kError);
  if (error == nullptr) return absl::nullopt;
  const absl::optional<absl::string_view> message = FindString(*error, kErrorMessage);
  // An empty message says nothing; treating it as absent keeps
  // "MX answered HTTP 404: " out of error messages.
  if (!message.has_value() || message->empty()) return absl::nullopt;
  // The message travels in gRPC trailers (8 KiB by default), twice: cap it,
  // cutting before a UTF-8 continuation byte so the result stays valid.
  absl::string_view kept = *message;
  if (kept.size() > kMaxMxErrorMessageBytes) {
    size_t cut = kMaxMxErrorMessageBytes;
    while (cut > 0 && (static_cast<unsigned char>(kept[cut]) & 0xC0) == 0x80) --cut;
    return absl::StrCat(kept.substr(0, cut), "...");
  }
  return std::string(kept);
}

absl::string_view ProductToMx(Product product) { return ToMx(kProductNames, product); }

absl::string_view UseCaseToMx(UseCase use_case) { return ToMx(kUseCaseNames, use_case); }

absl::string_view ConnectionStatusToMx(ConnectionStatus status) {
  return ToMx(kConnectionStatusNames, status);
}

ConnectionStatus ConnectionStatusFromMx(absl::string_view value) {
  return FromMx(kConnectionStatusNames, value)
      .value_or(::mx::platform::v1::CONNECTION_STATUS_UNSPECIFIED);
}

}  // namespace mxgate
