// Everything mxgate checks about a request before MX is called. A refused
// request never reaches MX; the error names every bad field.
//
// Does not: encode anything, or know about HTTP or gRPC.
#ifndef MXGATE_SERVICE_REQUEST_VALIDATION_H_
#define MXGATE_SERVICE_REQUEST_VALIDATION_H_

#include "absl/status/statusor.h"
#include "mx/platform/v1/member_service.pb.h"
#include "service/mx_api_version.h"

namespace mxgate {

// ErrorInfo reason of every validation error.
inline constexpr char kReasonInvalidRequest[] = "INVALID_REQUEST";

// Validates `request` and returns the MX API version to call: the
// request's `accept_version`, or `server_default` when it is empty.
//
// Returns INVALID_ARGUMENT (ErrorInfo reason INVALID_REQUEST, a
// google.rpc.BadRequest listing every violation in request order, and a
// message naming the first bad field) when any rule is broken. Field paths
// follow AIP-193 from the request root, e.g. `member.credentials[1].guid`.
// Never echoes a credential value in a description.
absl::StatusOr<MxApiVersion> ValidateCreateMemberRequest(
    const ::mx::platform::v1::CreateMemberRequest& request, MxApiVersion server_default);

// The other requests, by the same rules: every identifier that becomes a
// path segment (user_identifier, member_identifier, institution_code) is
// required and free of `/`, `?`, `#`, control characters, `.` and `..`;
// accept_version as above. ListInstitutionCredentials: page >= 0 and
// 0 <= records_per_page <= 1000 (0 = MX's default). ResumeMember: at least
// one answer, each with a guid (no control characters) and a non-empty
// value, no guid twice; never echoes an answer value. Same error shape as
// ValidateCreateMemberRequest, the message naming the request type.
absl::StatusOr<MxApiVersion> ValidateListInstitutionCredentialsRequest(
    const ::mx::platform::v1::ListInstitutionCredentialsRequest& request,
    MxApiVersion server_default);
absl::StatusOr<MxApiVersion> ValidateGetMemberRequest(
    const ::mx::platform::v1::GetMemberRequest& request, MxApiVersion server_default);
absl::StatusOr<MxApiVersion> ValidateGetMemberStatusRequest(
    const ::mx::platform::v1::GetMemberStatusRequest& request,
    MxApiVersion server_default);
absl::StatusOr<MxApiVersion> ValidateResumeMemberRequest(
    const ::mx::platform::v1::ResumeMemberRequest& request, MxApiVersion server_default);
absl::StatusOr<MxApiVersion> ValidateDeleteMemberRequest(
    const ::mx::platform::v1::DeleteMemberRequest& request, MxApiVersion server_default);
absl::StatusOr<MxApiVersion> ValidateWatchMemberStatusRequest(
    const ::mx::platform::v1::WatchMemberStatusRequest& request,
    MxApiVersion server_default);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_REQUEST_VALIDATION_H_
