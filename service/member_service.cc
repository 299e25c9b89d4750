#include "service/member_service.h"

#include <string.h>  // explicit_bzero

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/alarm.h"
#include "service/call_metadata.h"
#include "service/grpc_status.h"
#include "service/request_validation.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using internal::CallsInFlight;
using internal::TrackedCall;

// A draining server's answer to a new call, and its last word on an open
// watch: another replica can serve the call (or watch) at once.
absl::Status DrainingError() {
  absl::Status status =
      MakeError(absl::StatusCode::kUnavailable,
                "mxgate is draining: call another replica", kReasonDraining);
  AttachRetryInfo(status, absl::ZeroDuration());
  return status;
}

// A call refused because `limit` calls of its kind are in flight: retry
// after `delay`, here or elsewhere. The delay also goes out as
// grpc-retry-pushback-ms, which gRPC clients' retry policies obey.
absl::Status OverloadedError(grpc::CallbackServerContext& context, absl::string_view kind,
                             int limit, absl::Duration delay) {
  absl::Status status =
      MakeError(absl::StatusCode::kUnavailable,
                absl::StrCat("mxgate has ", limit, " ", kind,
                             " in flight, its limit: retry later or on another replica"),
                kReasonOverloaded);
  AttachRetryInfo(status, delay);
  context.AddTrailingMetadata("grpc-retry-pushback-ms",
                              absl::StrCat(absl::ToInt64Milliseconds(delay)));
  return status;
}

// How long a CreateMember refused as REQUEST_IN_PROGRESS is asked to wait:
// /*1 s*/ is several times what a create is expected to take at MX (bench/
// models 200 ms +- 25%), so the retry most likely finds the first call's
// answer stored, and a caller still waits little.
constexpr absl::Duration kRequestInProgressRetryDelay = absl::Seconds(1);

// A request_id already used by this user for a different request (AIP-155
// forbids it): refused like an invalid field, before MX is called.
absl::Status RequestIdReusedError() {
  constexpr char kWhy[] = "request_id was already used for a different request";
  absl::Status status =
      MakeError(absl::StatusCode::kInvalidArgument,
                absl::StrCat("invalid CreateMemberRequest: request_id: ", kWhy),
                kReasonInvalidRequest);
  AttachBadRequest(status, {{"request_id", kWhy}});
  return status;
}

// The first call with this request_id has not ended. ABORTED (a concurrency
// conflict, AIP-193) rather than waiting for it: no thread waits here.
absl::Status RequestInProgressError() {
  absl::Status status =
      MakeError(absl::StatusCode::kAborted,
                "a CreateMember with this request_id is still in progress: retry "
                "once it has ended",
                kReasonRequestInProgress);
  AttachRetryInfo(status, kRequestInProgressRetryDelay);
  return status;
}

// The bytes a request is fingerprinted by: deterministic, so that the same
// request always gives the same bytes.
std::string DeterministicBytes(const google::protobuf::Message& request) {
  std::string bytes;
  // Room for all of it: growing would leave copies of the credentials in
  // freed blocks (the caller zeroes this one).
  bytes.reserve(request.ByteSizeLong());
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializePartialToCodedStream(&coded);
  }  // the stream writes its last bytes when destroyed
  return bytes;
}

// The caller's value of metadata `key` (the first when repeated); empty
// when absent.
absl::string_view ClientMetadata(const grpc::CallbackServerContext& context,
                                 absl::string_view key) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return {};
  return absl::string_view(it->second.data(), it->second.size());
}

// Reads the call's ids.
CallMetadata ReadCallMetadata(const grpc::CallbackServerContext& context) {
  return MakeCallMetadata(ClientMetadata(context, kRequestIdKey),
                          ClientMetadata(context, kTraceparentKey),
                          ClientMetadata(context, kTracestateKey));
}

// Gives the caller its request id back: with the response headers of a call
// that sends a message, in the trailers of one that fails without any. A
// failed call must stay "Trailers-Only": a gRPC client that has received
// headers treats the call as committed and never retries it, so a
// DRAINING or OVERLOADED refusal would never reach another replica.
void ReturnRequestId(grpc::CallbackServerContext& context, const CallMetadata& metadata,
                     bool with_headers) {
  if (with_headers) {
    context.AddInitialMetadata(kRequestIdKey, metadata.request_id);
  } else {
    context.AddTrailingMetadata(kRequestIdKey, metadata.request_id);
  }
}

// What the log may know of a request or a response, for the message types
// that have it: overloads ranked by priority, the last one a fallback.
struct Fallback {};
struct Preferred : Fallback {};

template <typename Request>
auto UserOf(const Request& request, Preferred)
    -> decltype(std::string(request.user_identifier())) {
  return request.user_identifier();
}
template <typename Request>
std::string UserOf(const Request&, Fallback) {
  return "";
}

template <typename Request>
auto RequestIdOf(const Request& request, Preferred)
    -> decltype(std::string(request.request_id())) {
  return request.request_id();
}
template <typename Request>
std::string RequestIdOf(const Request&, Fallback) {
  return "";
}

template <typename Response>
auto HttpStatusOf(const Response& response, Preferred)
    -> decltype(static_cast<int>(response.http_status())) {
  return response.http_status();
}
template <typename Response>
int HttpStatusOf(const Response&, Fallback) {
  return 0;  // MX answered 2xx; the mapping kept no code
}

template <typename Response>
auto MemberGuidOf(const Response& response, Preferred)
    -> decltype(std::string(response.member().guid())) {
  return response.member().guid();
}
template <typename Response>
std::string MemberGuidOf(const Response&, Fallback) {
  return "";
}

constexpr char kWatchMethod[] = "WatchMemberStatus";

// One call's access log line and metrics: its ids and start, kept from the
// handler on, written once when the call finishes.
class CallLog {
 public:
  // `log` and `metrics` may be null: nothing is written there.
  CallLog(AccessLog* log, Metrics* metrics, absl::string_view method,
          CallMetadata metadata, std::string user_identifier)
      : log_(log),
        metrics_(metrics),
        method_(method),
        start_(log_ != nullptr ? log_->Now() : absl::Now()),
        metadata_(std::move(metadata)),
        user_identifier_(std::move(user_identifier)) {}

  const CallMetadata& metadata() const { return metadata_; }

  // `status` is what the caller gets; its ErrorInfo gives the reason and
  // MX's status (metadata http_status). On success, `upstream_status` and
  // `member_guid` are what MX answered, when known.
  void Write(const grpc::Status& status, int upstream_status = 0,
             absl::string_view member_guid = {}) const {
    if (metrics_ != nullptr) {
      const absl::Time now = log_ != nullptr ? log_->Now() : absl::Now();
      metrics_->RecordRpc(method_, method_ == kWatchMethod,
                          static_cast<absl::StatusCode>(status.error_code()),
                          now - start_);
    }
    if (log_ == nullptr) return;
    RpcLogEntry entry;
    entry.method = method_;
    entry.start = start_;
    entry.code = static_cast<absl::StatusCode>(status.error_code());
    entry.upstream_status = upstream_status;
    entry.request_id = metadata_.request_id;
    entry.trace_id = metadata_.trace_id();
    entry.user_identifier = user_identifier_;
    entry.member_guid = member_guid;
    google::rpc::Status details;
    google::rpc::ErrorInfo info;
    if (!status.ok() && details.ParseFromString(status.error_details())) {
      for (const google::protobuf::Any& detail : details.details()) {
        if (detail.UnpackTo(&info)) break;
      }
      entry.reason = info.reason();
      const auto http_status = info.metadata().find(kMetadataHttpStatus);
      if (http_status != info.metadata().end()) {
        (void)absl::SimpleAtoi(http_status->second, &entry.upstream_status);
      }
    }
    log_->Record(entry);
  }

 private:
  AccessLog* const log_;
  Metrics* const metrics_;
  const absl::string_view method_;  // a literal
  const absl::Time start_;
  const CallMetadata metadata_;
  const std::string user_identifier_;
};

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context,
                                 const absl::Status& status, const CallLog& log) {
  const grpc::Status refusal = ToGrpcStatus(status);
  log.Write(refusal);
  ReturnRequestId(*context, log.metadata(), /*with_headers=*/false);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(refusal);
  return reactor;
}

absl::Time DeadlineOf(const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// One MxClient call driven from a reactor. The completion may arrive on
// any thread, even before the client returned the call's id, and it may
// delete the reactor (which owns this object). So: a completion that
// arrives while Start() runs is delivered by Start() as its very last act,
// a cancel that arrives before the id is known is forwarded by Start(),
// and nothing here touches a member after the completion may have run.
template <typename Result>
class UpstreamCall {
 public:
  explicit UpstreamCall(MxClient& client) : client_(client) {}

  // `send` starts the call with the completion it is given and returns the
  // id; `on_done` then runs exactly once.
  template <typename Send>
  void Start(Send send, std::function<void(Result)> on_done) {
    {
      absl::MutexLock lock(&mu_);
      starting_ = true;
    }
    const MxClient::CallId id = send([this, on_done](Result result) {
      {
        absl::MutexLock lock(&mu_);
        id_ = 0;
        if (starting_) {  // Start() still runs: it delivers the result
          early_ = std::move(result);
          return;
        }
      }
      on_done(std::move(result));
    });
    MxClient& client = client_;
    absl::optional<Result> early;
    bool cancel;
    {
      absl::MutexLock lock(&mu_);
      starting_ = false;
      early.swap(early_);
      if (!early.has_value()) id_ = id;
      cancel = cancel_requested_ && !early.has_value();
    }
    if (early.has_value()) {
      on_done(*std::move(early));
    } else if (cancel) {
      client.Cancel(id);
    }
  }

  // Aborts the call in flight, now or as soon as its id is known; later
  // Start()s are aborted too.
  void Cancel() {
    MxClient::CallId id;
    {
      absl::MutexLock lock(&mu_);
      cancel_requested_ = true;
      id = id_;
    }
    if (id != 0) client_.Cancel(id);
  }

 private:
  MxClient& client_;
  absl::Mutex mu_;
  bool starting_ ABSL_GUARDED_BY(mu_) = false;
  bool cancel_requested_ ABSL_GUARDED_BY(mu_) = false;
  MxClient::CallId id_ ABSL_GUARDED_BY(mu_) = 0;  // 0: none in flight
  absl::optional<Result> early_ ABSL_GUARDED_BY(mu_);
};

// One unary call relayed to MX: lives from the handler until gRPC says it
// is done, and counts as in flight until then.
template <typename Response>
class RelayReactor final : public grpc::ServerUnaryReactor, public TrackedCall {
 public:
  RelayReactor(grpc::CallbackServerContext* context, MxClient& client,
               CallsInFlight& calls, Response* response, CallLog log)
      : context_(context),
        calls_(calls),
        response_(response),
        log_(std::move(log)),
        call_(client) {}

  const CallMetadata& metadata() const { return log_.metadata(); }

  // The replay cache's reservation of this call's request_id: the answer
  // MX gives is stored there when OK, and the key released otherwise.
  void Hold(RequestReplay::Reservation reservation) {
    reservation_ = std::move(reservation);
  }

  template <typename Send>
  void Start(Send send) {
    call_.Start(send, [this](absl::StatusOr<Response> result) {
      const grpc::Status status = ToGrpcStatus(result.status());
      if (!result.ok()) {
        reservation_.Release();  // a failure is not replayed: a retry calls MX
        return End(status);
      }
      *response_ = *std::move(result);
      // Stored before the caller can see the answer, so its retry finds it.
      if (reservation_.held()) {
        reservation_.Store(response_->SerializeAsString(), absl::Now());
      }
      End(status, HttpStatusOf(*response_, Preferred()),
          MemberGuidOf(*response_, Preferred()));
    });
  }

  // Answers `response`, the serialized answer of an earlier call, without
  // calling MX. MX was not asked, so the log shows no upstream status.
  void Replay(const std::string& response) {
    if (!response_->ParseFromString(response)) {  // a bug: it was serialized here
      return End(ToGrpcStatus(
          absl::InternalError("the replay cache held an unreadable answer")));
    }
    End(grpc::Status::OK, /*upstream_status=*/0, MemberGuidOf(*response_, Preferred()));
  }

  // Ends the call with `error` without calling MX.
  void Reject(const absl::Status& error) { End(ToGrpcStatus(error)); }

  void OnCancel() override { call_.Cancel(); }
  void OnDone() override {
    reservation_.Release();  // the backstop: a no-op once stored or released
    calls_.Remove(this);
    delete this;
  }

  void OnDrain() override {}  // a unary call runs to completion
  void Abort() override { call_.Cancel(); }

 private:
  void End(const grpc::Status& status, int upstream_status = 0,
           absl::string_view member_guid = {}) {
    log_.Write(status, upstream_status, member_guid);
    ReturnRequestId(*context_, log_.metadata(), /*with_headers=*/status.ok());
    Finish(status);  // may delete `this`
  }

  grpc::CallbackServerContext* const context_;
  CallsInFlight& calls_;
  Response* const response_;
  const CallLog log_;
  UpstreamCall<absl::StatusOr<Response>> call_;
  RequestReplay::Reservation reservation_;
};

// Asks `replay` about `request` and, unless MX is to be called, ends the
// call with the cache's answer; true when it did. Counts those answers,
// before the caller can see them.
template <typename Request, typename Response>
bool AnsweredByReplay(RequestReplay& replay, const Request& request,
                      RelayReactor<Response>& reactor, Metrics* metrics) {
  std::string bytes = DeterministicBytes(request);  // credentials included
  RequestReplay::Decision decision =
      replay.Begin(UserOf(request, Preferred()), RequestIdOf(request, Preferred()), bytes,
                   absl::Now());
  explicit_bzero(bytes.data(), bytes.size());
  const auto count = [metrics](absl::string_view result) {
    if (metrics != nullptr) metrics->RecordRequestReplay(result);
  };
  switch (decision.outcome) {
    case RequestReplay::Outcome::kProceed:
      reactor.Hold(std::move(decision.reservation));
      return false;
    case RequestReplay::Outcome::kReplay:
      count("replayed");
      reactor.Replay(decision.response);
      return true;
    case RequestReplay::Outcome::kMismatch:
      count("mismatch");
      reactor.Reject(RequestIdReusedError());
      return true;
    case RequestReplay::Outcome::kInProgress:
      count("in_progress");
      reactor.Reject(RequestInProgressError());
      return true;
  }
  return false;
}

// Validate, then relay to `call` on the client: the shape of every unary
// handler. With `replay` (CreateMember with a request_id only), the cache
// may answer instead of MX. `request` is only read before Relay returns.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* Relay(
    grpc::CallbackServerContext* context, const Request& request, Response* response,
    MxClient& client, CallsInFlight& calls, const MemberService::Options& options,
    absl::string_view method,
    absl::StatusOr<MxApiVersion> (*validate)(const Request&, MxApiVersion),
    MxClient::CallId (MxClient::*call)(const Request&, MxApiVersion, absl::Time,
                                       const CallMetadata&, MxClient::Callback<Response>),
    RequestReplay* replay = nullptr) {
  CallLog log(options.log, options.metrics, method, ReadCallMetadata(*context),
              UserOf(request, Preferred()));
  // An invalid request is refused as such even while draining or
  // overloaded: no replica would take it.
  absl::StatusOr<MxApiVersion> version = validate(request, options.default_version);
  if (!version.ok()) return Refuse(context, version.status(), log);
  auto* reactor = new RelayReactor<Response>(context, client, calls, response, log);
  switch (calls.Add(reactor, CallsInFlight::Kind::kUnary)) {
    case CallsInFlight::Admission::kAdmitted:
      break;
    case CallsInFlight::Admission::kDraining:
      delete reactor;  // never handed to gRPC
      return Refuse(context, DrainingError(), log);
    case CallsInFlight::Admission::kOverloaded:
      delete reactor;
      return Refuse(
          context,
          OverloadedError(*context, "unary calls", options.limits.max_unary_calls,
                          options.limits.retry_delay),
          log);
  }
  if (replay != nullptr &&
      AnsweredByReplay(*replay, request, *reactor, options.metrics)) {
    return reactor;
  }
  const absl::Time deadline = DeadlineOf(*context);
  reactor->Start([&](MxClient::Callback<Response> done) {
    return (client.*call)(request, *version, deadline, reactor->metadata(),
                          std::move(done));
  });
  return reactor;
}

bool IsConnectedStatus(v1::ConnectionStatus status) {
  return status == v1::CONNECTION_STATUS_CONNECTED ||
         status == v1::CONNECTION_STATUS_RECONNECTED ||
         status == v1::CONNECTION_STATUS_DEGRADED;
}

// The states MX documents as "keep polling".
bool IsTransientStatus(v1::ConnectionStatus status) {
  switch (status) {
    case v1::CONNECTION_STATUS_UNSPECIFIED:  // null or unknown: keep looking
    case v1::CONNECTION_STATUS_CREATED:
    case v1::CONNECTION_STATUS_UPDATED:
    case v1::CONNECTION_STATUS_DELAYED:
    case v1::CONNECTION_STATUS_RESUMED:
    case v1::CONNECTION_STATUS_PENDING:
      return true;
    default:
      return false;
  }
}

// A watch refused before it started: the stream ends with `status`.
class RefusedWatch final
    : public grpc::ServerWriteReactor<v1::WatchMemberStatusResponse> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// One WatchMemberStatus stream. At any time exactly one thing is under
// way: a poll of MX, an alarm before the next poll, or a write to the
// caller; the stream finishes only when none is, so nothing can call back
// into a deleted reactor. A cancel or a drain stops it early (Stop).
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchMemberStatusResponse>,
                           public TrackedCall {
 public:
  WatchReactor(grpc::CallbackServerContext* context, MxClient& client,
               CallsInFlight& calls, PollLimiter& limiter, const WatchOptions& options,
               const v1::WatchMemberStatusRequest& request, MxApiVersion version,
               absl::Time deadline, CallLog log)
      : context_(context),
        client_(client),
        calls_(calls),
        limiter_(limiter),
        options_(options),
        version_(version),
        deadline_(deadline),
        started_(absl::Now()),
        member_key_(
            absl::StrCat(request.user_identifier(), "/", request.member_identifier())),
        log_(std::move(log)),
        interval_(options.initial_interval),
        poll_(client) {
    poll_request_.set_user_identifier(request.user_identifier());
    poll_request_.set_member_identifier(request.member_identifier());
    poll_request_.set_accept_version(request.accept_version());
  }

  // The first poll goes at once (within the limits).
  void Start() { WaitUntil(absl::Now(), /*reserved=*/false); }

  void OnCancel() override {
    Stop(grpc::Status(grpc::StatusCode::CANCELLED, "the watch was cancelled"));
  }
  // Ended explicitly, not cut: the caller watches again on another replica.
  void OnDrain() override { Stop(ToGrpcStatus(DrainingError())); }
  void Abort() override { OnDrain(); }  // a no-op: OnDrain already stopped it

  void OnWriteDone(bool ok) override {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      last = message_.final();
    }
    if (!ok)
      return End(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
    if (last) return End(grpc::Status::OK);
    WaitUntil(absl::Now() + interval_, /*reserved=*/false);
  }

  void OnDone() override {
    calls_.Remove(this);
    delete this;
  }

 private:
  enum class Step { kPolling, kWaiting, kWriting, kDone };

  // Ends the watch early with `status` (the first reason given wins): the
  // step under way ends early and then finishes the stream. Once `stop_` is
  // set no new step starts, so `alarm` stays valid; the caller (gRPC's
  // OnCancel, or CallsInFlight under its lock) keeps the reactor alive.
  void Stop(grpc::Status status) {
    grpc::Alarm* alarm = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (stop_.has_value()) return;
      stop_ = std::move(status);
      if (step_ == Step::kWaiting) alarm = alarms_[current_alarm_].get();
    }
    if (alarm != nullptr) alarm->Cancel();
    poll_.Cancel();
  }

  // Why the watch stops early; nullopt while it runs on.
  absl::optional<grpc::Status> stop() {
    absl::MutexLock lock(&mu_);
    return stop_;
  }

  // Sets an alarm for `when`; `reserved` says the poll limiter already gave
  // this slot. Two alarm objects alternate, so an alarm is only replaced
  // once its own callback has returned.
  void WaitUntil(absl::Time when, bool reserved) {
    grpc::Status stopped;
    {
      absl::MutexLock lock(&mu_);
      if (stop_.has_value()) {
        step_ = Step::kWaiting;  // so End below is the only finisher
        stopped = *stop_;
      } else {
        step_ = Step::kWaiting;
        current_alarm_ = 1 - current_alarm_;
        alarms_[current_alarm_] = std::make_unique<grpc::Alarm>();
        alarms_[current_alarm_]->Set(absl::ToChronoTime(when), [this, reserved](bool ok) {
          OnAlarm(ok, reserved);
        });
        return;
      }
    }
    End(stopped);
  }

  void OnAlarm(bool fired, bool reserved) {
    const absl::optional<grpc::Status> stopped = stop();
    if (stopped.has_value()) return End(*stopped);
    if (!fired) {
      return End(grpc::Status(grpc::StatusCode::CANCELLED, "the watch was cancelled"));
    }
    const absl::Time now = absl::Now();
    if (!reserved) {
      const absl::Time slot = limiter_.Reserve(member_key_, now);
      if (slot > now) return WaitUntil(slot, /*reserved=*/true);
    }
    Poll();
  }

  void Poll() {
    {
      absl::MutexLock lock(&mu_);
      step_ = Step::kPolling;
    }
    poll_.Start(
        [&](MxClient::Callback<v1::GetMemberStatusResponse> done) {
          return client_.GetMemberStatus(poll_request_, version_, deadline_,
                                         log_.metadata(), std::move(done));
        },
        [this](absl::StatusOr<v1::GetMemberStatusResponse> result) {
          OnStatus(std::move(result));
        });
  }

  void OnStatus(absl::StatusOr<v1::GetMemberStatusResponse> result) {
    const absl::optional<grpc::Status> stopped = stop();
    if (stopped.has_value()) return End(*stopped);
    if (!result.ok()) return End(ToGrpcStatus(result.status()));

    v1::MemberStatus& status = *result->mutable_status();
    const bool changed =
        !last_sent_.has_value() ||
        !google::protobuf::util::MessageDifferencer::Equals(*last_sent_, status);
    if (!changed) {
      interval_ = std::min(interval_ * options_.backoff, options_.max_interval);
      return WaitUntil(absl::Now() + interval_, /*reserved=*/false);
    }
    interval_ = options_.initial_interval;
    if (!last_sent_.has_value()) {
      ReturnRequestId(*context_, log_.metadata(), /*with_headers=*/true);
    }
    last_sent_ = status;
    const v1::WatchEndReason reason = EndReasonFor(status);
    const absl::Duration elapsed = absl::Now() - started_;
    {
      absl::MutexLock lock(&mu_);
      step_ = Step::kWriting;
      message_.Clear();
      *message_.mutable_status() = std::move(status);
      message_.set_final(reason != v1::WATCH_END_REASON_UNSPECIFIED);
      message_.set_end_reason(reason);
      message_.mutable_elapsed()->set_seconds(absl::ToInt64Seconds(elapsed));
      message_.mutable_elapsed()->set_nanos(
          static_cast<int32_t>(absl::ToInt64Nanoseconds(elapsed % absl::Seconds(1))));
    }
    StartWrite(&message_);
  }

  // Finishes the stream once.
  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (step_ == Step::kDone) return;
      step_ = Step::kDone;
    }
    log_.Write(status, /*upstream_status=*/0,
               last_sent_.has_value() ? last_sent_->guid() : "");
    if (!last_sent_.has_value()) {
      ReturnRequestId(*context_, log_.metadata(), /*with_headers=*/false);
    }
    Finish(status);  // may delete `this`
  }

  grpc::CallbackServerContext* const context_;
  MxClient& client_;
  CallsInFlight& calls_;
  PollLimiter& limiter_;
  const WatchOptions& options_;
  const MxApiVersion version_;
  const absl::Time deadline_;
  const absl::Time started_;
  const std::string member_key_;
  v1::GetMemberStatusRequest poll_request_;
  const CallLog log_;

  // Touched by one step at a time (the steps are sequential).
  absl::Duration interval_;
  absl::optional<v1::MemberStatus> last_sent_;
  UpstreamCall<absl::StatusOr<v1::GetMemberStatusResponse>> poll_;
  std::unique_ptr<grpc::Alarm> alarms_[2];

  absl::Mutex mu_;
  Step step_ ABSL_GUARDED_BY(mu_) = Step::kWaiting;
  absl::optional<grpc::Status> stop_ ABSL_GUARDED_BY(mu_);
  int current_alarm_ ABSL_GUARDED_BY(mu_) = 0;
  v1::WatchMemberStatusResponse message_;  // lives until OnWriteDone
};

}  // namespace

namespace internal {

CallsInFlight::Admission CallsInFlight::Add(TrackedCall* call, Kind kind) {
  absl::MutexLock lock(&mu_);
  if (draining_) return Admission::kDraining;
  const int unary = static_cast<int>(calls_.size()) - watches_;
  if (kind == Kind::kWatch ? watches_ >= limits_.max_watches
                           : unary >= limits_.max_unary_calls) {
    return Admission::kOverloaded;
  }
  calls_.emplace(call, kind);
  if (kind == Kind::kWatch) ++watches_;
  return Admission::kAdmitted;
}

void CallsInFlight::Remove(TrackedCall* call) {
  absl::MutexLock lock(&mu_);
  const auto it = calls_.find(call);
  if (it == calls_.end()) return;
  if (it->second == Kind::kWatch) --watches_;
  calls_.erase(it);
}

// The calls are told under the lock: a call's OnDone waits in Remove, so
// none is deleted meanwhile. OnDrain and Abort only set flags and cancel
// alarms and transfers, whose completions run on other threads.
int CallsInFlight::StartDraining() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  for (const auto& [call, kind] : calls_) call->OnDrain();
  return static_cast<int>(calls_.size());
}

void CallsInFlight::AbortAll() {
  absl::MutexLock lock(&mu_);
  for (const auto& [call, kind] : calls_) call->Abort();
}

bool CallsInFlight::AwaitNone(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      absl::Condition(
          +[](absl::flat_hash_map<TrackedCall*, Kind>* calls) { return calls->empty(); },
          &calls_),
      deadline);
}

int CallsInFlight::count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(calls_.size());
}

}  // namespace internal

v1::WatchEndReason EndReasonFor(const v1::MemberStatus& status) {
  const v1::ConnectionStatus connection = status.connection_status();
  if (IsConnectedStatus(connection)) {
    return status.is_being_aggregated() ? v1::WATCH_END_REASON_UNSPECIFIED
                                        : v1::WATCH_END_REASON_CONNECTED;
  }
  if (connection == v1::CONNECTION_STATUS_CHALLENGED) {
    return v1::WATCH_END_REASON_CHALLENGED;
  }
  if (IsTransientStatus(connection)) return v1::WATCH_END_REASON_UNSPECIFIED;
  return v1::WATCH_END_REASON_END_STATE;
}

MemberService::MemberService(MxClient& client, const Options& options)
    : client_(client),
      options_(options),
      poll_limiter_(options_.watch.limits),
      calls_(options_.limits),
      replay_(options_.replay) {}

grpc::ServerUnaryReactor* MemberService::CreateMember(
    grpc::CallbackServerContext* context, const v1::CreateMemberRequest* request,
    v1::CreateMemberResponse* response) {
  // The metadata stands in for an empty field, and is validated as the
  // field: for callers whose framework sets headers more easily than fields.
  const absl::string_view payload = ClientMetadata(*context, kCallbackPayloadKey);
  v1::CreateMemberRequest with_payload;
  if (request->callback_payload().empty() && !payload.empty()) {
    with_payload = *request;
    with_payload.set_callback_payload(std::string(payload));
    request = &with_payload;  // Relay reads it before returning
  }
  // Only calls with a request_id take part: without one, a retry is a new
  // create by design.
  RequestReplay* replay =
      request->request_id().empty() || !replay_.enabled() ? nullptr : &replay_;
  return Relay(context, *request, response, client_, calls_, options_, "CreateMember",
               &ValidateCreateMemberRequest, &MxClient::CreateMember, replay);
}

grpc::ServerUnaryReactor* MemberService::ListInstitutionCredentials(
    grpc::CallbackServerContext* context,
    const v1::ListInstitutionCredentialsRequest* request,
    v1::ListInstitutionCredentialsResponse* response) {
  return Relay(context, *request, response, client_, calls_, options_,
               "ListInstitutionCredentials", &ValidateListInstitutionCredentialsRequest,
               &MxClient::ListInstitutionCredentials);
}

grpc::ServerUnaryReactor* MemberService::GetMember(grpc::CallbackServerContext* context,
                                                   const v1::GetMemberRequest* request,
                                                   v1::GetMemberResponse* response) {
  return Relay(context, *request, response, client_, calls_, options_, "GetMember",
               &ValidateGetMemberRequest, &MxClient::GetMember);
}

grpc::ServerUnaryReactor* MemberService::GetMemberStatus(
    grpc::CallbackServerContext* context, const v1::GetMemberStatusRequest* request,
    v1::GetMemberStatusResponse* response) {
  return Relay(context, *request, response, client_, calls_, options_, "GetMemberStatus",
               &ValidateGetMemberStatusRequest, &MxClient::GetMemberStatus);
}

grpc::ServerUnaryReactor* MemberService::ResumeMember(
    grpc::CallbackServerContext* context, const v1::ResumeMemberRequest* request,
    v1::ResumeMemberResponse* response) {
  return Relay(context, *request, response, client_, calls_, options_, "ResumeMember",
               &ValidateResumeMemberRequest, &MxClient::ResumeMember);
}

grpc::ServerUnaryReactor* MemberService::DeleteMember(
    grpc::CallbackServerContext* context, const v1::DeleteMemberRequest* request,
    v1::DeleteMemberResponse* response) {
  return Relay(context, *request, response, client_, calls_, options_, "DeleteMember",
               &ValidateDeleteMemberRequest, &MxClient::DeleteMember);
}

grpc::ServerWriteReactor<v1::WatchMemberStatusResponse>* MemberService::WatchMemberStatus(
    grpc::CallbackServerContext* context, const v1::WatchMemberStatusRequest* request) {
  CallLog log(options_.log, options_.metrics, kWatchMethod, ReadCallMetadata(*context),
              request->user_identifier());
  const auto refuse = [&log, context](const absl::Status& status) {
    const grpc::Status refusal = ToGrpcStatus(status);
    log.Write(refusal);
    ReturnRequestId(*context, log.metadata(), /*with_headers=*/false);
    return new RefusedWatch(refusal);
  };
  absl::StatusOr<MxApiVersion> version =
      ValidateWatchMemberStatusRequest(*request, options_.default_version);
  if (!version.ok()) return refuse(version.status());
  auto* reactor =
      new WatchReactor(context, client_, calls_, poll_limiter_, options_.watch, *request,
                       *version, DeadlineOf(*context), log);
  switch (calls_.Add(reactor, CallsInFlight::Kind::kWatch)) {
    case CallsInFlight::Admission::kAdmitted:
      break;
    case CallsInFlight::Admission::kDraining:
      delete reactor;  // never handed to gRPC
      return refuse(DrainingError());
    case CallsInFlight::Admission::kOverloaded:
      delete reactor;
      return refuse(OverloadedError(*context, "watches", options_.limits.max_watches,
                                    options_.limits.retry_delay));
  }
  reactor->Start();
  return reactor;
}

int MemberService::StartDraining() { return calls_.StartDraining(); }

bool MemberService::AwaitNoCallsInFlight(absl::Time deadline) {
  return calls_.AwaitNone(deadline);
}

void MemberService::AbortCallsInFlight() { calls_.AbortAll(); }

int MemberService::calls_in_flight() const { return calls_.count(); }

}  // namespace mxgate
