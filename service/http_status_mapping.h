// The one place that compares HTTP status codes: MX's answer (status,
// headers, body) becomes a proto result or an absl::Status with ErrorInfo.
// The transport hands over every HTTP answer, even a 404, as a success;
// this file decides what it means.
#ifndef MXGATE_SERVICE_HTTP_STATUS_MAPPING_H_
#define MXGATE_SERVICE_HTTP_STATUS_MAPPING_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "mx/platform/v1/member_service.pb.h"
#include "service/http_message.h"

namespace mxgate {

// One row of the HTTP error table. `why` is one line for the README.
struct HttpErrorMapping {
  int http_status;
  absl::StatusCode code;
  const char* reason;  // ErrorInfo reason, UPPER_SNAKE
  const char* why;
};

// Every MX error status mxgate knows, in ascending order. Any other non-2xx
// status maps to UNKNOWN with reason kReasonUpstreamUnexpectedStatus.
absl::Span<const HttpErrorMapping> HttpErrorTable();
inline constexpr char kReasonUpstreamUnexpectedStatus[] = "UPSTREAM_UNEXPECTED_STATUS";
// The reason of MX's 502 (in the table), which callers single out.
inline constexpr char kReasonUpstreamBadGateway[] = "UPSTREAM_BAD_GATEWAY";

// The error for a non-2xx answer: the table's code and reason, ErrorInfo
// metadata `http_status` (decimal) and `mx_error_message` (when the body
// has `error.message`), and for 429 and 503 a RetryInfo from `Retry-After`
// (delta-seconds or an HTTP-date relative to `now`; absent or unparseable
// means no RetryInfo). The message names the HTTP status and, when given,
// MX's message; never the request.
absl::Status MapHttpError(const HttpResponse& response, absl::Time now);

// MX's answer to create-member: 200/201/202 with a member body map to the
// three outcomes; another 2xx with a member body is OK with outcome
// UNSPECIFIED; a 2xx without a readable member is INTERNAL
// UPSTREAM_RESPONSE_MALFORMED (with `http_status`); non-2xx is
// MapHttpError. `http_status` is set in every success, and
// `mx_error_message` when the body also carries MX's `error.message`.
absl::StatusOr<::mx::platform::v1::CreateMemberResponse> MapCreateMemberAnswer(
    const HttpResponse& response, absl::Time now);

// The other member calls. Each: non-2xx is MapHttpError; a 2xx whose body
// the codec cannot read is INTERNAL UPSTREAM_RESPONSE_MALFORMED with
// `http_status`.
absl::StatusOr<::mx::platform::v1::ListInstitutionCredentialsResponse>
MapListInstitutionCredentialsAnswer(const HttpResponse& response, absl::Time now);
absl::StatusOr<::mx::platform::v1::GetMemberResponse> MapGetMemberAnswer(
    const HttpResponse& response, absl::Time now);
absl::StatusOr<::mx::platform::v1::GetMemberStatusResponse> MapGetMemberStatusAnswer(
    const HttpResponse& response, absl::Time now);
// `http_status` is set in the response.
absl::StatusOr<::mx::platform::v1::ResumeMemberResponse> MapResumeMemberAnswer(
    const HttpResponse& response, absl::Time now);
// Any 2xx (MX answers 204, no body) is OK; the body is not read.
absl::StatusOr<::mx::platform::v1::DeleteMemberResponse> MapDeleteMemberAnswer(
    const HttpResponse& response, absl::Time now);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_HTTP_STATUS_MAPPING_H_
