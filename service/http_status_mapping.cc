#include "service/http_status_mapping.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "service/member_json_codec.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using ::mx::platform::v1::CreateMemberOutcome;
using ::mx::platform::v1::CreateMemberResponse;
using ::mx::platform::v1::DeleteMemberResponse;
using ::mx::platform::v1::GetMemberResponse;
using ::mx::platform::v1::GetMemberStatusResponse;
using ::mx::platform::v1::ListInstitutionCredentialsResponse;
using ::mx::platform::v1::Member;
using ::mx::platform::v1::MemberStatus;
using ::mx::platform::v1::ResumeMemberResponse;

// Meanings are from MX's Platform API errors page.
constexpr HttpErrorMapping kHttpErrorTable[] = {
    {400, absl::StatusCode::kInvalidArgument, "UPSTREAM_BAD_REQUEST",
     "MX found a required parameter missing or a product unsupported."},
    {401, absl::StatusCode::kUnauthenticated, "UPSTREAM_UNAUTHENTICATED",
     "MX refused the gateway's client id/API key."},
    {403, absl::StatusCode::kPermissionDenied, "UPSTREAM_PERMISSION_DENIED",
     "MX refused the gateway's IP address or the feature is not enabled."},
    {404, absl::StatusCode::kNotFound, "UPSTREAM_NOT_FOUND",
     "MX knows no such user, institution or path."},
    {405, absl::StatusCode::kFailedPrecondition, "UPSTREAM_CONSTRAINT_NOT_MET",
     "MX's constraint on the endpoint was not met (e.g. resuming a member "
     "that is not CHALLENGED)."},
    {406, absl::StatusCode::kFailedPrecondition, "UPSTREAM_VERSION_NOT_ACCEPTED",
     "MX refused the API version sent; a retry will not help."},
    {409, absl::StatusCode::kAlreadyExists, "UPSTREAM_CONFLICT",
     "The object exists (e.g. a member with this id), or another job runs on the "
     "member."},
    {422, absl::StatusCode::kInvalidArgument, "UPSTREAM_UNPROCESSABLE",
     "MX could not process the data provided."},
    {429, absl::StatusCode::kResourceExhausted, "UPSTREAM_RATE_LIMITED",
     "MX's rate or concurrent-connection limit was hit; retry later."},
    {500, absl::StatusCode::kInternal, "UPSTREAM_INTERNAL_ERROR",
     "MX failed; whether the call took effect is unknown."},
    {502, absl::StatusCode::kUnavailable, kReasonUpstreamBadGateway,
     "A proxy in front of MX got no valid answer; the call may have taken effect."},
    {503, absl::StatusCode::kUnavailable, "UPSTREAM_UNAVAILABLE",
     "MX is down for maintenance; retry with backoff."},
    {504, absl::StatusCode::kDeadlineExceeded, "UPSTREAM_GATEWAY_TIMEOUT",
     "A proxy in front of MX timed out; the call may have taken effect."},
};

constexpr int kHttpTooManyRequests = 429;
constexpr int kHttpServiceUnavailable = 503;

bool IsSuccess(int http_status) { return http_status >= 200 && http_status < 300; }

const HttpErrorMapping* FindErrorMapping(int http_status) {
  for (const HttpErrorMapping& row : kHttpErrorTable) {
    if (row.http_status == http_status) return &row;
  }
  return nullptr;
}

// `Retry-After` (RFC 9110 section 10.2.3) as a delay from `now`: either
// delta-seconds or an IMF-fixdate such as "Sun, 06 Nov 1994 08:49:37 GMT".
// A date in the past means "now". nullopt when absent or unparseable.
absl::optional<absl::Duration> RetryAfter(const HttpResponse& response, absl::Time now) {
  const absl::optional<absl::string_view> header = response.Header("retry-after");
  if (!header.has_value()) return absl::nullopt;
  const absl::string_view value = absl::StripAsciiWhitespace(*header);
  // SimpleAtoi also takes a sign, which delta-seconds (1*DIGIT) does not.
  int64_t seconds = 0;
  if (!value.empty() && absl::ascii_isdigit(value.front()) &&
      absl::SimpleAtoi(value, &seconds)) {
    return absl::Seconds(seconds);
  }
  absl::Time date;
  std::string error;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", value, absl::UTCTimeZone(), &date,
                      &error)) {
    return std::max(date - now, absl::ZeroDuration());
  }
  return absl::nullopt;
}

// `error`, rebuilt with its ErrorInfo reason and metadata plus
// `http_status`, so that a codec error says which answer it came from.
absl::Status WithHttpStatus(const absl::Status& error, int http_status) {
  std::vector<std::pair<std::string, std::string>> metadata;
  std::string reason;
  if (absl::optional<google::rpc::ErrorInfo> info = GetErrorInfo(error)) {
    reason = info->reason();
    metadata.assign(info->metadata().begin(), info->metadata().end());
  }
  metadata.emplace_back(kMetadataHttpStatus, absl::StrCat(http_status));
  return MakeError(error.code(), error.message(), reason, metadata);
}

// The shape every answer with a body shares: non-2xx is MapHttpError; a
// 2xx body goes through `decode`, whose error gains `http_status`.
template <typename Decoded>
absl::StatusOr<Decoded> DecodeSuccess(
    const HttpResponse& response, absl::Time now,
    absl::StatusOr<Decoded> (*decode)(absl::string_view body)) {
  if (!IsSuccess(response.status_code)) return MapHttpError(response, now);
  absl::StatusOr<Decoded> decoded = decode(response.body);
  if (!decoded.ok()) {
    return WithHttpStatus(decoded.status(), response.status_code);
  }
  return decoded;
}

CreateMemberOutcome CreateMemberOutcomeFor(int http_status) {
  switch (http_status) {
    case 200:
      return ::mx::platform::v1::CREATE_MEMBER_OUTCOME_CREATED_NO_AGGREGATION;
    case 201:
      return ::mx::platform::v1::CREATE_MEMBER_OUTCOME_PRODUCT_AGGREGATION_FAILED;
    case 202:
      return ::mx::platform::v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED;
    default:
      return ::mx::platform::v1::CREATE_MEMBER_OUTCOME_UNSPECIFIED;
  }
}

}  // namespace

absl::Span<const HttpErrorMapping> HttpErrorTable() { return kHttpErrorTable; }

absl::Status MapHttpError(const HttpResponse& response, absl::Time now) {
  const int http_status = response.status_code;
  const HttpErrorMapping* row = FindErrorMapping(http_status);
  const absl::StatusCode code = row != nullptr ? row->code : absl::StatusCode::kUnknown;
  const absl::string_view reason =
      row != nullptr ? row->reason : kReasonUpstreamUnexpectedStatus;

  std::string message = absl::StrCat("MX answered HTTP ", http_status);
  std::vector<std::pair<std::string, std::string>> metadata = {
      {kMetadataHttpStatus, absl::StrCat(http_status)}};
  if (absl::optional<std::string> mx_message = ExtractMxErrorMessage(response.body)) {
    absl::StrAppend(&message, ": ", *mx_message);
    metadata.emplace_back(kMetadataMxErrorMessage, *std::move(mx_message));
  }
  absl::Status status = MakeError(code, message, reason, metadata);

  // 429 asks the caller to come back later. MX documents 503 as planned
  // maintenance, where a Retry-After is MX's best guess of its end, so a
  // 503 carrying one gets a RetryInfo too.
  if (http_status == kHttpTooManyRequests || http_status == kHttpServiceUnavailable) {
    if (absl::optional<absl::Duration> delay = RetryAfter(response, now)) {
      AttachRetryInfo(status, *delay);
    }
  }
  return status;
}

absl::StatusOr<CreateMemberResponse> MapCreateMemberAnswer(const HttpResponse& response,
                                                           absl::Time now) {
  absl::StatusOr<Member> member = DecodeSuccess(response, now, &DecodeMemberResponseBody);
  if (!member.ok()) return member.status();

  CreateMemberResponse result;
  *result.mutable_member() = *std::move(member);
  result.set_outcome(CreateMemberOutcomeFor(response.status_code));
  result.set_http_status(response.status_code);
  // A 201 may say which product failed; keep MX's words rather than drop
  // them (the body's shape for this is unverified, so it is read leniently).
  if (absl::optional<std::string> mx_message = ExtractMxErrorMessage(response.body)) {
    result.set_mx_error_message(*std::move(mx_message));
  }
  return result;
}

absl::StatusOr<ListInstitutionCredentialsResponse> MapListInstitutionCredentialsAnswer(
    const HttpResponse& response, absl::Time now) {
  return DecodeSuccess(response, now, &DecodeCredentialsResponseBody);
}

absl::StatusOr<GetMemberResponse> MapGetMemberAnswer(const HttpResponse& response,
                                                     absl::Time now) {
  absl::StatusOr<Member> member = DecodeSuccess(response, now, &DecodeMemberResponseBody);
  if (!member.ok()) return member.status();
  GetMemberResponse result;
  *result.mutable_member() = *std::move(member);
  return result;
}

absl::StatusOr<GetMemberStatusResponse> MapGetMemberStatusAnswer(
    const HttpResponse& response, absl::Time now) {
  absl::StatusOr<MemberStatus> status =
      DecodeSuccess(response, now, &DecodeMemberStatusResponseBody);
  if (!status.ok()) return status.status();
  GetMemberStatusResponse result;
  *result.mutable_status() = *std::move(status);
  return result;
}

absl::StatusOr<ResumeMemberResponse> MapResumeMemberAnswer(const HttpResponse& response,
                                                           absl::Time now) {
  absl::StatusOr<Member> member = DecodeSuccess(response, now, &DecodeMemberResponseBody);
  if (!member.ok()) return member.status();
  ResumeMemberResponse result;
  *result.mutable_member() = *std::move(member);
  result.set_http_status(response.status_code);
  return result;
}

absl::StatusOr<DeleteMemberResponse> MapDeleteMemberAnswer(const HttpResponse& response,
                                                           absl::Time now) {
  if (!IsSuccess(response.status_code)) return MapHttpError(response, now);
  return DeleteMemberResponse();
}

}  // namespace mxgate
