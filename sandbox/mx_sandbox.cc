#include "sandbox/mx_sandbox.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/optional.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace mxgate {
namespace sandbox {
namespace {

enum class ApiVersion { kV20111101, kV20250224 };

constexpr char kJsonType[] = "application/json";
constexpr char kV1JsonType[] = "application/vnd.mx.api.v1+json";

// MX's X-CALLBACK-PAYLOAD limit, in characters.
constexpr size_t kMaxCallbackPayload = 1024;
// records_per_page of the listing routes: default 25, values above 1000 fall
// back to the default (spec parameter recordsPerPageMax1000).
constexpr int kDefaultPerPage = 25;
constexpr int kMaxPerPage = 1000;

struct CredentialField {
  const char* guid;
  const char* field_name;
  const char* label;
  const char* type;  // both `type` and `field_type` on the wire
  int display_order;
};

struct Institution {
  const char* code;
  const char* guid;
  const char* name;
  bool oauth_only;  // connects through OAuth; has no credentials
  std::vector<CredentialField> credentials;
  std::set<std::string> supported_products;
};

const std::vector<Institution>& Institutions() {
  // Both take every SupportedProducts value but investments and rewards: a
  // sandbox choice (MX publishes no product list for MX Bank) that lets a
  // data_request exercise 201.
  static const auto* const kInstitutions = new std::vector<Institution>{
      {kMxBankCode,
       kMxBankGuid,
       "MX Bank",
       /*oauth_only=*/false,
       {{kMxBankUsernameGuid, "LOGIN", "Username", "TEXT", 0},
        {kMxBankPasswordGuid, "PASSWORD", "Password", "PASSWORD", 1}},
       {"account_verification", "identity_verification", "transactions",
        "transaction_history", "statements"}},
      {kMxBankOauthCode,
       kMxBankOauthGuid,
       "MX Bank (OAuth)",
       /*oauth_only=*/true,
       {},
       {"account_verification", "identity_verification", "transactions",
        "transaction_history", "statements"}},
  };
  return *kInstitutions;
}

// The SupportedProducts enum of v20250224 (the only version that has it).
bool IsKnownProduct(absl::string_view product) {
  static const auto* const kProducts =
      new std::set<std::string, std::less<>>{"account_verification",
                                             "identity_verification",
                                             "transactions",
                                             "transaction_history",
                                             "statements",
                                             "investments",
                                             "rewards"};
  return kProducts->count(product) > 0;
}

// MX Bank's MFA: one challenge per test password, and the follow-up that
// answering `challenge` brings (same type, another guid).
struct ChallengeOption {
  const char* guid;
  const char* label;
  const char* value;
};

struct Challenge {
  const char* guid;
  const char* type;  // TEXT, OPTIONS or IMAGE_DATA
  const char* label;
  const Challenge* follow_up;                 // what answering `challenge` leads to
  const char* image_data = nullptr;           // IMAGE_DATA only
  std::vector<ChallengeOption> options = {};  // OPTIONS only
};

// A 1x1 PNG (one translucent red pixel) as a data URI.
constexpr char kImageDataUri[] =
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADU"
    "lEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

struct Challenges {
  Challenge text{kTextChallengeGuid, "TEXT", "What is the name of your first pet?",
                 &text_follow_up};
  Challenge text_follow_up{kTextFollowUpChallengeGuid, "TEXT",
                           "What city were you born in?", &text_follow_up};
  Challenge options{
      kOptionsChallengeGuid,
      "OPTIONS",
      "Where should we send your one-time code?",
      &options_follow_up,
      nullptr,
      {{"CRD-93b4c5d6-d7e8-4cf3-a405-8091a2b3c4d5", "Text (***) ***-0123", "correct"},
       {"CRD-a4c5d6e7-e8f9-4d04-b516-91a2b3c4d5e6", "Email m***@example.com",
        "incorrect"}}};
  Challenge options_follow_up{
      kOptionsFollowUpChallengeGuid,
      "OPTIONS",
      "Which of these streets have you lived on?",
      &options_follow_up,
      nullptr,
      {{"CRD-b5d6e7f8-f90a-4e15-8627-a2b3c4d5e6f7", "Elm Street", "incorrect"},
       {"CRD-c6e7f809-0a1b-4f26-9738-b3c4d5e6f7a8", "Main Street", "correct"}}};
  Challenge image{kImageChallengeGuid, "IMAGE_DATA", "What is shown in this image?",
                  &image_follow_up, kImageDataUri};
  Challenge image_follow_up{kImageFollowUpChallengeGuid, "IMAGE_DATA",
                            "What colour is the square in this image?", &image_follow_up,
                            kImageDataUri};
};

const Challenges& MxBankChallenges() {
  static const auto* const kChallenges = new Challenges;
  return *kChallenges;
}

// How an aggregation step ends.
enum class Outcome {
  kConnected,
  kChallenged,
  kDeniedCredentials,
  kDeniedAnswer,
  kFailed,
};

// A member's next move, taken once the clock reaches `at`.
struct Step {
  absl::Time at;
  Outcome outcome = Outcome::kConnected;
  const Challenge* challenge = nullptr;  // kChallenged only
};

struct User {
  std::string guid;
  absl::optional<std::string> id;
  absl::optional<std::string> email;
  absl::optional<std::string> metadata;
  bool is_disabled = false;
};

struct Member {
  std::string guid;
  absl::optional<std::string> id;
  std::string user_guid;
  absl::optional<std::string> user_id;
  const Institution* institution = nullptr;
  absl::optional<std::string> metadata;
  bool is_oauth = false;
  bool background_aggregation_is_disabled = false;
  std::vector<std::string> use_cases;
  std::string connection_status;
  absl::optional<std::string> connection_status_message;
  bool is_being_aggregated = false;
  bool is_authenticated = false;
  bool has_processed_data = false;  // accounts, account numbers, transactions
  absl::optional<absl::Time> aggregated_at;
  absl::optional<absl::Time> successfully_aggregated_at;
  absl::optional<std::string> most_recent_job_guid;
  absl::optional<std::string> oauth_window_uri;
  bool oauth_window_used = false;
  const Challenge* challenge = nullptr;  // the open one while CHALLENGED
  absl::optional<Step> next_step;        // while CREATED or RESUMED with a job
};

// The text MX would show the end user after `outcome` (sandbox wording but
// for FAILED's, which is MX Bank's).
std::string StatusMessage(Outcome outcome, const Institution& institution) {
  switch (outcome) {
    case Outcome::kConnected:
      return absl::StrCat("Connected to ", institution.name, ".");
    case Outcome::kChallenged:
      return absl::StrCat("To authenticate your connection to ", institution.name,
                          ", please answer the following challenge(s).");
    case Outcome::kDeniedCredentials:
      return absl::StrCat("The credentials entered do not match those at ",
                          institution.name, ". Please update them.");
    case Outcome::kDeniedAnswer:
      return absl::StrCat("The answer given was not accepted by ", institution.name, ".");
    case Outcome::kFailed:
      return "You must fill out the username and password fields.";
  }
  return "";
}

// Takes the member's next step if the clock has reached it. Everything a
// step sets is dated at the step's time, not at the time it is noticed.
void Advance(Member& m, absl::Time now) {
  if (!m.next_step.has_value() || now < m.next_step->at) return;
  const Step step = *m.next_step;
  m.next_step.reset();
  m.is_being_aggregated = false;
  m.challenge = nullptr;
  m.connection_status_message = StatusMessage(step.outcome, *m.institution);
  switch (step.outcome) {
    case Outcome::kConnected:
      m.connection_status = "CONNECTED";
      m.is_authenticated = true;
      m.has_processed_data = true;
      m.successfully_aggregated_at = step.at;
      break;
    case Outcome::kChallenged:
      m.connection_status = "CHALLENGED";
      m.challenge = step.challenge;
      break;
    case Outcome::kDeniedCredentials:
    case Outcome::kDeniedAnswer:
      m.connection_status = "DENIED";
      break;
    case Outcome::kFailed:
      m.connection_status = "FAILED";
      break;
  }
}

// ---------------------------------------------------------------------------
// Responses.

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(JsonWriter& w, absl::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}
void String(JsonWriter& w, absl::string_view value) {
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}
void NullableString(JsonWriter& w, const absl::optional<std::string>& value) {
  if (value.has_value()) {
    String(w, *value);
  } else {
    w.Null();
  }
}

SandboxResponse Json(int status, absl::string_view content_type,
                     const rapidjson::StringBuffer& buffer) {
  return {status, std::string(content_type),
          std::string(buffer.GetString(), buffer.GetSize())};
}

SandboxResponse Error(int status, absl::string_view message) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "error");
  w.StartObject();
  Key(w, "message");
  String(w, message);
  w.EndObject();
  w.EndObject();
  return Json(status, kJsonType, buffer);
}

// The oauth_window_uri is a page for a browser, so it answers in HTML.
SandboxResponse Html(int status, absl::string_view title, absl::string_view text) {
  return {status, "text/html",
          absl::StrCat("<!doctype html><html><head><title>", title,
                       "</title></head><body><p>", text, "</p></body></html>\n")};
}

SandboxResponse NoContent() { return {204, "", ""}; }

absl::string_view ContentType(ApiVersion version) {
  return version == ApiVersion::kV20111101 ? kV1JsonType : kJsonType;
}

// MX writes timestamps as ISO 8601 UTC with a zero millisecond part.
std::string FormatTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S.000Z", t, absl::UTCTimeZone());
}

void NullableTime(JsonWriter& w, const absl::optional<absl::Time>& t) {
  if (t.has_value()) {
    String(w, FormatTimestamp(*t));
  } else {
    w.Null();
  }
}

// Every MemberResponse property of both versions (the two lists are equal),
// in the spec's order. most_recent_job_guid is a string in both, as MX sends
// it, although v20111101's spec types it boolean (a known spec bug).
void WriteMember(JsonWriter& w, const Member& m) {
  w.StartObject();
  Key(w, "aggregated_at");
  NullableTime(w, m.aggregated_at);
  Key(w, "background_aggregation_is_disabled");
  w.Bool(m.background_aggregation_is_disabled);
  Key(w, "connection_status");
  String(w, m.connection_status);
  Key(w, "connection_status_message");
  NullableString(w, m.connection_status_message);
  Key(w, "guid");
  String(w, m.guid);
  Key(w, "id");
  NullableString(w, m.id);
  Key(w, "institution_code");
  String(w, m.institution->code);
  Key(w, "institution_guid");
  String(w, m.institution->guid);
  Key(w, "is_being_aggregated");
  w.Bool(m.is_being_aggregated);
  Key(w, "is_managed_by_user");
  w.Bool(true);  // only "managed members" (not made here) have false
  Key(w, "is_manual");
  w.Bool(false);
  Key(w, "is_oauth");
  w.Bool(m.is_oauth);
  Key(w, "metadata");
  NullableString(w, m.metadata);
  Key(w, "most_recent_job_detail_code");
  w.Null();  // deprecated, "no longer used"
  Key(w, "most_recent_job_detail_text");
  w.Null();  // deprecated, "no longer used"
  Key(w, "most_recent_job_guid");
  NullableString(w, m.most_recent_job_guid);
  Key(w, "name");
  String(w, m.institution->name);
  Key(w, "needs_updated_credentials");
  w.Bool(false);
  Key(w, "oauth_window_uri");
  NullableString(w, m.oauth_window_uri);
  Key(w, "successfully_aggregated_at");
  NullableTime(w, m.successfully_aggregated_at);
  Key(w, "use_cases");
  w.StartArray();
  for (const std::string& use_case : m.use_cases) String(w, use_case);
  w.EndArray();
  Key(w, "user_guid");
  String(w, m.user_guid);
  Key(w, "user_id");
  NullableString(w, m.user_id);
  w.EndObject();
}

SandboxResponse MemberBody(int status, ApiVersion version, const Member& m) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "member");
  WriteMember(w, m);
  w.EndObject();
  return Json(status, ContentType(version), buffer);
}

// Every ChallengeResponse property, in the spec's order. field_name is null
// as in MX's MFA guide; unused arrays are empty rather than null.
void WriteChallenge(JsonWriter& w, const Challenge& c) {
  w.StartObject();
  Key(w, "field_name");
  w.Null();
  Key(w, "guid");
  String(w, c.guid);
  Key(w, "image_data");
  if (c.image_data != nullptr) {
    String(w, c.image_data);
  } else {
    w.Null();
  }
  Key(w, "image_options");
  w.StartArray();
  w.EndArray();
  Key(w, "label");
  String(w, c.label);
  Key(w, "options");
  w.StartArray();
  for (const ChallengeOption& option : c.options) {
    w.StartObject();
    Key(w, "guid");
    String(w, option.guid);
    Key(w, "label");
    String(w, option.label);
    Key(w, "value");
    String(w, option.value);
    w.EndObject();
  }
  w.EndArray();
  Key(w, "type");
  String(w, c.type);
  w.EndObject();
}

// Every MemberStatusResponse property of both versions (the lists are
// equal), in the spec's order.
SandboxResponse MemberStatusBody(ApiVersion version, const Member& m) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "member");
  w.StartObject();
  Key(w, "aggregated_at");
  NullableTime(w, m.aggregated_at);
  Key(w, "challenges");
  w.StartArray();
  if (m.challenge != nullptr) WriteChallenge(w, *m.challenge);
  w.EndArray();
  Key(w, "connection_status");
  String(w, m.connection_status);
  Key(w, "guid");
  String(w, m.guid);
  Key(w, "has_processed_account_numbers");
  w.Bool(m.has_processed_data);
  Key(w, "has_processed_accounts");
  w.Bool(m.has_processed_data);
  Key(w, "has_processed_transactions");
  w.Bool(m.has_processed_data);
  Key(w, "is_authenticated");
  w.Bool(m.is_authenticated);
  Key(w, "is_being_aggregated");
  w.Bool(m.is_being_aggregated);
  Key(w, "successfully_aggregated_at");
  NullableTime(w, m.successfully_aggregated_at);
  w.EndObject();
  w.EndObject();
  return Json(200, ContentType(version), buffer);
}

SandboxResponse UserBody(ApiVersion version, const User& user) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "user");
  w.StartObject();
  Key(w, "email");
  NullableString(w, user.email);
  Key(w, "guid");
  String(w, user.guid);
  Key(w, "id");
  NullableString(w, user.id);
  Key(w, "is_disabled");
  w.Bool(user.is_disabled);
  Key(w, "metadata");
  NullableString(w, user.metadata);
  w.EndObject();
  w.EndObject();
  return Json(200, ContentType(version), buffer);
}

// ---------------------------------------------------------------------------
// Request checks shared by every MX route.

absl::optional<std::string> Header(const SandboxRequest& request,
                                   absl::string_view lower_case_name) {
  auto it = request.headers.find(std::string(lower_case_name));
  if (it == request.headers.end()) return absl::nullopt;
  return it->second;
}

// 401 unless the request carries `Authorization: Basic` with exactly the
// configured client_id:api_key. Messages never echo what was sent.
absl::optional<SandboxResponse> CheckBasicAuth(const SandboxRequest& request,
                                               const SandboxOptions& options) {
  absl::optional<std::string> header = Header(request, "authorization");
  absl::string_view value;
  if (header.has_value()) value = absl::StripAsciiWhitespace(*header);
  if (value.size() < 6 || !absl::EqualsIgnoreCase(value.substr(0, 6), "basic ")) {
    return Error(401, "Missing HTTP Basic credentials (client_id:api_key).");
  }
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(value.substr(6)), &decoded)) {
    return Error(401, "Malformed HTTP Basic credentials.");
  }
  std::pair<std::string, std::string> id_and_key =
      absl::StrSplit(decoded, absl::MaxSplits(':', 1));
  if (id_and_key.first != options.client_id || id_and_key.second != options.api_key) {
    return Error(401, "Invalid client_id or api_key.");
  }
  return absl::nullopt;
}

// True when the Accept header lists one of `media_types` (parameters such as
// q= are ignored).
bool AcceptListsAny(absl::string_view accept,
                    std::initializer_list<absl::string_view> media_types) {
  for (absl::string_view range : absl::StrSplit(accept, ',')) {
    absl::string_view type = range.substr(0, range.find(';'));
    type = absl::StripAsciiWhitespace(type);
    for (absl::string_view wanted : media_types) {
      if (absl::EqualsIgnoreCase(type, wanted)) return true;
    }
  }
  return false;
}

// The version a request selects, or the 401/406 that refuses it.
struct Negotiation {
  ApiVersion version = ApiVersion::kV20250224;
  absl::optional<SandboxResponse> error;
};

Negotiation Negotiate(const SandboxRequest& request, const SandboxOptions& options) {
  Negotiation result;
  result.error = CheckBasicAuth(request, options);
  if (result.error.has_value()) return result;

  absl::optional<std::string> version = Header(request, "accept-version");
  if (!version.has_value()) {
    result.error =
        Error(406, "Missing Accept-Version header: use v20250224 or v20111101.");
    return result;
  }
  absl::string_view name = absl::StripAsciiWhitespace(*version);
  if (name == "v20250224") {
    result.version = ApiVersion::kV20250224;
  } else if (name == "v20111101") {
    result.version = ApiVersion::kV20111101;
  } else {
    result.error = Error(406, "Unsupported Accept-Version: use v20250224 or v20111101.");
    return result;
  }

  absl::optional<std::string> accept = Header(request, "accept");
  if (result.version == ApiVersion::kV20111101) {
    if (!accept.has_value() || !AcceptListsAny(*accept, {kV1JsonType})) {
      result.error =
          Error(406, "v20111101 requires Accept: application/vnd.mx.api.v1+json.");
    }
  } else if (accept.has_value() &&
             !AcceptListsAny(*accept, {kJsonType, "application/*", "*/*"})) {
    result.error = Error(406, "v20250224 requires Accept: application/json.");
  }
  return result;
}

// 400 unless X-CALLBACK-PAYLOAD, when present, is base64 of at most 1024
// characters. Both the standard and URL-safe alphabets are taken and padding
// is optional, so that the spec's own example (a UUID) passes.
absl::optional<SandboxResponse> CheckCallbackPayload(const SandboxRequest& request) {
  absl::optional<std::string> payload = Header(request, "x-callback-payload");
  if (!payload.has_value()) return absl::nullopt;
  if (payload->size() > kMaxCallbackPayload) {
    return Error(400, "X-CALLBACK-PAYLOAD must be at most 1024 characters.");
  }
  absl::string_view data = *payload;
  size_t padding = 0;
  while (!data.empty() && data.back() == '=' && padding < 2) {
    data.remove_suffix(1);
    ++padding;
  }
  bool valid = !data.empty() && data.size() % 4 != 1 &&
               (padding == 0 || (data.size() + padding) % 4 == 0);
  for (char c : data) {
    valid =
        valid && (absl::ascii_isalnum(c) || c == '+' || c == '/' || c == '-' || c == '_');
  }
  if (!valid) return Error(400, "X-CALLBACK-PAYLOAD must be base64.");
  return absl::nullopt;
}

// ---------------------------------------------------------------------------
// Request bodies. Known keys are type-checked; unknown keys are ignored, and
// so are keys the request's version does not define (data_request in
// v20111101, skip_aggregation in v20250224).

absl::StatusOr<rapidjson::Document> ParseObject(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError("Request body must be a JSON object.");
  }
  return doc;
}

absl::Status OptionalString(const rapidjson::Value& object, const char* key,
                            absl::string_view where, absl::optional<std::string>* out) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  if (!it->value.IsString()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".", key, " must be a string."));
  }
  *out = std::string(it->value.GetString(), it->value.GetStringLength());
  return absl::OkStatus();
}

absl::Status OptionalBool(const rapidjson::Value& object, const char* key,
                          absl::string_view where, bool* out) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  if (!it->value.IsBool()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".", key, " must be a boolean."));
  }
  *out = it->value.GetBool();
  return absl::OkStatus();
}

// An array of strings, each one of `allowed`.
absl::Status OptionalEnumArray(const rapidjson::Value& object, const char* key,
                               absl::string_view where,
                               const std::function<bool(absl::string_view)>& allowed,
                               absl::optional<std::vector<std::string>>* out) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  std::string name = absl::StrCat(where, ".", key);
  if (!it->value.IsArray()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be an array."));
  }
  std::vector<std::string> values;
  for (const rapidjson::Value& item : it->value.GetArray()) {
    if (!item.IsString() ||
        !allowed(absl::string_view(item.GetString(), item.GetStringLength()))) {
      return absl::InvalidArgumentError(absl::StrCat(name, " has an unknown value."));
    }
    values.emplace_back(item.GetString(), item.GetStringLength());
  }
  *out = std::move(values);
  return absl::OkStatus();
}

struct CreateMemberInput {
  std::string institution_code;
  absl::optional<std::string> id;
  absl::optional<std::string> metadata;
  bool is_oauth = false;
  bool skip_aggregation = false;  // v20111101 only
  bool background_aggregation_is_disabled = false;
  std::vector<std::pair<std::string, std::string>> credentials;  // guid, value
  absl::optional<std::vector<std::string>> use_cases;
  absl::optional<std::vector<std::string>> products;  // v20250224 only
};

absl::StatusOr<CreateMemberInput> ParseCreateMember(absl::string_view body,
                                                    ApiVersion version) {
  absl::StatusOr<rapidjson::Document> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  auto member_it = doc->FindMember("member");
  if (member_it == doc->MemberEnd() || !member_it->value.IsObject()) {
    return absl::InvalidArgumentError("Request body needs a member object.");
  }
  const rapidjson::Value& member = member_it->value;

  CreateMemberInput input;
  absl::optional<std::string> code;
  absl::Status status = OptionalString(member, "institution_code", "member", &code);
  if (!status.ok()) return status;
  if (!code.has_value() || code->empty()) {
    return absl::InvalidArgumentError("member.institution_code is required.");
  }
  input.institution_code = *code;

  status.Update(OptionalString(member, "id", "member", &input.id));
  status.Update(OptionalString(member, "metadata", "member", &input.metadata));
  status.Update(OptionalBool(member, "is_oauth", "member", &input.is_oauth));
  status.Update(OptionalBool(member, "background_aggregation_is_disabled", "member",
                             &input.background_aggregation_is_disabled));
  status.Update(OptionalEnumArray(
      member, "use_cases", "member",
      [](absl::string_view v) { return v == "PFM" || v == "MONEY_MOVEMENT"; },
      &input.use_cases));
  if (version == ApiVersion::kV20111101) {
    status.Update(
        OptionalBool(member, "skip_aggregation", "member", &input.skip_aggregation));
  }
  if (!status.ok()) return status;
  if (input.id.has_value() && input.id->empty()) {
    return absl::InvalidArgumentError("member.id must not be empty.");
  }

  auto credentials_it = member.FindMember("credentials");
  if (credentials_it != member.MemberEnd() && !credentials_it->value.IsNull()) {
    if (!credentials_it->value.IsArray()) {
      return absl::InvalidArgumentError("member.credentials must be an array.");
    }
    for (const rapidjson::Value& item : credentials_it->value.GetArray()) {
      absl::optional<std::string> guid;
      absl::optional<std::string> value;
      if (!item.IsObject() ||
          !OptionalString(item, "guid", "member.credentials[]", &guid).ok() ||
          !OptionalString(item, "value", "member.credentials[]", &value).ok()) {
        return absl::InvalidArgumentError(
            "member.credentials[] must be objects of string guid and value.");
      }
      input.credentials.emplace_back(guid.value_or(""), value.value_or(""));
    }
  }

  if (version == ApiVersion::kV20250224) {
    auto request_it = doc->FindMember("data_request");
    if (request_it != doc->MemberEnd() && !request_it->value.IsNull()) {
      if (!request_it->value.IsObject() || !request_it->value.HasMember("products")) {
        return absl::InvalidArgumentError(
            "data_request must be an object with a products array.");
      }
      status = OptionalEnumArray(request_it->value, "products", "data_request",
                                 IsKnownProduct, &input.products);
      if (!status.ok()) return status;
    }
  }
  return input;
}

struct CreateUserInput {
  absl::optional<std::string> id;
  absl::optional<std::string> email;
  absl::optional<std::string> metadata;
  bool is_disabled = false;
};

absl::StatusOr<CreateUserInput> ParseCreateUser(absl::string_view body) {
  absl::StatusOr<rapidjson::Document> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  auto user_it = doc->FindMember("user");
  // "None of these parameters are required, but the user object cannot be
  // empty" (createUser's request body description).
  if (user_it == doc->MemberEnd() || !user_it->value.IsObject() ||
      user_it->value.ObjectEmpty()) {
    return absl::InvalidArgumentError("The user object cannot be empty.");
  }
  const rapidjson::Value& user = user_it->value;
  CreateUserInput input;
  absl::Status status = OptionalString(user, "id", "user", &input.id);
  status.Update(OptionalString(user, "email", "user", &input.email));
  status.Update(OptionalString(user, "metadata", "user", &input.metadata));
  status.Update(OptionalBool(user, "is_disabled", "user", &input.is_disabled));
  if (!status.ok()) return status;
  if (input.id.has_value() && input.id->empty()) {
    return absl::InvalidArgumentError("user.id must not be empty.");
  }
  return input;
}

// resumeAggregation's body (MemberResumeRequestBody):
// {"member":{"challenges":[{"guid":"...","value":"..."}, ...]}}, as
// (guid, value) pairs.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseResume(
    absl::string_view body) {
  absl::StatusOr<rapidjson::Document> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  auto member_it = doc->FindMember("member");
  if (member_it == doc->MemberEnd() || !member_it->value.IsObject()) {
    return absl::InvalidArgumentError("Request body needs a member object.");
  }
  const absl::Status bad = absl::InvalidArgumentError(
      "member.challenges must be an array of objects of string guid and "
      "value.");
  auto challenges_it = member_it->value.FindMember("challenges");
  if (challenges_it == member_it->value.MemberEnd() || !challenges_it->value.IsArray()) {
    return bad;
  }
  std::vector<std::pair<std::string, std::string>> answers;
  for (const rapidjson::Value& item : challenges_it->value.GetArray()) {
    absl::optional<std::string> guid;
    absl::optional<std::string> value;
    if (!item.IsObject() ||
        !OptionalString(item, "guid", "member.challenges[]", &guid).ok() ||
        !OptionalString(item, "value", "member.challenges[]", &value).ok() ||
        !guid.has_value() || !value.has_value()) {
      return bad;
    }
    answers.emplace_back(std::move(*guid), std::move(*value));
  }
  return answers;
}

// A positive integer query parameter, or nullopt.
absl::optional<int> PositiveInt(const SandboxRequest& request, const std::string& name) {
  auto it = request.query.find(name);
  int value = 0;
  if (it == request.query.end() || !absl::SimpleAtoi(it->second, &value) || value < 1) {
    return absl::nullopt;
  }
  return value;
}

// The slice of `total` records that the page / records_per_page query
// parameters select. MX documents 10 as the least records_per_page; 1-9 are
// honoured anyway so that short lists can be paged through.
struct Page {
  int number = 1;
  int per_page = kDefaultPerPage;
  int64_t first = 0;  // index of the page's first record
  int64_t end = 0;    // one past its last
  int64_t total = 0;
};

Page Paginate(const SandboxRequest& request, int64_t total) {
  Page page;
  page.number = PositiveInt(request, "page").value_or(1);
  page.per_page = PositiveInt(request, "records_per_page").value_or(kDefaultPerPage);
  if (page.per_page > kMaxPerPage) page.per_page = kDefaultPerPage;
  page.total = total;
  page.first = static_cast<int64_t>(page.number - 1) * page.per_page;
  page.end = std::min(total, page.first + page.per_page);
  return page;
}

void WritePagination(JsonWriter& w, const Page& page) {
  Key(w, "pagination");
  w.StartObject();
  Key(w, "current_page");
  w.Int(page.number);
  Key(w, "per_page");
  w.Int(page.per_page);
  Key(w, "total_entries");
  w.Int64(page.total);
  Key(w, "total_pages");
  w.Int64((page.total + page.per_page - 1) / page.per_page);  // 0 if empty
  w.EndObject();
}

const Institution* FindInstitutionByCode(absl::string_view code) {
  for (const Institution& institution : Institutions()) {
    if (institution.code == code) return &institution;
  }
  return nullptr;
}

// listInstitutionCredentials' path names an institution by code or (only
// v20250224, {institution_identifier}) by guid.
const Institution* FindInstitution(absl::string_view identifier, ApiVersion version) {
  if (const Institution* by_code = FindInstitutionByCode(identifier)) {
    return by_code;
  }
  if (version == ApiVersion::kV20111101) return nullptr;
  for (const Institution& institution : Institutions()) {
    if (institution.guid == identifier) return &institution;
  }
  return nullptr;
}

// 422 unless `credentials` name each of the institution's credentials
// exactly once, each with a value. Messages name fields, never values.
absl::optional<SandboxResponse> CheckCredentials(
    const Institution& institution,
    const std::vector<std::pair<std::string, std::string>>& credentials) {
  std::set<std::string> seen;
  for (const auto& [guid, value] : credentials) {
    auto field =
        std::find_if(institution.credentials.begin(), institution.credentials.end(),
                     [&guid = guid](const CredentialField& f) { return f.guid == guid; });
    if (field == institution.credentials.end()) {
      return Error(422, absl::StrCat("Credential guid \"", guid, "\" is not one of ",
                                     institution.code, "'s credentials."));
    }
    if (!seen.insert(guid).second) {
      return Error(422, absl::StrCat("Credential ", field->field_name,
                                     " is given more than once."));
    }
    if (value.empty()) {
      return Error(422, absl::StrCat("Credential ", field->field_name, " is empty."));
    }
  }
  for (const CredentialField& field : institution.credentials) {
    if (seen.count(field.guid) == 0) {
      return Error(422, absl::StrCat("Missing credential ", field.field_name, " (",
                                     field.guid, ") for ", institution.code, "."));
    }
  }
  return absl::nullopt;
}

// 422 unless OAuth is used exactly where the institution needs it.
absl::optional<SandboxResponse> CheckOauth(const Institution& institution,
                                           const CreateMemberInput& input) {
  if (institution.oauth_only) {
    if (!input.is_oauth) {
      return Error(422, absl::StrCat(institution.code,
                                     " connects through OAuth only: set "
                                     "member.is_oauth to true."));
    }
    if (!input.credentials.empty()) {
      return Error(422, "An OAuth member takes no credentials.");
    }
  } else if (input.is_oauth) {
    return Error(422, absl::StrCat(institution.code, " does not support OAuth."));
  }
  return absl::nullopt;
}

// A credential's value by its field_name (LOGIN, PASSWORD), or "".
absl::string_view CredentialValue(
    const Institution& institution,
    const std::vector<std::pair<std::string, std::string>>& credentials,
    absl::string_view field_name) {
  for (const CredentialField& field : institution.credentials) {
    if (field.field_name != field_name) continue;
    for (const auto& [guid, value] : credentials) {
      if (guid == field.guid) return value;
    }
  }
  return "";
}

// How an mxbank job ends, by MX Bank's test credentials (mx_sandbox.h);
// StartJob dates it. Only the outcome is kept: no credential is stored.
Step MxBankJobEnd(const Institution& institution,
                  const std::vector<std::pair<std::string, std::string>>& credentials) {
  const Challenges& challenges = MxBankChallenges();
  Step end;
  if (CredentialValue(institution, credentials, "LOGIN") != "mxuser") {
    end.outcome = Outcome::kDeniedCredentials;
    return end;
  }
  const absl::string_view password =
      CredentialValue(institution, credentials, "PASSWORD");
  if (password == "challenge") end.challenge = &challenges.text;
  if (password == "options") end.challenge = &challenges.options;
  if (password == "image") end.challenge = &challenges.image;
  if (end.challenge != nullptr) {
    end.outcome = Outcome::kChallenged;
  } else if (password == "BAD_REQUEST") {
    end.outcome = Outcome::kFailed;
  }
  return end;
}

enum class Route {
  kNone,
  kStats,
  kOauthAuthorize,
  kCreateUser,
  kCreateMember,
  kReadMember,
  kDeleteMember,
  kReadMemberStatus,
  kListMemberChallenges,
  kResumeAggregation,
  kListInstitutionCredentials,
};

// Matches method and path segments against the routes; "{}" segments are
// parameters, returned in `params`.
Route MatchRoute(absl::string_view method, absl::string_view path,
                 std::vector<std::string>* params) {
  if (!absl::ConsumePrefix(&path, "/")) return Route::kNone;
  std::vector<std::string> segments = absl::StrSplit(path, '/');
  auto matches = [&](absl::string_view route_method,
                     std::initializer_list<absl::string_view> pattern) {
    if (method != route_method || segments.size() != pattern.size()) {
      return false;
    }
    std::vector<std::string> values;
    size_t i = 0;
    for (absl::string_view expected : pattern) {
      const std::string& segment = segments[i++];
      if (expected == "{}" && !segment.empty()) {
        values.push_back(segment);
      } else if (segment != expected) {
        return false;
      }
    }
    *params = std::move(values);
    return true;
  };
  if (matches("GET", {"_sandbox", "stats"})) return Route::kStats;
  if (matches("GET", {"oauth", "authorize", "{}"})) {
    return Route::kOauthAuthorize;
  }
  if (matches("POST", {"users"})) return Route::kCreateUser;
  if (matches("POST", {"users", "{}", "members"})) return Route::kCreateMember;
  if (matches("GET", {"users", "{}", "members", "{}"})) {
    return Route::kReadMember;
  }
  if (matches("DELETE", {"users", "{}", "members", "{}"})) {
    return Route::kDeleteMember;
  }
  if (matches("GET", {"users", "{}", "members", "{}", "status"})) {
    return Route::kReadMemberStatus;
  }
  if (matches("GET", {"users", "{}", "members", "{}", "challenges"})) {
    return Route::kListMemberChallenges;
  }
  if (matches("PUT", {"users", "{}", "members", "{}", "resume"})) {
    return Route::kResumeAggregation;
  }
  if (matches("GET", {"institutions", "{}", "credentials"})) {
    return Route::kListInstitutionCredentials;
  }
  return Route::kNone;
}

}  // namespace

// The emulated MX client: its users and members, and one method per route.
struct Sandbox::State {
  const SandboxOptions& options;
  std::vector<User> users;
  std::set<std::string> user_ids;
  std::unordered_map<std::string, Member> members;  // by guid
  std::unordered_map<std::string, std::string> member_guid_by_id;
  std::mt19937_64 random{std::random_device{}()};
  int64_t members_created = 0;
  int64_t members_deleted = 0;
  int64_t requests = 0;         // MX routes, any answer
  int64_t status_requests = 0;  // readMemberStatus, any answer

  explicit State(const SandboxOptions& sandbox_options) : options(sandbox_options) {
    User demo;
    demo.guid = kDemoUserGuid;
    demo.id = kDemoUserId;
    users.push_back(demo);
    user_ids.insert(kDemoUserId);
  }

  // "<prefix>-xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", like MX's guids.
  std::string NewGuid(absl::string_view prefix) {
    uint64_t hi = random();
    uint64_t lo = random();
    hi = (hi & ~uint64_t{0xF000}) | 0x4000;                      // UUID version 4
    lo = (lo & ~(uint64_t{0x3} << 62)) | (uint64_t{0x2} << 62);  // variant 1
    char buffer[40];
    std::snprintf(buffer, sizeof(buffer),
                  "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
                  hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                  lo & 0xFFFFFFFFFFFF);
    return absl::StrCat(prefix, "-", buffer);
  }

  // v20250224 paths name a user by id or guid; v20111101 by guid only.
  const User* FindUser(absl::string_view identifier, ApiVersion version) const {
    for (const User& user : users) {
      if (user.guid == identifier) return &user;
    }
    if (version == ApiVersion::kV20111101) return nullptr;
    for (const User& user : users) {
      if (user.id.has_value() && *user.id == identifier) return &user;
    }
    return nullptr;
  }

  // The same rule for members, which must also belong to `user`.
  Member* FindMember(const User& user, absl::string_view identifier, ApiVersion version) {
    std::string guid(identifier);
    if (version == ApiVersion::kV20250224 && members.count(guid) == 0) {
      auto by_id = member_guid_by_id.find(guid);
      if (by_id != member_guid_by_id.end()) guid = by_id->second;
    }
    auto it = members.find(guid);
    if (it == members.end() || it->second.user_guid != user.guid) {
      return nullptr;
    }
    return &it->second;
  }

  // The member a path names, brought up to date with the clock, or the 404
  // that refuses the path.
  struct Lookup {
    Member* member = nullptr;
    SandboxResponse error;  // when member is nullptr
  };

  Lookup FindCurrentMember(absl::string_view user_identifier,
                           absl::string_view member_identifier, ApiVersion version) {
    Lookup result;
    const User* user = FindUser(user_identifier, version);
    if (user == nullptr) {
      result.error = Error(404, "User not found.");
      return result;
    }
    result.member = FindMember(*user, member_identifier, version);
    if (result.member == nullptr) {
      result.error = Error(404, "Member not found.");
      return result;
    }
    Advance(*result.member, options.now());
    return result;
  }

  // Starts an aggregation job now; `end` happens one step later.
  void StartJob(Member& m, Step end) {
    const absl::Time now = options.now();
    m.connection_status = "CREATED";
    m.connection_status_message.reset();
    m.is_being_aggregated = true;
    m.aggregated_at = now;
    m.most_recent_job_guid = NewGuid("JOB");
    end.at = now + options.step;
    m.next_step = end;
  }

  SandboxResponse Stats() const {
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    Key(w, "members_created");
    w.Int64(members_created);
    Key(w, "members_deleted");
    w.Int64(members_deleted);
    Key(w, "requests");
    w.Int64(requests);
    Key(w, "status_requests");
    w.Int64(status_requests);
    w.EndObject();
    return Json(200, kJsonType, buffer);
  }

  SandboxResponse CreateUser(const SandboxRequest& request, ApiVersion version) {
    absl::StatusOr<CreateUserInput> input = ParseCreateUser(request.body);
    if (!input.ok()) return Error(400, input.status().message());
    if (input->id.has_value() && user_ids.count(*input->id) > 0) {
      return Error(409, "A user with this id already exists.");
    }
    User user;
    user.guid = NewGuid("USR");
    user.id = input->id;
    user.email = input->email;
    user.metadata = input->metadata;
    user.is_disabled = input->is_disabled;
    if (user.id.has_value()) user_ids.insert(*user.id);
    users.push_back(user);
    return UserBody(version, user);
  }

  SandboxResponse CreateMember(const SandboxRequest& request,
                               absl::string_view user_identifier, ApiVersion version) {
    const User* user = FindUser(user_identifier, version);
    if (user == nullptr) return Error(404, "User not found.");
    absl::StatusOr<CreateMemberInput> input = ParseCreateMember(request.body, version);
    if (!input.ok()) return Error(400, input.status().message());
    const Institution* institution = FindInstitutionByCode(input->institution_code);
    if (institution == nullptr) return Error(404, "Institution not found.");
    absl::optional<SandboxResponse> error;
    if (!institution->oauth_only) {
      error = CheckCredentials(*institution, input->credentials);
      if (error.has_value()) return *error;
    }
    error = CheckOauth(*institution, *input);
    if (error.has_value()) return *error;
    if (input->id.has_value() && member_guid_by_id.count(*input->id) > 0) {
      return Error(409, "A member with this id already exists.");
    }
    error = CheckCallbackPayload(request);
    if (error.has_value()) return *error;

    Member m;
    m.guid = NewGuid("MBR");
    m.id = input->id;
    m.user_guid = user->guid;
    m.user_id = user->id;
    m.institution = institution;
    m.metadata = input->metadata;
    m.is_oauth = input->is_oauth;
    m.background_aggregation_is_disabled = input->background_aggregation_is_disabled;
    m.use_cases = input->use_cases.value_or(std::vector<std::string>{});
    bool unsupported_product = false;
    for (const std::string& product :
         input->products.value_or(std::vector<std::string>{})) {
      unsupported_product |= institution->supported_products.count(product) == 0;
    }

    int status = 202;
    m.connection_status = "CREATED";
    if (m.is_oauth) {
      // Nothing runs until the end user finishes the OAuth flow.
      status = 200;
      m.connection_status = "PENDING";
      m.oauth_window_uri = absl::StrCat(options.base_url, "/oauth/authorize/", m.guid);
    } else if (input->skip_aggregation) {
      status = 200;
    } else if (unsupported_product) {
      // MX answers 201 when "the combo job fails to start" (openapi PR #179):
      // the member exists, but no job runs.
      status = 201;
    } else {
      StartJob(m, MxBankJobEnd(*institution, input->credentials));
    }
    ++members_created;
    if (m.id.has_value()) member_guid_by_id[*m.id] = m.guid;
    std::string guid = m.guid;
    const Member& stored = members.emplace(guid, std::move(m)).first->second;
    return MemberBody(status, version, stored);
  }

  SandboxResponse ReadMember(absl::string_view user_identifier,
                             absl::string_view member_identifier, ApiVersion version) {
    Lookup found = FindCurrentMember(user_identifier, member_identifier, version);
    if (found.member == nullptr) return found.error;
    return MemberBody(200, version, *found.member);
  }

  SandboxResponse DeleteMember(absl::string_view user_identifier,
                               absl::string_view member_identifier, ApiVersion version) {
    Lookup found = FindCurrentMember(user_identifier, member_identifier, version);
    if (found.member == nullptr) return found.error;
    if (found.member->id.has_value()) {
      member_guid_by_id.erase(*found.member->id);
    }
    const std::string guid = found.member->guid;  // not a key into the node
    members.erase(guid);
    ++members_deleted;
    return NoContent();
  }

  SandboxResponse ReadMemberStatus(absl::string_view user_identifier,
                                   absl::string_view member_identifier,
                                   ApiVersion version) {
    Lookup found = FindCurrentMember(user_identifier, member_identifier, version);
    if (found.member == nullptr) return found.error;
    return MemberStatusBody(version, *found.member);
  }

  SandboxResponse ListMemberChallenges(const SandboxRequest& request,
                                       absl::string_view user_identifier,
                                       absl::string_view member_identifier,
                                       ApiVersion version) {
    Lookup found = FindCurrentMember(user_identifier, member_identifier, version);
    if (found.member == nullptr) return found.error;
    const Challenge* challenge = found.member->challenge;
    if (challenge == nullptr) return NoContent();  // not CHALLENGED

    const Page page = Paginate(request, 1);
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    Key(w, "challenges");
    w.StartArray();
    if (page.first < page.end) WriteChallenge(w, *challenge);
    w.EndArray();
    WritePagination(w, page);
    w.EndObject();
    return Json(200, ContentType(version), buffer);
  }

  SandboxResponse ResumeAggregation(const SandboxRequest& request,
                                    absl::string_view user_identifier,
                                    absl::string_view member_identifier,
                                    ApiVersion version) {
    Lookup found = FindCurrentMember(user_identifier, member_identifier, version);
    if (found.member == nullptr) return found.error;
    Member& m = *found.member;
    if (m.challenge == nullptr) {
      return Error(405,
                   "A constraint on the requested endpoint wasn't met: the "
                   "member is not CHALLENGED.");
    }
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> answers =
        ParseResume(request.body);
    if (!answers.ok()) return Error(400, answers.status().message());
    // Exactly one answer for the one open challenge. Messages name guids,
    // never answers.
    const std::string* value = nullptr;
    for (const auto& [guid, answer] : *answers) {
      if (guid != m.challenge->guid) {
        return Error(400, absl::StrCat("Challenge guid \"", guid,
                                       "\" is not an open challenge of this "
                                       "member."));
      }
      if (value != nullptr) {
        return Error(400,
                     absl::StrCat("Challenge ", guid, " is answered more than once."));
      }
      value = &answer;
    }
    if (value == nullptr) {
      return Error(
          400, absl::StrCat("Missing an answer for challenge ", m.challenge->guid, "."));
    }

    Step step{options.now() + options.step, Outcome::kDeniedAnswer, nullptr};
    if (*value == "correct") {
      step.outcome = Outcome::kConnected;
    } else if (*value == "challenge") {
      step.outcome = Outcome::kChallenged;
      step.challenge = m.challenge->follow_up;
    }
    m.connection_status = "RESUMED";
    m.connection_status_message.reset();
    m.is_being_aggregated = true;
    m.challenge = nullptr;
    m.next_step = step;
    return MemberBody(202, version, m);
  }

  // The page behind an oauth_window_uri, standing in for the institution's
  // login: fetching it is the end user finishing OAuth.
  SandboxResponse AuthorizeOauth(absl::string_view member_guid) {
    auto it = members.find(std::string(member_guid));
    if (it == members.end() || !it->second.is_oauth) {
      return Html(404, "Not found", "Unknown authorization link.");
    }
    Member& m = it->second;
    if (m.oauth_window_used) {
      return Html(410, "Link expired", "This authorization link was already used.");
    }
    m.oauth_window_used = true;
    StartJob(m, Step{});  // connects
    return Html(200, m.institution->name, "Authorized; you can close this window.");
  }

  SandboxResponse ListInstitutionCredentials(const SandboxRequest& request,
                                             absl::string_view identifier,
                                             ApiVersion version) const {
    const Institution* institution = FindInstitution(identifier, version);
    if (institution == nullptr) return Error(404, "Institution not found.");
    const Page page =
        Paginate(request, static_cast<int64_t>(institution->credentials.size()));
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    Key(w, "credentials");
    w.StartArray();
    for (int64_t i = page.first; i < page.end; ++i) {
      const CredentialField& field = institution->credentials[i];
      w.StartObject();
      Key(w, "display_order");
      w.Int(field.display_order);
      Key(w, "field_name");
      String(w, field.field_name);
      Key(w, "field_type");
      String(w, field.type);
      Key(w, "guid");
      String(w, field.guid);
      Key(w, "label");
      String(w, field.label);
      Key(w, "type");
      String(w, field.type);
      w.EndObject();
    }
    w.EndArray();
    WritePagination(w, page);
    w.EndObject();
    return Json(200, ContentType(version), buffer);
  }
};

Sandbox::Sandbox(SandboxOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>(options_)) {}

Sandbox::~Sandbox() = default;

SandboxResponse Sandbox::Handle(const SandboxRequest& request) {
  std::vector<std::string> params;
  const Route route = MatchRoute(request.method, request.path, &params);
  absl::MutexLock lock(&mu_);
  State& state = *state_;
  // Neither is an MX API call: `requests` counts only what an MX client
  // sends, so that a test can count its client's calls.
  if (route == Route::kStats) return state.Stats();
  if (route == Route::kOauthAuthorize) return state.AuthorizeOauth(params[0]);
  ++state.requests;
  if (route == Route::kReadMemberStatus) ++state.status_requests;
  if (route == Route::kNone) return Error(404, "Not found.");

  Negotiation negotiation = Negotiate(request, options_);
  if (negotiation.error.has_value()) return *negotiation.error;
  const ApiVersion version = negotiation.version;
  switch (route) {
    case Route::kCreateUser:
      return state.CreateUser(request, version);
    case Route::kCreateMember:
      return state.CreateMember(request, params[0], version);
    case Route::kReadMember:
      return state.ReadMember(params[0], params[1], version);
    case Route::kDeleteMember:
      return state.DeleteMember(params[0], params[1], version);
    case Route::kReadMemberStatus:
      return state.ReadMemberStatus(params[0], params[1], version);
    case Route::kListMemberChallenges:
      return state.ListMemberChallenges(request, params[0], params[1], version);
    case Route::kResumeAggregation:
      return state.ResumeAggregation(request, params[0], params[1], version);
    case Route::kListInstitutionCredentials:
      return state.ListInstitutionCredentials(request, params[0], version);
    case Route::kNone:
    case Route::kStats:
    case Route::kOauthAuthorize:
      break;
  }
  return Error(404, "Not found.");
}

}  // namespace sandbox
}  // namespace mxgate
