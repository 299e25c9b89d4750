// The MX Platform API as mxgate's handlers see it: one method per MX call,
// taking and returning protos. RestMxClient builds the REST request (URL,
// headers, JSON body), sends it through an HttpTransport, and maps the
// answer; handlers depend only on the abstract MxClient, so tests can stand
// in for MX.
#ifndef MXGATE_SERVICE_MX_CLIENT_H_
#define MXGATE_SERVICE_MX_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mx/platform/v1/member_service.pb.h"
#include "service/call_metadata.h"
#include "service/circuit_breaker.h"
#include "service/metrics.h"
#include "service/mx_api_version.h"
#include "service/mx_transport.h"

namespace mxgate {

class MxClient {
 public:
  using CallId = uint64_t;
  template <typename Response>
  using Callback = std::function<void(absl::StatusOr<Response>)>;
  using CreateMemberCallback = Callback<::mx::platform::v1::CreateMemberResponse>;

  virtual ~MxClient() = default;

  // `POST /users/{user_identifier}/members` for a request that passed
  // ValidateCreateMemberRequest. Returns at once; `done` runs exactly once,
  // usually on another thread (before the call returns when the circuit
  // breaker refuses it), with the mapped answer (http_status_mapping) or a
  // transport failure (mx_transport.h). When the member has an id (its own,
  // or `request_id`, sent as the id when it has none), an unknown outcome
  // is UNAVAILABLE, since a retry cannot create a second member. With a
  // `request_id`, MX's 409 is answered by reading that member back
  // (CREATE_MEMBER_OUTCOME_ALREADY_CREATED). The call ends by `deadline` at the
  // latest (and sooner when the client's own timeout is shorter).
  // `metadata` goes to MX as X-Request-Id, traceparent and tracestate
  // headers. `request` and `metadata` are read before the call returns.
  virtual CallId CreateMember(const ::mx::platform::v1::CreateMemberRequest& request,
                              MxApiVersion version, absl::Time deadline,
                              const CallMetadata& metadata,
                              CreateMemberCallback done) = 0;

  // The other member calls, each with the same contract as CreateMember,
  // for a request that passed its Validate* function:
  // GET /institutions/{institution_code}/credentials[?page=&records_per_page=]
  virtual CallId ListInstitutionCredentials(
      const ::mx::platform::v1::ListInstitutionCredentialsRequest& request,
      MxApiVersion version, absl::Time deadline, const CallMetadata& metadata,
      Callback<::mx::platform::v1::ListInstitutionCredentialsResponse> done) = 0;
  // GET /users/{user_identifier}/members/{member_identifier}
  virtual CallId GetMember(const ::mx::platform::v1::GetMemberRequest& request,
                           MxApiVersion version, absl::Time deadline,
                           const CallMetadata& metadata,
                           Callback<::mx::platform::v1::GetMemberResponse> done) = 0;
  // GET /users/{user_identifier}/members/{member_identifier}/status
  virtual CallId GetMemberStatus(
      const ::mx::platform::v1::GetMemberStatusRequest& request, MxApiVersion version,
      absl::Time deadline, const CallMetadata& metadata,
      Callback<::mx::platform::v1::GetMemberStatusResponse> done) = 0;
  // PUT /users/{user_identifier}/members/{member_identifier}/resume
  virtual CallId ResumeMember(
      const ::mx::platform::v1::ResumeMemberRequest& request, MxApiVersion version,
      absl::Time deadline, const CallMetadata& metadata,
      Callback<::mx::platform::v1::ResumeMemberResponse> done) = 0;
  // DELETE /users/{user_identifier}/members/{member_identifier}
  virtual CallId DeleteMember(
      const ::mx::platform::v1::DeleteMemberRequest& request, MxApiVersion version,
      absl::Time deadline, const CallMetadata& metadata,
      Callback<::mx::platform::v1::DeleteMemberResponse> done) = 0;

  // Aborts a call still in flight; its `done` then runs with CANCELLED.
  // Ids are never 0.
  virtual void Cancel(CallId id) = 0;
};

class RestMxClient final : public MxClient {
 public:
  struct Options {
    // e.g. "https://int-api.mx.com", without a trailing slash.
    std::string base_url;
    std::string client_id;
    std::string api_key;
    // Upper bound of every call, whatever the caller's deadline.
    absl::Duration timeout = absl::Seconds(15);
  };

  // `transport` must outlive the client, as must `metrics` and `breaker`
  // when given: each request's answer or failure and its time are recorded
  // in `metrics`; `breaker` may refuse a request before it is sent (then
  // `done` runs before the call returns) and learns each outcome.
  RestMxClient(Options options, HttpTransport& transport, Metrics* metrics = nullptr,
               CircuitBreaker* breaker = nullptr);

  CallId CreateMember(const ::mx::platform::v1::CreateMemberRequest& request,
                      MxApiVersion version, absl::Time deadline,
                      const CallMetadata& metadata, CreateMemberCallback done) override;
  CallId ListInstitutionCredentials(
      const ::mx::platform::v1::ListInstitutionCredentialsRequest& request,
      MxApiVersion version, absl::Time deadline, const CallMetadata& metadata,
      Callback<::mx::platform::v1::ListInstitutionCredentialsResponse> done) override;
  CallId GetMember(const ::mx::platform::v1::GetMemberRequest& request,
                   MxApiVersion version, absl::Time deadline,
                   const CallMetadata& metadata,
                   Callback<::mx::platform::v1::GetMemberResponse> done) override;
  CallId GetMemberStatus(
      const ::mx::platform::v1::GetMemberStatusRequest& request, MxApiVersion version,
      absl::Time deadline, const CallMetadata& metadata,
      Callback<::mx::platform::v1::GetMemberStatusResponse> done) override;
  CallId ResumeMember(const ::mx::platform::v1::ResumeMemberRequest& request,
                      MxApiVersion version, absl::Time deadline,
                      const CallMetadata& metadata,
                      Callback<::mx::platform::v1::ResumeMemberResponse> done) override;
  CallId DeleteMember(const ::mx::platform::v1::DeleteMemberRequest& request,
                      MxApiVersion version, absl::Time deadline,
                      const CallMetadata& metadata,
                      Callback<::mx::platform::v1::DeleteMemberResponse> done) override;
  void Cancel(CallId id) override;

  // The full request CreateMember sends; exposed for tests. The result
  // holds the Authorization header and credential values: never log it.
  HttpRequest BuildCreateMemberRequest(
      const ::mx::platform::v1::CreateMemberRequest& request, MxApiVersion version,
      absl::Time deadline, const CallMetadata& metadata) const;

 private:
  // The request every call sends: `path` (already encoded) under the base
  // URL, MX's version and auth headers, and a JSON body when not empty.
  HttpRequest BuildRequest(absl::string_view method, absl::string_view path,
                           MxApiVersion version, absl::Time deadline,
                           const CallMetadata& metadata, std::string body) const;

  // A 409 on a create with a request_id: reads the member back by its id,
  // and answers with it when it is this request's (same institution), else
  // with `conflict`. The read-back is bounded by `deadline` but not
  // cancelled by Cancel.
  void ReadBackCreatedMember(const ::mx::platform::v1::GetMemberRequest& read_back,
                             const std::string& institution_code, MxApiVersion version,
                             absl::Time deadline, const CallMetadata& metadata,
                             absl::Status conflict, CreateMemberCallback done);

  // Sends `request`; the answer goes through `map` (an http_status_mapping
  // function) to `done`. `operation` is MX's operationId, for metrics.
  template <typename Response>
  CallId Send(const char* operation, HttpRequest request,
              absl::StatusOr<Response> (*map)(const HttpResponse&, absl::Time),
              Callback<Response> done);

  const std::string base_url_;
  const std::string authorization_;  // "Basic base64(client_id:api_key)"
  const absl::Duration timeout_;
  HttpTransport& transport_;
  Metrics* const metrics_;
  CircuitBreaker* const breaker_;
  // Ids of calls the breaker refused: never a transport's id.
  static constexpr CallId kRefusedCallBit = CallId{1} << 63;
  std::atomic<CallId> next_refused_id_{1};
};

// RFC 3986 percent-encoding of one path segment: every byte outside the
// unreserved set (ALPHA DIGIT - . _ ~) becomes %XX, upper-case hex.
std::string PercentEncodePathSegment(absl::string_view segment);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_MX_CLIENT_H_
