// The JSON codec between mxgate's protos and MX's JSON bodies, and the only
// file that knows MX's JSON keys and enum strings. Pure: no I/O, no gRPC,
// no HTTP; RapidJSON stays inside the .cc.
#ifndef MXGATE_SERVICE_MEMBER_JSON_CODEC_H_
#define MXGATE_SERVICE_MEMBER_JSON_CODEC_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "mx/platform/v1/member.pb.h"
#include "mx/platform/v1/member_service.pb.h"
#include "service/mx_api_version.h"

namespace mxgate {

// ErrorInfo reason when MX's success answer cannot be read.
inline constexpr char kReasonUpstreamResponseMalformed[] = "UPSTREAM_RESPONSE_MALFORMED";

// The JSON body of `POST /users/{user_identifier}/members`:
// {"member": {...}, "data_request": {"products": [...]}, "client_redirect_url":
// ..., ...}. Unset fields are omitted (an unset optional bool is absent, a
// false one is `false`); products and use cases use MX's strings. Expects a
// request that passed ValidateCreateMemberRequest for `version`; fields the
// version lacks are not written. Output-only Member fields are never
// written. The result holds credential values: never log it.
std::string EncodeCreateMemberBody(const ::mx::platform::v1::CreateMemberRequest& request,
                                   MxApiVersion version);

// Decodes a `MemberResponseBody` ({"member": {...}}) leniently: nulls,
// unknown keys and MX's known spec type bugs (e.g. `most_recent_job_guid`
// as a boolean) never fail. An unknown `connection_status` string decodes
// to UNSPECIFIED with the string kept in `connection_status_raw`; an
// unparseable timestamp is left unset.
//
// Returns INTERNAL with reason UPSTREAM_RESPONSE_MALFORMED when the body is
// empty, not JSON, not an object, or has no `member` object (null
// included). The message never quotes the body.
absl::StatusOr<::mx::platform::v1::Member> DecodeMemberResponseBody(
    absl::string_view body);

// MX's `CredentialsResponseBody` ({"credentials": [...], "pagination":
// {...}}), leniently as above; an item of `credentials` that is not an
// object (null included) is skipped. INTERNAL UPSTREAM_RESPONSE_MALFORMED
// when the body is empty, not JSON, not an object, or `credentials` is not
// an array (null included); a missing or null `pagination` is left unset.
absl::StatusOr<::mx::platform::v1::ListInstitutionCredentialsResponse>
DecodeCredentialsResponseBody(absl::string_view body);

// MX's `MemberStatusResponseBody` ({"member": {...status...}}), leniently
// as DecodeMemberResponseBody, whose errors it shares. A challenge `type`
// may be a string (TEXT, OPTIONS, TOKEN, IMAGE_DATA, IMAGE_OPTIONS) or an
// integer (0 = TEXT ... 4 = IMAGE_OPTIONS, the order of MX's list;
// unverified); another string or integer is UNSPECIFIED. Either way
// `type_raw` keeps what MX sent (an integer in decimal); any other JSON
// type leaves both unset.
absl::StatusOr<::mx::platform::v1::MemberStatus> DecodeMemberStatusResponseBody(
    absl::string_view body);

// The JSON body of `PUT .../resume`:
// {"member":{"challenges":[{"guid":"...","value":"..."}]}}, one object per
// answer in request order, both keys always. Expects a request that passed
// ValidateResumeMemberRequest; only `challenges` is written. Holds the
// answers: never log it.
std::string EncodeResumeMemberBody(
    const ::mx::platform::v1::ResumeMemberRequest& request);

// MX's `error.message` from a body ({"error": {"message": "..."}}), or
// nullopt when the body has no non-empty such string. A message longer than
// kMaxMxErrorMessageBytes is cut there (on a UTF-8 boundary) and ends "...".
inline constexpr size_t kMaxMxErrorMessageBytes = 1024;
absl::optional<std::string> ExtractMxErrorMessage(absl::string_view body);

// MX's wire strings, e.g. PRODUCT_TRANSACTIONS -> "transactions",
// USE_CASE_PFM -> "PFM", CONNECTION_STATUS_CONNECTED -> "CONNECTED".
// Empty for UNSPECIFIED and unknown values.
absl::string_view ProductToMx(::mx::platform::v1::Product product);
absl::string_view UseCaseToMx(::mx::platform::v1::UseCase use_case);
absl::string_view ConnectionStatusToMx(::mx::platform::v1::ConnectionStatus status);
// The reverse; UNSPECIFIED for an unknown string.
::mx::platform::v1::ConnectionStatus ConnectionStatusFromMx(absl::string_view value);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_MEMBER_JSON_CODEC_H_
