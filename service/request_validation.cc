#include "service/request_validation.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::Member;

// MX's documented limit for X-CALLBACK-PAYLOAD (mx-api.md section 1), in
// characters.
constexpr size_t kMaxCallbackPayloadSize = 1024;

bool HasControlCharacter(absl::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return absl::ascii_iscntrl(c); });
}

// `user_identifier` is sent as one path segment of
// `/users/{user_identifier}/members`. Percent-encoding alone would not stop
// a client from forging the path MX sees: `.` and `..` are resolved by URL
// normalizers, and MX or a proxy may decode `%2F`, `%3F` and `%23` first.
bool IsSafePathSegment(absl::string_view segment) {
  return segment != "." && segment != ".." &&
         segment.find_first_of("/?#") == absl::string_view::npos &&
         !HasControlCharacter(segment);
}

bool IsBase64Character(char c) {
  return absl::ascii_isalnum(c) || c == '+' || c == '/';
}

// RFC 4648 section 4 with padding. The payload becomes a header value, so
// anything outside the alphabet (CR, LF, ...) could inject headers.
bool IsPaddedBase64(absl::string_view text) {
  if (text.size() % 4 != 0) return false;
  const size_t last_data = text.find_last_not_of('=');
  const size_t padding = last_data == absl::string_view::npos
                             ? text.size()
                             : text.size() - last_data - 1;
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
                   bool (*is_valid)(int),
                   std::vector<FieldViolation>& violations) {
  for (int i = 0; i < values.size(); ++i) {
    const int value = values[i];
    if (value == 0 || !is_valid(value)) {
      violations.push_back(
          {Indexed(field, i),
           absl::StrCat("must be ", expected, "; got ", value)});
      continue;
    }
    const auto earlier =
        std::find(values.begin(), values.begin() + i, value) - values.begin();
    if (earlier < i) {
      violations.push_back({Indexed(field, i),
                            absl::StrCat("duplicates ", Indexed(field, earlier),
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
    violations.push_back({"member.credentials",
                          "must be empty for an OAuth member (is_oauth true)"});
  } else if (!member.is_oauth() && member.credentials().empty()) {
    violations.push_back(
        {"member.credentials",
         "at least one credential required for a non-OAuth member"});
  }
  // Descriptions never echo `value`: it is a password or a username.
  for (int i = 0; i < member.credentials_size(); ++i) {
    const std::string path = Indexed("member.credentials", i);
    const auto& credential = member.credentials(i);
    if (credential.guid().empty()) {
      violations.push_back({path + ".guid", "required"});
    } else if (HasControlCharacter(credential.guid())) {
      violations.push_back({path + ".guid",
                            "must be a credential guid (CRD-...) without "
                            "control characters"});
    }
    if (credential.value().empty()) {
      violations.push_back({path + ".value", "required"});
    }
  }

  // Refused, not dropped: dropping it would start the aggregation the
  // caller asked to skip.
  if (member.has_skip_aggregation() && version == MxApiVersion::kV20250224) {
    violations.push_back(
        {"member.skip_aggregation",
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
                      MxApiVersionName(MxApiVersion::kV20250224),
                      " or leave it unset")});
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

}  // namespace

absl::StatusOr<MxApiVersion> ValidateCreateMemberRequest(
    const CreateMemberRequest& request, MxApiVersion server_default) {
  // Checks run in request-field order so that the BadRequest lists
  // violations in that order. Output-only Member fields (20 and up) and
  // `request_id` are ignored, not refused (AIP-203, AIP-155).
  std::vector<FieldViolation> violations;

  if (request.user_identifier().empty()) {
    violations.push_back({"user_identifier", "required"});
  } else if (!IsSafePathSegment(request.user_identifier())) {
    violations.push_back(
        {"user_identifier",
         "must be one path segment: no '/', '?', '#' or control characters, "
         "and not '.' or '..'"});
  }

  // An unknown version is reported once; the version-specific checks below
  // then judge the request as the server default would.
  MxApiVersion version = server_default;
  if (!request.accept_version().empty()) {
    const absl::optional<MxApiVersion> parsed =
        ParseMxApiVersion(request.accept_version());
    if (parsed.has_value()) {
      version = *parsed;
    } else {
      violations.push_back(
          {"accept_version",
           absl::StrCat("must be ", MxApiVersionName(MxApiVersion::kV20250224),
                        " or ", MxApiVersionName(MxApiVersion::kV20111101),
                        ", or empty for the server default")});
    }
  }

  const std::string& payload = request.callback_payload();
  if (payload.size() > kMaxCallbackPayloadSize) {
    violations.push_back(
        {"callback_payload",
         absl::StrCat("must be at most ", kMaxCallbackPayloadSize,
                      " characters")});
  } else if (!payload.empty() && !IsPaddedBase64(payload)) {
    violations.push_back(
        {"callback_payload",
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

  if (violations.empty()) return version;

  std::string message =
      absl::StrCat("invalid CreateMemberRequest: ", violations[0].field, ": ",
                   violations[0].description);
  if (violations.size() > 1) {
    absl::StrAppend(&message, " (and ", violations.size() - 1, " more)");
  }
  absl::Status status = MakeError(absl::StatusCode::kInvalidArgument, message,
                                  kReasonInvalidRequest);
  AttachBadRequest(status, violations);
  return status;
}

}  // namespace mxgate
