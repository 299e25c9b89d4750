// The gRPC handlers of mx.platform.v1.MemberService, on the callback API:
// a handler validates, hands the call to MxClient and returns; the reply
// is sent from MxClient's completion, so no thread waits for MX.
// WatchMemberStatus is a server stream driven the same way, with gRPC
// alarms between polls instead of sleeping threads.
//
// The service also knows its calls in flight, so that the server can drain:
// StartDraining refuses new calls and ends open watches, unary calls run on
// until they finish or AbortCallsInFlight cuts them.
//
// CreateMember calls with a request_id go through a replay cache
// (request_replay.h): a retry on this replica gets the first call's answer
// without calling MX.
#ifndef MXGATE_SERVICE_MEMBER_SERVICE_H_
#define MXGATE_SERVICE_MEMBER_SERVICE_H_

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "service/access_log.h"
#include "service/metrics.h"
#include "service/mx_api_version.h"
#include "service/mx_client.h"
#include "service/poll_limiter.h"
#include "service/request_replay.h"

namespace mxgate {

// ErrorInfo reason of every call refused or ended because the server drains.
inline constexpr char kReasonDraining[] = "DRAINING";
// ErrorInfo reason of a call refused because too many are in flight.
inline constexpr char kReasonOverloaded[] = "OVERLOADED";
// ErrorInfo reason of a CreateMember refused because the first call with
// its request_id has not ended yet (ABORTED, with a RetryInfo).
inline constexpr char kReasonRequestInProgress[] = "REQUEST_IN_PROGRESS";

// How WatchMemberStatus polls MX.
struct WatchOptions {
  // The wait after a poll that saw a change; it grows by `backoff` after
  // each poll that saw none, up to `max_interval`.
  absl::Duration initial_interval = absl::Milliseconds(500);
  absl::Duration max_interval = absl::Seconds(10);
  double backoff = 2.0;
  // Bounds per member and for the whole server (PollLimiter).
  PollLimiter::Options limits;
};

// Bounds on the calls in flight, so that memory stays bounded under
// overload: a call beyond them is refused at once with UNAVAILABLE (reason
// OVERLOADED), a RetryInfo of `retry_delay`, and the same delay as
// `grpc-retry-pushback-ms` trailing metadata, which gRPC's retry policy
// obeys. Unary calls and watches are counted apart, so that long-lived
// watches cannot starve CreateMember.
struct CallLimits {
  int max_unary_calls = 4096;
  int max_watches = 4096;
  absl::Duration retry_delay = absl::Milliseconds(250);
};

// Why a watch ends on this status; UNSPECIFIED while the member is still on
// its way (CREATED, UPDATED, DELAYED, RESUMED, PENDING, or connected but
// still aggregating).
::mx::platform::v1::WatchEndReason EndReasonFor(
    const ::mx::platform::v1::MemberStatus& status);

namespace internal {

// A call in flight, as the drain sees it.
class TrackedCall {
 public:
  virtual ~TrackedCall() = default;
  // The server started draining: a watch ends with UNAVAILABLE (DRAINING);
  // a unary call runs on.
  virtual void OnDrain() = 0;
  // The drain timeout passed: abort the upstream request; the call then
  // ends with CANCELLED.
  virtual void Abort() = 0;
};

// The calls in flight; each is added when its handler starts it and removed
// in its OnDone, so a call counts until its status has been sent.
class CallsInFlight {
 public:
  enum class Kind { kUnary, kWatch };
  enum class Admission { kAdmitted, kDraining, kOverloaded };

  explicit CallsInFlight(const CallLimits& limits) : limits_(limits) {}

  // Tracks `call` when admitted; refused (and not tracked) once draining,
  // or when as many calls of its kind as the limit are in flight.
  Admission Add(TrackedCall* call, Kind kind);
  // A no-op for a call never added.
  void Remove(TrackedCall* call);
  // Refuses later Adds and tells each call; returns how many are in flight.
  int StartDraining();
  // Tells each call to abort.
  void AbortAll();
  // Waits until none is in flight or `deadline` passes; true when none is.
  bool AwaitNone(absl::Time deadline);
  int count() const;

 private:
  const CallLimits limits_;
  mutable absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<TrackedCall*, Kind> calls_ ABSL_GUARDED_BY(mu_);
  int watches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace internal

class MemberService final : public ::mx::platform::v1::MemberService::CallbackService {
 public:
  struct Options {
    // Used when a request names no `accept_version`.
    MxApiVersion default_version = kDefaultMxApiVersion;
    WatchOptions watch;
    CallLimits limits;
    // Each finished call is written to `log` and counted in `metrics` when
    // given (each must outlive the service).
    AccessLog* log = nullptr;
    Metrics* metrics = nullptr;
    // CreateMember's request_id replay cache; max_entries 0 turns it off.
    RequestReplay::Options replay;
  };

  // `client` must outlive the service.
  MemberService(MxClient& client, const Options& options);

  // Each unary RPC refuses invalid input with INVALID_ARGUMENT before MX
  // is called, otherwise relays MX's answer (see member_service.proto). A
  // cancelled call aborts its upstream request.
  //
  // Every RPC (the watch too) reads the caller's x-request-id, traceparent
  // and tracestate (call_metadata.h), sends them to MX, and answers with
  // x-request-id in its initial metadata: the caller's when valid, else a
  // new one. CreateMember takes x-callback-payload from the metadata when
  // the request's callback_payload is empty.
  //
  // CreateMember with a request_id, once the request is valid and the call
  // admitted, asks the replay cache (request_replay.h) about (user,
  // request_id) and the whole request, x-callback-payload included:
  //  - the same request answered OK before: OK with that answer, the same
  //    bytes, MX not called;
  //  - another request: INVALID_ARGUMENT, reason INVALID_REQUEST, a
  //    BadRequest on `request_id`, MX not called;
  //  - the same request still in flight: ABORTED, reason
  //    REQUEST_IN_PROGRESS, a RetryInfo of 1 s, MX not called;
  //  - otherwise MX is called; an OK answer is kept, a failure is not.
  grpc::ServerUnaryReactor* CreateMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::CreateMemberRequest* request,
      ::mx::platform::v1::CreateMemberResponse* response) override;
  grpc::ServerUnaryReactor* ListInstitutionCredentials(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::ListInstitutionCredentialsRequest* request,
      ::mx::platform::v1::ListInstitutionCredentialsResponse* response) override;
  grpc::ServerUnaryReactor* GetMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::GetMemberRequest* request,
      ::mx::platform::v1::GetMemberResponse* response) override;
  grpc::ServerUnaryReactor* GetMemberStatus(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::GetMemberStatusRequest* request,
      ::mx::platform::v1::GetMemberStatusResponse* response) override;
  grpc::ServerUnaryReactor* ResumeMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::ResumeMemberRequest* request,
      ::mx::platform::v1::ResumeMemberResponse* response) override;
  grpc::ServerUnaryReactor* DeleteMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::DeleteMemberRequest* request,
      ::mx::platform::v1::DeleteMemberResponse* response) override;

  grpc::ServerWriteReactor<::mx::platform::v1::WatchMemberStatusResponse>*
  WatchMemberStatus(grpc::CallbackServerContext* context,
                    const ::mx::platform::v1::WatchMemberStatusRequest* request) override;

  // Drain, step by step (MxgateServer::Drain runs them in this order).
  //
  // From now on every new call that passes validation is refused with
  // UNAVAILABLE, reason DRAINING and a RetryInfo of 0 s (retry on another
  // replica at once); open watches
  // end with the same status ("watch again elsewhere"); unary calls in
  // flight run on, upstream requests included. Returns the calls in flight.
  int StartDraining();
  // Waits until no call is in flight or `deadline` passes; true when none
  // is.
  bool AwaitNoCallsInFlight(absl::Time deadline);
  // Aborts the upstream request of every call still in flight; each then
  // ends with CANCELLED (reason CANCELLED), so none is cut silently.
  void AbortCallsInFlight();

  // Unary calls and watches whose status has not been sent yet.
  int calls_in_flight() const;

 private:
  MxClient& client_;
  const Options options_;
  PollLimiter poll_limiter_;
  internal::CallsInFlight calls_;
  RequestReplay replay_;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_MEMBER_SERVICE_H_
