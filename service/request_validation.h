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
    const ::mx::platform::v1::CreateMemberRequest& request,
    MxApiVersion server_default);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_REQUEST_VALIDATION_H_
