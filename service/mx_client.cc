#include "service/mx_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "service/http_status_mapping.h"
#include "service/member_json_codec.h"
#include "service/status_details.h"

namespace mxgate {

std::string PercentEncodePathSegment(absl::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (unsigned char c : segment) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

// cppcheck-suppress passedByValue ; its strings are moved from, not copied
RestMxClient::RestMxClient(Options options, HttpTransport& transport, Metrics* metrics,
                           CircuitBreaker* breaker)
    : base_url_(std::move(options.base_url)),
      authorization_(absl::StrCat(
          "Basic ",
          absl::Base64Escape(absl::StrCat(options.client_id, ":", options.api_key)))),
      timeout_(options.timeout),
      transport_(transport),
      metrics_(metrics),
      breaker_(breaker) {}

namespace {

namespace v1 = ::mx::platform::v1;

// "/users/{u}/members/{m}" with both segments percent-encoded.
template <typename Request>
std::string MemberPath(const Request& request) {
  return absl::StrCat("/users/", PercentEncodePathSegment(request.user_identifier()),
                      "/members/", PercentEncodePathSegment(request.member_identifier()));
}

// An unknown outcome of a create MX refuses to repeat (the member has an
// id): retrying is safe, so the caller gets UNAVAILABLE rather than
// UNKNOWN.
absl::StatusOr<v1::CreateMemberResponse> SafeToRetry(
    absl::StatusOr<v1::CreateMemberResponse> result) {
  if (result.status().code() != absl::StatusCode::kUnknown) return result;
  const auto info = GetErrorInfo(result.status());
  if (!info.has_value() || info->reason() != kReasonUpstreamOutcomeUnknown) return result;
  return MakeError(
      absl::StatusCode::kUnavailable,
      absl::StrCat(result.status().message(),
                   "; retrying the same request is safe: MX refuses a second "
                   "member with the same id"),
      kReasonUpstreamOutcomeUnknown);
}

// MX's 502 means a proxy in front of MX lost the answer: the member may
// exist. Without an id a retry could create a second one, so the caller
// gets UNKNOWN, which no retry policy re-sends, not UNAVAILABLE.
absl::StatusOr<v1::CreateMemberResponse> UnsafeToRetry(
    absl::StatusOr<v1::CreateMemberResponse> result) {
  if (result.status().code() != absl::StatusCode::kUnavailable) return result;
  const auto info = GetErrorInfo(result.status());
  if (!info.has_value() || info->reason() != kReasonUpstreamBadGateway) return result;
  absl::Status unknown(
      absl::StatusCode::kUnknown,
      absl::StrCat(result.status().message(),
                   "; MX may have created the member, and without a "
                   "member id or request_id a retry could create a second"));
  // Same details (ErrorInfo with MX's status), new code and message.
  result.status().ForEachPayload(
      [&unknown](absl::string_view url, const absl::Cord& payload) {
        unknown.SetPayload(url, payload);
      });
  return unknown;
}

// Whether `status` came from the transport (no HTTP answer) rather than
// from MX's answer.
bool IsTransportFailure(const absl::Status& status) {
  const auto info = GetErrorInfo(status);
  if (!info.has_value()) return false;
  const std::string& reason = info->reason();
  return reason == kReasonUpstreamTimeout || reason == kReasonUpstreamUnreachable ||
         reason == kReasonUpstreamOutcomeUnknown || reason == kReasonCancelled ||
         reason == kReasonUpstreamResponseTooLarge;
}

}  // namespace

HttpRequest RestMxClient::BuildRequest(absl::string_view method, absl::string_view path,
                                       MxApiVersion version, absl::Time deadline,
                                       const CallMetadata& metadata,
                                       std::string body) const {
  HttpRequest http;
  http.method = std::string(method);
  http.url = absl::StrCat(base_url_, path);
  http.headers = {
      {"Accept", std::string(MxAcceptHeader(version))},
      {"Accept-Version", std::string(MxApiVersionName(version))},
      {"Authorization", authorization_},
  };
  if (!body.empty()) http.headers.emplace_back("Content-Type", "application/json");
  http.headers.emplace_back("User-Agent", "mxgate/" MXGATE_VERSION);
  // Safe as header values: MakeCallMetadata admits no control characters.
  // traceparent goes on unchanged: mxgate makes no span of its own.
  http.headers.emplace_back("X-Request-Id", metadata.request_id);
  if (!metadata.traceparent.empty()) {
    http.headers.emplace_back("traceparent", metadata.traceparent);
  }
  if (!metadata.tracestate.empty()) {
    http.headers.emplace_back("tracestate", metadata.tracestate);
  }
  http.body = std::move(body);
  http.deadline = std::min(deadline, absl::Now() + timeout_);
  return http;
}

template <typename Response>
// `request` is moved into the transport below; the check cannot see the move
// in this template's dependent call.
// NOLINTNEXTLINE(performance-unnecessary-value-param)
MxClient::CallId RestMxClient::Send(const char* operation, HttpRequest request,
                                    absl::StatusOr<Response> (*map)(const HttpResponse&,
                                                                    absl::Time),
                                    Callback<Response> done) {
  const absl::Time start = absl::Now();
  if (breaker_ != nullptr) {
    absl::Status refused = breaker_->Allow(start);
    if (!refused.ok()) {
      if (metrics_ != nullptr) {
        metrics_->RecordUpstreamFailure(operation, kReasonCircuitOpen,
                                        absl::ZeroDuration());
      }
      done(std::move(refused));
      return kRefusedCallBit | next_refused_id_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // A timeout counts against MX only when the gateway's own budget ran
  // out, not a caller's shorter deadline.
  const bool own_deadline = request.deadline >= start + timeout_;
  return transport_.Send(
      std::move(request),
      [map, operation, start, own_deadline, metrics = metrics_, breaker = breaker_,
       done = std::move(done)](absl::StatusOr<HttpResponse> answer) {
        const absl::Time now = absl::Now();
        if (!answer.ok()) {
          const auto info = GetErrorInfo(answer.status());
          const std::string reason = info.has_value() ? info->reason() : "UNKNOWN";
          if (metrics != nullptr) {
            metrics->RecordUpstreamFailure(operation, reason, now - start);
          }
          if (breaker != nullptr) {
            const bool failure = reason == kReasonUpstreamUnreachable ||
                                 reason == kReasonUpstreamOutcomeUnknown ||
                                 (reason == kReasonUpstreamTimeout && own_deadline);
            breaker->Record(failure ? CircuitBreaker::Outcome::kFailure
                                    : CircuitBreaker::Outcome::kNeither,
                            now);
          }
          done(answer.status());
          return;
        }
        if (metrics != nullptr) {
          metrics->RecordUpstreamAnswer(operation, answer->status_code, now - start);
        }
        if (breaker != nullptr) {
          breaker->Record(CircuitBreaker::IsFailureStatus(answer->status_code)
                              ? CircuitBreaker::Outcome::kFailure
                              : CircuitBreaker::Outcome::kSuccess,
                          now);
        }
        done(map(*answer, now));
      });
}

HttpRequest RestMxClient::BuildCreateMemberRequest(const v1::CreateMemberRequest& request,
                                                   MxApiVersion version,
                                                   absl::Time deadline,
                                                   const CallMetadata& metadata) const {
  HttpRequest http = BuildRequest(
      "POST",
      absl::StrCat("/users/", PercentEncodePathSegment(request.user_identifier()),
                   "/members"),
      version, deadline, metadata, EncodeCreateMemberBody(request, version));
  if (!request.callback_payload().empty()) {
    http.headers.emplace_back("X-CALLBACK-PAYLOAD", request.callback_payload());
  }
  return http;
}

MxClient::CallId RestMxClient::CreateMember(const v1::CreateMemberRequest& request,
                                            MxApiVersion version, absl::Time deadline,
                                            const CallMetadata& metadata,
                                            CreateMemberCallback done) {
  const std::string& request_id = request.request_id();
  std::string member_id = request.member().id();
  HttpRequest http;
  if (member_id.empty() && !request_id.empty()) {
    v1::CreateMemberRequest with_id = request;
    with_id.mutable_member()->set_id(request_id);
    member_id = request_id;
    http = BuildCreateMemberRequest(with_id, version, deadline, metadata);
  } else {
    http = BuildCreateMemberRequest(request, version, deadline, metadata);
  }
  // MX refuses a second member with the same id, so a copy that reaches MX
  // twice creates one member; the 409 is then answered by a read-back.
  http.idempotent = !request_id.empty();
  CreateMemberCallback answer;
  if (request_id.empty()) {
    answer = [retry_is_safe = !member_id.empty(),
              done = std::move(done)](absl::StatusOr<v1::CreateMemberResponse> result) {
      if (retry_is_safe) {
        done(SafeToRetry(std::move(result)));
      } else {
        done(UnsafeToRetry(std::move(result)));
      }
    };
  } else {
    v1::GetMemberRequest read_back;
    read_back.set_user_identifier(request.user_identifier());
    read_back.set_member_identifier(member_id);
    // The read-back shares the create's time budget.
    answer = [this, read_back = std::move(read_back),
              institution_code = request.member().institution_code(), version,
              deadline = http.deadline, metadata, done = std::move(done)](
                 absl::StatusOr<v1::CreateMemberResponse> result) mutable {
      if (result.status().code() != absl::StatusCode::kAlreadyExists) {
        done(SafeToRetry(std::move(result)));
        return;
      }
      ReadBackCreatedMember(read_back, institution_code, version, deadline, metadata,
                            result.status(), std::move(done));
    };
  }
  return Send("createMember", std::move(http), &MapCreateMemberAnswer, std::move(answer));
}

void RestMxClient::ReadBackCreatedMember(const v1::GetMemberRequest& read_back,
                                         const std::string& institution_code,
                                         MxApiVersion version, absl::Time deadline,
                                         const CallMetadata& metadata,
                                         absl::Status conflict,
                                         CreateMemberCallback done) {
  GetMember(read_back, version, deadline, metadata,
            [institution_code, conflict = std::move(conflict),
             done = std::move(done)](absl::StatusOr<v1::GetMemberResponse> member) {
              if (!member.ok()) {
                // A transport failure is worth a retry; MX's own refusal
                // (no such member for this user) leaves the conflict.
                done(IsTransportFailure(member.status()) ? member.status() : conflict);
                return;
              }
              // The same id for another institution is another request's
              // member, not this one's.
              if (member->member().institution_code() != institution_code) {
                done(conflict);
                return;
              }
              v1::CreateMemberResponse created;
              *created.mutable_member() = std::move(*member->mutable_member());
              created.set_outcome(v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
              created.set_http_status(409);
              done(std::move(created));
            });
}

MxClient::CallId RestMxClient::ListInstitutionCredentials(
    const v1::ListInstitutionCredentialsRequest& request, MxApiVersion version,
    absl::Time deadline, const CallMetadata& metadata,
    Callback<v1::ListInstitutionCredentialsResponse> done) {
  std::string path =
      absl::StrCat("/institutions/", PercentEncodePathSegment(request.institution_code()),
                   "/credentials");
  // 0 means MX's default, so only set values go on the query string.
  absl::string_view separator = "?";
  if (request.page() > 0) {
    absl::StrAppend(&path, separator, "page=", request.page());
    separator = "&";
  }
  if (request.records_per_page() > 0) {
    absl::StrAppend(&path, separator, "records_per_page=", request.records_per_page());
  }
  return Send("listInstitutionCredentials",
              BuildRequest("GET", path, version, deadline, metadata, ""),
              &MapListInstitutionCredentialsAnswer, std::move(done));
}

MxClient::CallId RestMxClient::GetMember(const v1::GetMemberRequest& request,
                                         MxApiVersion version, absl::Time deadline,
                                         const CallMetadata& metadata,
                                         Callback<v1::GetMemberResponse> done) {
  return Send("readMember",
              BuildRequest("GET", MemberPath(request), version, deadline, metadata, ""),
              &MapGetMemberAnswer, std::move(done));
}

MxClient::CallId RestMxClient::GetMemberStatus(
    const v1::GetMemberStatusRequest& request, MxApiVersion version, absl::Time deadline,
    const CallMetadata& metadata, Callback<v1::GetMemberStatusResponse> done) {
  return Send("readMemberStatus",
              BuildRequest("GET", absl::StrCat(MemberPath(request), "/status"), version,
                           deadline, metadata, ""),
              &MapGetMemberStatusAnswer, std::move(done));
}

MxClient::CallId RestMxClient::ResumeMember(const v1::ResumeMemberRequest& request,
                                            MxApiVersion version, absl::Time deadline,
                                            const CallMetadata& metadata,
                                            Callback<v1::ResumeMemberResponse> done) {
  return Send("resumeAggregation",
              BuildRequest("PUT", absl::StrCat(MemberPath(request), "/resume"), version,
                           deadline, metadata, EncodeResumeMemberBody(request)),
              &MapResumeMemberAnswer, std::move(done));
}

MxClient::CallId RestMxClient::DeleteMember(const v1::DeleteMemberRequest& request,
                                            MxApiVersion version, absl::Time deadline,
                                            const CallMetadata& metadata,
                                            Callback<v1::DeleteMemberResponse> done) {
  return Send(
      "deleteMember",
      BuildRequest("DELETE", MemberPath(request), version, deadline, metadata, ""),
      &MapDeleteMemberAnswer, std::move(done));
}

void RestMxClient::Cancel(CallId id) {
  if ((id & kRefusedCallBit) != 0) return;  // it never reached the transport
  transport_.Cancel(id);
}

}  // namespace mxgate
