#include "service/request_validation.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::mx::platform::v1::ChallengeAnswer;
using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::DeleteMemberRequest;
using ::mx::platform::v1::GetMemberRequest;
using ::mx::platform::v1::GetMemberStatusRequest;
using ::mx::platform::v1::ListInstitutionCredentialsRequest;
using ::mx::platform::v1::Member;
using ::mx::platform::v1::ResumeMemberRequest;
using ::mx::platform::v1::WatchMemberStatusRequest;

// MX's documented limit for X-CALLBACK-PAYLOAD (mx-api.md section 1), in
// characters.
constexpr size_t kMaxCallbackPayloadSize = 1024;
constexpr size_t kMaxRequestIdSize = 128;

// MX's documented maximum (mx-api.md section 3.6). Above it MX silently
// returns pages of 25, which a caller would mistake for the end of the list.
// MX's documented minimum, 10, is left to MX: what it does below it is
// unverified.
constexpr int kMaxRecordsPerPage = 1000;

bool HasControlCharacter(absl::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return absl::ascii_iscntrl(c); });
}

// Percent-encoding alone would not stop a client from forging the path MX
// sees: `.` and `..` are resolved by URL normalizers, and MX or a proxy may
// decode `%2F`, `%3F` and `%23` first.
bool IsSafePathSegment(absl::string_view segment) {
  return segment != "." && segment != ".." &&
         segment.find_first_of("/?#") == absl::string_view::npos &&
         !HasControlCharacter(segment);
}

// `field` (user_identifier, member_identifier, institution_code) is sent as
// one path segment of the MX URL.
void CheckPathSegment(absl::string_view field, absl::string_view value,
                      std::vector<FieldViolation>& violations) {
  if (value.empty()) {
    violations.push_back({std::string(field), "required"});
  } else if (!IsSafePathSegment(value)) {
    violations.push_back(
        {std::string(field),
         "must be one path segment: no '/', '?', '#' or control characters, "
         "and not '.' or '..'"});
  }
}

// Returns the version `accept_version` names, or `server_default` when it
// is empty. An unknown version is reported once and then judged as the
// server default, so that version-specific checks still run.
MxApiVersion CheckAcceptVersion(absl::string_view accept_version,
                                MxApiVersion server_default,
                                std::vector<FieldViolation>& violations) {
  if (accept_version.empty()) return server_default;
  const absl::optional<MxApiVersion> parsed = ParseMxApiVersion(accept_version);
  if (parsed.has_value()) return *parsed;
  violations.push_back(
      {"accept_version",
       absl::StrCat("must be ", MxApiVersionName(MxApiVersion::kV20250224), " or ",
                    MxApiVersionName(MxApiVersion::kV20111101),
                    ", or empty for the server default")});
  return server_default;
}

// Checks the guid of a credential or challenge answer at `path`; `kind`
// says what it should be, e.g. "a challenge guid". Returns whether it is
// well-formed. The guid goes into the JSON body, so only control characters
// are refused.
bool CheckGuid(absl::string_view guid, const std::string& path, absl::string_view kind,
               std::vector<FieldViolation>& violations) {
  if (guid.empty()) {
    violations.push_back({path, "required"});
    return false;
  }
  if (HasControlCharacter(guid)) {
    violations.push_back(
        {path, absl::StrCat("must be ", kind, " without control characters")});
    return false;
  }
  return true;
}

// The end of every Validate*Request: `version` when nothing was refused,
// else INVALID_ARGUMENT naming the first violation and listing them all.
// Callers check fields in request-field order, so the list is in that order.
absl::StatusOr<MxApiVersion> VersionOrRefusal(
    const google::protobuf::Message& request, MxApiVersion version,
    const std::vector<FieldViolation>& violations) {
  if (violations.empty()) return version;

  std::string message =
      absl::StrCat("invalid ", request.GetDescriptor()->name(), ": ", violations[0].field,
                   ": ", violations[0].description);
  if (violations.size() > 1) {
    absl::StrAppend(&message, " (and ", violations.size() - 1, " more)");
  }
  absl::Status status =
      MakeError(absl::StatusCode::kInvalidArgument, message, kReasonInvalidRequest);
  AttachBadRequest(status, violations);
  return status;
}

// Fields 1 to 3 of every request addressed to one member: the path
// `/users/{user_identifier}/members/{member_identifier}` and the version.
// Returns the version to call.
template <typename Request>
MxApiVersion CheckMemberAddress(const Request& request, MxApiVersion server_default,
                                std::vector<FieldViolation>& violations) {
  CheckPathSegment("user_identifier", request.user_identifier(), violations);
  CheckPathSegment("member_identifier", request.member_identifier(), violations);
  return CheckAcceptVersion(request.accept_version(), server_default, violations);
}

// Get, GetStatus, Delete and Watch: a member's address and nothing else.
template <typename Request>
absl::StatusOr<MxApiVersion> ValidateMemberAddressedRequest(const Request& request,
                                                            MxApiVersion server_default) {
  std::vector<FieldViolation> violations;
  const MxApiVersion version = CheckMemberAddress(request, server_default, violations);
  return VersionOrRefusal(request, version, violations);
}

bool IsBase64Character(char c) { return absl::ascii_isalnum(c) || c == '+' || c == '/'; }

// RFC 4648 section 4 with padding. The payload becomes a header value, so
// anything outside the alphabet (CR, LF, ...) could inject headers.
bool IsPaddedBase64(absl::string_view text) {
  if (text.size() % 4 != 0) return false;
  const size_t last_data = text.find_last_not_of('=');
  const size_t padding =
      last_data == absl::string_view::npos ? text.size() : text.size() - last_data - 1;
  if (padding > 2) return false;
  return std::all_of(text.begin(), text.end() - padding, IsBase64Character);
}

std::string Indexed(absl::string_view field, int index) {
  return absl::StrCat(field, "[", index, "]");
}

// Checks a repeated enum field: every entry must be a value the enum
// defines other than its zero value, and appear once. Proto3 enums are open,
// so the wire can carry any number; `is_valid` is the generated `Xxx_IsValid`.
void CheckEnumList(const google::protobuf::RepeatedField<int>& values,
                   absl::string_view field, absl::string_view expected,
                   bool (*is_valid)(int), std::vector<FieldViolation>& violations) {
  for (int i = 0; i < values.size(); ++i) {
    const int value = values[i];
    if (value == 0 || !is_valid(value)) {
      violations.push_back(
          {Indexed(field, i), absl::StrCat("must be ", expected, "; got ", value)});
      continue;
    }
    const int earlier = static_cast<int>(
        std::find(values.begin(), values.begin() + i, value) - values.begin());
    if (earlier < i) {
      violations.push_back(
          {Indexed(field, i), absl::StrCat("duplicates ", Indexed(field, earlier),
                                           "; list each value once")});
    }
  }
}

void CheckMember(const Member& member, MxApiVersion version,
                 std::vector<FieldViolation>& violations) {
  if (member.institution_code().empty()) {
    violations.push_back({"member.institution_code", "required"});
  }

  // Unset `is_oauth` means MX's default, false.
  if (member.is_oauth() && !member.credentials().empty()) {
    violations.push_back(
        {"member.credentials", "must be empty for an OAuth member (is_oauth true)"});
  } else if (!member.is_oauth() && member.credentials().empty()) {
    violations.push_back({"member.credentials",
                          "at least one credential required for a non-OAuth member"});
  }
  // Descriptions never echo `value`: it is a password or a username.
  for (int i = 0; i < member.credentials_size(); ++i) {
    const std::string path = Indexed("member.credentials", i);
    const auto& credential = member.credentials(i);
    CheckGuid(credential.guid(), path + ".guid", "a credential guid (CRD-...)",
              violations);
    if (credential.value().empty()) {
      violations.push_back({path + ".value", "required"});
    }
  }

  // Refused, not dropped: dropping it would start the aggregation the
  // caller asked to skip.
  if (member.has_skip_aggregation() && version == MxApiVersion::kV20250224) {
    violations.push_back({"member.skip_aggregation",
                          absl::StrCat("not available in ", MxApiVersionName(version),
                                       "; choose products with data_request instead")});
  }

  CheckEnumList(member.use_cases(), "member.use_cases",
                "a UseCase other than USE_CASE_UNSPECIFIED",
                ::mx::platform::v1::UseCase_IsValid, violations);
}

void CheckDataRequest(const CreateMemberRequest& request, MxApiVersion version,
                      std::vector<FieldViolation>& violations) {
  if (!request.has_data_request()) return;
  if (version == MxApiVersion::kV20111101) {
    violations.push_back(
        {"data_request",
         absl::StrCat("not available in ", MxApiVersionName(version), "; use ",
                      MxApiVersionName(MxApiVersion::kV20250224), " or leave it unset")});
    return;
  }
  const auto& products = request.data_request().products();
  if (products.empty()) {
    violations.push_back({"data_request.products",
                          "at least one product required when data_request "
                          "is set"});
  }
  CheckEnumList(products, "data_request.products",
                "a Product other than PRODUCT_UNSPECIFIED",
                ::mx::platform::v1::Product_IsValid, violations);
}

// `request_id` becomes MX's member `id` when the member has none, and the
// member is then read back by that id (mx_client.h): so it must be a valid
// MX member id, and the version must let a path name a member by its id.
void CheckRequestId(const CreateMemberRequest& request, MxApiVersion version,
                    std::vector<FieldViolation>& violations) {
  const std::string& id = request.request_id();
  if (id.empty()) return;
  const bool valid_characters = std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (id.size() > kMaxRequestIdSize || !valid_characters) {
    violations.push_back({"request_id", absl::StrCat("must be 1 to ", kMaxRequestIdSize,
                                                     " letters, digits, '-' or '_' (a "
                                                     "UUID is recommended)")});
  } else if (absl::StartsWith(id, "MBR-")) {
    violations.push_back(
        {"request_id", "must not start with MBR- (MX's member guids do)"});
  } else if (version != MxApiVersion::kV20250224) {
    violations.push_back(
        {"request_id",
         absl::StrCat("needs ", MxApiVersionName(MxApiVersion::kV20250224),
                      " (only there can mxgate read a member back by its id); leave it "
                      "empty under ",
                      MxApiVersionName(version))});
  }
}

}  // namespace

absl::StatusOr<MxApiVersion> ValidateCreateMemberRequest(
    const CreateMemberRequest& request, MxApiVersion server_default) {
  // Checks run in request-field order so that the BadRequest lists
  // violations in that order. Output-only Member fields (20 and up) are
  // ignored, not refused (AIP-203).
  std::vector<FieldViolation> violations;
  CheckPathSegment("user_identifier", request.user_identifier(), violations);
  const MxApiVersion version =
      CheckAcceptVersion(request.accept_version(), server_default, violations);

  const std::string& payload = request.callback_payload();
  if (payload.size() > kMaxCallbackPayloadSize) {
    violations.push_back(
        {"callback_payload",
         absl::StrCat("must be at most ", kMaxCallbackPayloadSize, " characters")});
  } else if (!payload.empty() && !IsPaddedBase64(payload)) {
    violations.push_back({"callback_payload",
                          "must be standard base64 with padding (RFC 4648 section 4)"});
  }

  if (request.has_member()) {
    CheckMember(request.member(), version, violations);
  } else {
    violations.push_back({"member", "required"});
  }

  CheckDataRequest(request, version, violations);

  if (!::mx::platform::v1::ReferralSource_IsValid(request.referral_source())) {
    violations.push_back(
        {"referral_source",
         absl::StrCat("must be REFERRAL_SOURCE_BROWSER, REFERRAL_SOURCE_APP "
                      "or unset; got ",
                      request.referral_source())});
  }

  CheckRequestId(request, version, violations);

  return VersionOrRefusal(request, version, violations);
}

absl::StatusOr<MxApiVersion> ValidateListInstitutionCredentialsRequest(
    const ListInstitutionCredentialsRequest& request, MxApiVersion server_default) {
  std::vector<FieldViolation> violations;
  CheckPathSegment("institution_code", request.institution_code(), violations);
  if (request.page() < 0) {
    violations.push_back({"page", "must be 1 or more, or 0 for MX's default (1)"});
  }
  if (request.records_per_page() < 0 || request.records_per_page() > kMaxRecordsPerPage) {
    violations.push_back(
        {"records_per_page", absl::StrCat("must be from 1 to ", kMaxRecordsPerPage,
                                          ", or 0 for MX's default (25)")});
  }
  const MxApiVersion version =
      CheckAcceptVersion(request.accept_version(), server_default, violations);
  return VersionOrRefusal(request, version, violations);
}

absl::StatusOr<MxApiVersion> ValidateGetMemberRequest(const GetMemberRequest& request,
                                                      MxApiVersion server_default) {
  return ValidateMemberAddressedRequest(request, server_default);
}

absl::StatusOr<MxApiVersion> ValidateGetMemberStatusRequest(
    const GetMemberStatusRequest& request, MxApiVersion server_default) {
  return ValidateMemberAddressedRequest(request, server_default);
}

absl::StatusOr<MxApiVersion> ValidateResumeMemberRequest(
    const ResumeMemberRequest& request, MxApiVersion server_default) {
  std::vector<FieldViolation> violations;
  const MxApiVersion version = CheckMemberAddress(request, server_default, violations);

  const auto& answers = request.challenges();
  if (answers.empty()) {
    violations.push_back(
        {"challenges", "at least one answer required (see GetMemberStatus)"});
  }
  // Descriptions never echo `value`: it is the end user's MFA answer.
  for (int i = 0; i < answers.size(); ++i) {
    const std::string path = Indexed("challenges", i);
    const ChallengeAnswer& answer = answers[i];
    if (CheckGuid(answer.guid(), path + ".guid", "a challenge guid", violations)) {
      const int earlier =
          static_cast<int>(std::find_if(answers.begin(), answers.begin() + i,
                                        [&answer](const ChallengeAnswer& other) {
                                          return other.guid() == answer.guid();
                                        }) -
                           answers.begin());
      if (earlier < i) {
        violations.push_back(
            {path + ".guid", absl::StrCat("duplicates ", Indexed("challenges", earlier),
                                          ".guid; answer each challenge once")});
      }
    }
    if (answer.value().empty()) {
      violations.push_back({path + ".value", "required"});
    }
  }

  return VersionOrRefusal(request, version, violations);
}

absl::StatusOr<MxApiVersion> ValidateDeleteMemberRequest(
    const DeleteMemberRequest& request, MxApiVersion server_default) {
  return ValidateMemberAddressedRequest(request, server_default);
}

absl::StatusOr<MxApiVersion> ValidateWatchMemberStatusRequest(
    const WatchMemberStatusRequest& request, MxApiVersion server_default) {
  return ValidateMemberAddressedRequest(request, server_default);
}

}  // namespace mxgate
