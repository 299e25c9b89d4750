#include "service/member_service.h"

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "service/access_log.h"
#include "service/call_metadata.h"
#include "service/metrics.h"
#include "service/request_replay.h"
#include "service/request_validation.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Every wait is bounded by this; a bug fails the test instead of hanging it.
constexpr absl::Duration kWait = absl::Seconds(30);
// The service's own default, chosen unlike kDefaultMxApiVersion so that a
// test can tell it from a hard-coded default.
constexpr MxApiVersion kServerDefault = MxApiVersion::kV20111101;

MemberService::Options ServiceOptions(
    const WatchOptions& watch, AccessLog* log, const CallLimits& limits = CallLimits(),
    Metrics* metrics = nullptr,
    const RequestReplay::Options& replay = RequestReplay::Options()) {
  MemberService::Options options;
  options.default_version = kServerDefault;
  options.watch = watch;
  options.limits = limits;
  options.log = log;
  options.metrics = metrics;
  options.replay = replay;
  return options;
}

// Stands in for MX: keeps each call's `done` until the test completes it.
class FakeMxClient final : public MxClient {
 public:
  struct Call {
    CallId id;
    v1::CreateMemberRequest request;
    MxApiVersion version;
    absl::Time deadline;
    CallMetadata metadata;
  };

  // From now on, CreateMember runs `done` with `result` before returning.
  void CompleteInsideCreateMember(absl::StatusOr<v1::CreateMemberResponse> result) {
    absl::MutexLock lock(&mu_);
    inline_result_ = std::move(result);
  }

  // From now on, CreateMember returns only once `release` is notified.
  void HoldCreateMemberUntil(absl::Notification* release) {
    absl::MutexLock lock(&mu_);
    release_ = release;
  }

  CallId CreateMember(const v1::CreateMemberRequest& request, MxApiVersion version,
                      absl::Time deadline, const CallMetadata& metadata,
                      CreateMemberCallback done) override {
    absl::optional<absl::StatusOr<v1::CreateMemberResponse>> inline_result;
    // `done` itself when it is to run now; moved into pending_ otherwise.
    CreateMemberCallback run_now;
    absl::Notification* release;
    CallId id;
    {
      absl::MutexLock lock(&mu_);
      id = next_id_++;
      calls_.push_back({id, request, version, deadline, metadata});
      inline_result = inline_result_;
      release = release_;
      if (inline_result.has_value()) {
        run_now = std::move(done);
      } else {
        pending_.emplace(id, std::move(done));
      }
    }
    if (inline_result.has_value()) run_now(*std::move(inline_result));
    if (release != nullptr) {
      EXPECT_TRUE(release->WaitForNotificationWithTimeout(kWait));
    }
    return id;
  }

  // The other unary calls complete at once, inside the call, with an answer
  // built from the request, so a test can see the request was relayed.
  CallId ListInstitutionCredentials(
      const v1::ListInstitutionCredentialsRequest& request, MxApiVersion, absl::Time,
      const CallMetadata&,
      Callback<v1::ListInstitutionCredentialsResponse> done) override {
    v1::ListInstitutionCredentialsResponse response;
    response.add_credentials()->set_guid("CRD-of-" + request.institution_code());
    return CompleteInline(response, done);
  }
  CallId GetMember(const v1::GetMemberRequest& request, MxApiVersion, absl::Time,
                   const CallMetadata&, Callback<v1::GetMemberResponse> done) override {
    v1::GetMemberResponse response;
    response.mutable_member()->set_guid(request.member_identifier());
    return CompleteInline(response, done);
  }
  CallId ResumeMember(const v1::ResumeMemberRequest& request, MxApiVersion, absl::Time,
                      const CallMetadata&,
                      Callback<v1::ResumeMemberResponse> done) override {
    v1::ResumeMemberResponse response;
    response.mutable_member()->set_guid(request.member_identifier());
    response.set_http_status(202);
    return CompleteInline(response, done);
  }
  CallId DeleteMember(const v1::DeleteMemberRequest&, MxApiVersion, absl::Time,
                      const CallMetadata&,
                      Callback<v1::DeleteMemberResponse> done) override {
    return CompleteInline(v1::DeleteMemberResponse(), done);
  }

  // Status polls answer from a script: each poll takes the next entry, and
  // the last entry repeats. Completed inside the call, the hardest case.
  void ScriptStatuses(std::vector<absl::StatusOr<v1::MemberStatus>> script) {
    absl::MutexLock lock(&mu_);
    statuses_ = std::move(script);
  }
  CallId GetMemberStatus(const v1::GetMemberStatusRequest&, MxApiVersion, absl::Time,
                         const CallMetadata& metadata,
                         Callback<v1::GetMemberStatusResponse> done) override {
    absl::StatusOr<v1::MemberStatus> next = absl::InternalError("no script");
    {
      absl::MutexLock lock(&mu_);
      ++status_polls_;
      poll_request_ids_.push_back(metadata.request_id);
      if (!statuses_.empty()) {
        next = statuses_.front();
        if (statuses_.size() > 1) statuses_.erase(statuses_.begin());
      }
    }
    if (!next.ok()) return CompleteInline(next.status(), done);
    v1::GetMemberStatusResponse response;
    *response.mutable_status() = *next;
    return CompleteInline(response, done);
  }
  int status_polls() {
    absl::MutexLock lock(&mu_);
    return status_polls_;
  }
  std::vector<std::string> poll_request_ids() {
    absl::MutexLock lock(&mu_);
    return poll_request_ids_;
  }

  // Only records `id`: the test then completes the call, as MX's client
  // would with CANCELLED.
  void Cancel(CallId id) override {
    absl::MutexLock lock(&mu_);
    cancelled_.push_back(id);
  }

  // Runs call `id`'s `done` on this thread; false when it is not pending.
  bool Complete(CallId id, absl::StatusOr<v1::CreateMemberResponse> result) {
    CreateMemberCallback done;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return false;
      done = std::move(it->second);
      pending_.erase(it);
    }
    done(std::move(result));
    return true;
  }

  // Completes every pending call as a cancelled transfer would.
  void CancelAllPending() {
    std::map<CallId, CreateMemberCallback> pending;
    {
      absl::MutexLock lock(&mu_);
      pending.swap(pending_);
    }
    for (auto& [id, done] : pending) {
      done(MakeError(absl::StatusCode::kCancelled, "cancelled", "CANCELLED"));
    }
  }

  // The calls so far, once there are at least `count` (bounded wait).
  std::vector<Call> WaitForCalls(size_t count) {
    absl::MutexLock lock(&mu_);
    const auto enough = [&] { return calls_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return calls_;
  }

  // The cancelled ids so far, once there are at least `count`.
  std::vector<CallId> WaitForCancels(size_t count) {
    absl::MutexLock lock(&mu_);
    const auto enough = [&] { return cancelled_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return cancelled_;
  }

  std::vector<Call> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  template <typename Response>
  CallId CompleteInline(
      std::common_type_t<absl::StatusOr<Response>> result,  // not deduced
      const Callback<Response>& done) {
    CallId id;
    {
      absl::MutexLock lock(&mu_);
      id = next_id_++;
    }
    done(std::move(result));
    return id;
  }

  absl::Mutex mu_;
  std::vector<absl::StatusOr<v1::MemberStatus>> statuses_ ABSL_GUARDED_BY(mu_);
  int status_polls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> poll_request_ids_ ABSL_GUARDED_BY(mu_);
  CallId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<CallId> cancelled_ ABSL_GUARDED_BY(mu_);
  std::map<CallId, CreateMemberCallback> pending_ ABSL_GUARDED_BY(mu_);
  absl::optional<absl::StatusOr<v1::CreateMemberResponse>> inline_result_
      ABSL_GUARDED_BY(mu_);
  absl::Notification* release_ ABSL_GUARDED_BY(mu_) = nullptr;
};

v1::CreateMemberRequest ValidRequest(absl::string_view accept_version = "") {
  v1::CreateMemberRequest request;
  request.set_user_identifier("user-1");
  request.set_accept_version(std::string(accept_version));
  request.mutable_member()->set_institution_code("mxbank");
  auto* credential = request.mutable_member()->add_credentials();
  credential->set_guid("CRD-1");
  credential->set_value("hunter2");
  return request;
}

v1::CreateMemberResponse MxResponse() {
  v1::CreateMemberResponse response;
  response.mutable_member()->set_guid("MBR-1");
  response.mutable_member()->set_institution_code("mxbank");
  response.set_outcome(v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  response.set_http_status(202);
  return response;
}

const absl::Status& MxNotFound() {
  static const absl::Status* const kNotFound =
      new absl::Status(MakeError(absl::StatusCode::kNotFound, "MX answered HTTP 404",
                                 "UPSTREAM_NOT_FOUND", {{"http_status", "404"}}));
  return *kNotFound;
}

google::rpc::Status DetailsOf(const grpc::Status& status) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(status.error_details()))
      << "grpc-status-details-bin is not a google.rpc.Status";
  return details;
}

// One CreateMember from a gRPC client, on the callback API so that the test
// thread stays free to play MX. The destructor cancels and waits, so the
// call never outlives its buffers.
class ClientCall {
 public:
  ClientCall(v1::MemberService::Stub& stub, v1::CreateMemberRequest request,
             absl::optional<absl::Duration> timeout = kWait)
      : request_(std::move(request)) {
    if (timeout.has_value()) {
      deadline_ = absl::Now() + *timeout;
      context_.set_deadline(absl::ToChronoTime(deadline_));
    }
    stub.async()->CreateMember(&context_, &request_, &response_,
                               [this](grpc::Status status) {
                                 status_ = std::move(status);
                                 done_.Notify();
                               });
  }

  ~ClientCall() {
    context_.TryCancel();
    done_.WaitForNotificationWithTimeout(kWait);
  }

  // The call's status once it ended; DEADLINE_EXCEEDED if it never did.
  const grpc::Status& Wait() {
    if (!done_.WaitForNotificationWithTimeout(kWait)) {
      static const grpc::Status* const kNeverEnded = new grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED, "test: the call never ended");
      return *kNeverEnded;
    }
    return status_;
  }

  void Cancel() { context_.TryCancel(); }
  absl::Time deadline() const { return deadline_; }
  const grpc::ClientContext& context() const { return context_; }
  const v1::CreateMemberResponse& response() const { return response_; }

 private:
  v1::CreateMemberRequest request_;
  grpc::ClientContext context_;
  absl::Time deadline_ = absl::InfiniteFuture();
  v1::CreateMemberResponse response_;
  absl::Notification done_;
  grpc::Status status_;
};

void ExpectOkWith(const grpc::Status& status, const v1::CreateMemberResponse& actual,
                  const v1::CreateMemberResponse& expected) {
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_TRUE(MessageDifferencer::Equals(actual, expected)) << actual.DebugString();
}

void ExpectMxNotFound(const grpc::Status& status) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "MX answered HTTP 404");
  const google::rpc::Status details = DetailsOf(status);
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), "UPSTREAM_NOT_FOUND");
  EXPECT_THAT(info.metadata(), UnorderedElementsAre(Pair("http_status", "404")));
}

// UNAVAILABLE with reason DRAINING and a RetryInfo of 0 s: retry elsewhere now.
void ExpectDraining(const grpc::Status& status) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  const google::rpc::Status details = DetailsOf(status);
  ASSERT_EQ(details.details_size(), 2);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), kReasonDraining);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(1).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 0);
  EXPECT_EQ(retry.retry_delay().nanos(), 0);
}

// An access log that keeps its lines for the test.
class LogLines {
 public:
  AccessLog& log() { return log_; }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  AccessLog log_{AccessLog::Level::kInfo, [this](absl::string_view line) {
                   absl::MutexLock lock(&mu_);
                   lines_.emplace_back(line);
                 }};
};

// The x-request-id in `metadata`; "" when absent.
std::string RequestIdIn(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  const auto it = metadata.find("x-request-id");
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// The server's x-request-id: in the initial metadata of a call that
// answered, in the trailers of one that failed.
std::string ReturnedRequestId(const grpc::ClientContext& context) {
  const std::string in_headers = RequestIdIn(context.GetServerInitialMetadata());
  return !in_headers.empty() ? in_headers
                             : RequestIdIn(context.GetServerTrailingMetadata());
}

constexpr char kUuidV4[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

class MemberServiceTest : public ::testing::Test {
 protected:
  explicit MemberServiceTest(
      const CallLimits& limits = CallLimits(),
      const RequestReplay::Options& replay = RequestReplay::Options())
      : service_(fake_,
                 ServiceOptions(WatchOptions(), &log_.log(), limits, &metrics_, replay)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    stub_ = v1::MemberService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }

  void SetUp() override { ASSERT_NE(port_, 0) << "the server did not start"; }

  ~MemberServiceTest() override {
    // A call the test left pending would keep Shutdown waiting.
    fake_.CancelAllPending();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + kWait));
    server_->Wait();
  }

  // The one call MX got so far (bounded wait).
  FakeMxClient::Call OnlyCall() {
    const std::vector<FakeMxClient::Call> calls = fake_.WaitForCalls(1);
    EXPECT_EQ(calls.size(), 1u);
    return calls.empty() ? FakeMxClient::Call{} : calls[0];
  }

  FakeMxClient fake_;
  LogLines log_;
  Metrics metrics_;
  MemberService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MemberService::Stub> stub_;
};

// ------------------------------------------------- request ids and logs

TEST_F(MemberServiceTest, EchoesAValidRequestIdAndForwardsTheTraceContextToMx) {
  fake_.CompleteInsideCreateMember(MxResponse());
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "req-1");
  context.AddMetadata("traceparent", kTraceparent);
  context.AddMetadata("tracestate", "vendor=abc");
  v1::CreateMemberResponse response;
  ASSERT_TRUE(stub_->CreateMember(&context, ValidRequest(), &response).ok());

  EXPECT_EQ(ReturnedRequestId(context), "req-1");
  const CallMetadata& sent = OnlyCall().metadata;
  EXPECT_EQ(sent.request_id, "req-1");
  EXPECT_EQ(sent.traceparent, kTraceparent);
  EXPECT_EQ(sent.tracestate, "vendor=abc");
}

TEST_F(MemberServiceTest, GeneratesTheRequestIdItReturnsAndSendsToMx) {
  fake_.CompleteInsideCreateMember(MxResponse());
  // gRPC itself refuses non-ASCII values, so the caller cannot send those.
  for (const std::string& sent_by_caller :
       {std::string(), std::string("has space"), std::string(129, 'a')}) {
    grpc::ClientContext context;
    if (!sent_by_caller.empty()) context.AddMetadata("x-request-id", sent_by_caller);
    context.AddMetadata("traceparent", "00-not-a-traceparent");
    v1::CreateMemberResponse response;
    ASSERT_TRUE(stub_->CreateMember(&context, ValidRequest(), &response).ok());
    const std::string returned = ReturnedRequestId(context);
    EXPECT_THAT(returned, MatchesRegex(kUuidV4)) << sent_by_caller;
    const CallMetadata sent = fake_.calls().back().metadata;
    EXPECT_EQ(sent.request_id, returned);
    EXPECT_EQ(sent.traceparent, "");
  }
}

TEST_F(MemberServiceTest, ReturnsTheRequestIdOnEveryCallEvenARefusedOne) {
  grpc::ClientContext refused;
  refused.AddMetadata("x-request-id", "req-refused");
  v1::CreateMemberRequest invalid = ValidRequest();
  invalid.set_user_identifier("");
  v1::CreateMemberResponse created;
  EXPECT_EQ(stub_->CreateMember(&refused, invalid, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // In the trailers only: a failed call sends no headers, so that clients
  // may retry it (a call that received headers is committed).
  EXPECT_EQ(RequestIdIn(refused.GetServerTrailingMetadata()), "req-refused");
  EXPECT_THAT(refused.GetServerInitialMetadata(), IsEmpty());

  fake_.CompleteInsideCreateMember(
      MakeError(absl::StatusCode::kUnavailable, "no", kReasonUpstreamUnreachable));
  grpc::ClientContext failed;
  failed.AddMetadata("x-request-id", "req-failed");
  EXPECT_EQ(stub_->CreateMember(&failed, ValidRequest(), &created).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(RequestIdIn(failed.GetServerTrailingMetadata()), "req-failed");
  EXPECT_THAT(failed.GetServerInitialMetadata(), IsEmpty());

  grpc::ClientContext get;
  v1::GetMemberRequest request;
  request.set_user_identifier("user-1");
  request.set_member_identifier("MBR-1");
  v1::GetMemberResponse member;
  ASSERT_TRUE(stub_->GetMember(&get, request, &member).ok());
  EXPECT_THAT(ReturnedRequestId(get), MatchesRegex(kUuidV4));
}

TEST_F(MemberServiceTest, TakesTheCallbackPayloadFromMetadataWhenTheFieldIsEmpty) {
  fake_.CompleteInsideCreateMember(MxResponse());
  grpc::ClientContext context;
  context.AddMetadata("x-callback-payload", "aGVsbG8=");
  v1::CreateMemberResponse response;
  ASSERT_TRUE(stub_->CreateMember(&context, ValidRequest(), &response).ok());
  EXPECT_EQ(OnlyCall().request.callback_payload(), "aGVsbG8=");
}

TEST_F(MemberServiceTest, PrefersTheCallbackPayloadFieldOverTheMetadata) {
  fake_.CompleteInsideCreateMember(MxResponse());
  grpc::ClientContext context;
  context.AddMetadata("x-callback-payload", "aGVsbG8=");
  v1::CreateMemberRequest request = ValidRequest();
  request.set_callback_payload("ZmllbGQ=");
  v1::CreateMemberResponse response;
  ASSERT_TRUE(stub_->CreateMember(&context, request, &response).ok());
  EXPECT_EQ(OnlyCall().request.callback_payload(), "ZmllbGQ=");
}

TEST_F(MemberServiceTest, RefusesAnInvalidCallbackPayloadFromMetadataAsTheField) {
  grpc::ClientContext context;
  context.AddMetadata("x-callback-payload", "not base64!");
  v1::CreateMemberResponse response;
  const grpc::Status status = stub_->CreateMember(&context, ValidRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const google::rpc::Status details = DetailsOf(status);
  ASSERT_EQ(details.details_size(), 2);
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(details.details(1).UnpackTo(&bad_request));
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "callback_payload");
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(MemberServiceTest, LogsOneLinePerCallWithTheHashedUserAndNoSecret) {
  fake_.CompleteInsideCreateMember(MxResponse());
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "req-1");
  context.AddMetadata("traceparent", kTraceparent);
  v1::CreateMemberResponse response;
  ASSERT_TRUE(stub_->CreateMember(&context, ValidRequest(), &response).ok());

  const std::vector<std::string> lines = log_.lines();
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_THAT(lines[0], ::testing::EndsWith("}\n"));
  EXPECT_THAT(lines[0].substr(0, lines[0].size() - 1),
              MatchesRegex(
                  R"(\{"time":"[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z","level":"info",)"
                  R"("method":"CreateMember","code":"OK","duration_ms":[0-9]+\.[0-9]{3},)"
                  R"("upstream_status":202,"request_id":"req-1",)"
                  R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
                  R"("user":"[0-9a-f]{16}","member":"MBR-1"\})"));
  EXPECT_THAT(lines[0], HasSubstr(UserHash("user-1")));
  EXPECT_THAT(lines[0], Not(HasSubstr("user-1")));
  EXPECT_THAT(lines[0], Not(HasSubstr("hunter2")));
}

TEST_F(MemberServiceTest, LogsAnErrorWithItsReasonAndMxsStatus) {
  ClientCall call(*stub_, ValidRequest());
  ASSERT_TRUE(fake_.Complete(OnlyCall().id, MxNotFound()));
  ExpectMxNotFound(call.Wait());

  const std::vector<std::string> lines = log_.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(R"("level":"warning","method":"CreateMember",)"
                                  R"("code":"NOT_FOUND",)"));
  EXPECT_THAT(lines[0], HasSubstr(R"("upstream_status":404,)"));
  EXPECT_THAT(lines[0], HasSubstr(R"("reason":"UPSTREAM_NOT_FOUND"})"));
}

TEST_F(MemberServiceTest, LogsARefusedCallWithoutAnUpstreamStatus) {
  v1::CreateMemberRequest request = ValidRequest();
  request.mutable_member()->clear_institution_code();
  ClientCall call(*stub_, request);
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const std::vector<std::string> lines = log_.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(R"("code":"INVALID_ARGUMENT",)"));
  EXPECT_THAT(lines[0], HasSubstr(R"("reason":"INVALID_REQUEST"})"));
  EXPECT_THAT(lines[0], Not(HasSubstr("upstream_status")));
}

TEST_F(MemberServiceTest, RefusesAnInvalidRequestWithBadRequestBeforeMx) {
  v1::CreateMemberRequest request = ValidRequest();
  request.set_user_identifier("");
  request.mutable_member()->clear_institution_code();
  const absl::Status expected =
      ValidateCreateMemberRequest(request, kServerDefault).status();
  ASSERT_EQ(expected.code(), absl::StatusCode::kInvalidArgument);

  ClientCall call(*stub_, request);
  const grpc::Status& status = call.Wait();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), expected.message());
  const google::rpc::Status details = DetailsOf(status);
  ASSERT_EQ(details.details_size(), 2);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), kReasonInvalidRequest);
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(details.details(1).UnpackTo(&bad_request));
  EXPECT_TRUE(MessageDifferencer::Equals(bad_request, *GetBadRequest(expected)))
      << bad_request.DebugString();
  EXPECT_EQ(bad_request.field_violations(0).field(), "user_identifier");
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

struct VersionCase {
  const char* name;
  const char* accept_version;
  MxApiVersion expected;
};
void PrintTo(const VersionCase& c, std::ostream* os) { *os << c.name; }

class MemberServiceVersionTest : public MemberServiceTest,
                                 public ::testing::WithParamInterface<VersionCase> {};

TEST_P(MemberServiceVersionTest, CallsMxWithTheResolvedVersion) {
  const v1::CreateMemberRequest request = ValidRequest(GetParam().accept_version);
  ClientCall call(*stub_, request);

  const FakeMxClient::Call mx_call = OnlyCall();
  EXPECT_EQ(mx_call.version, GetParam().expected);
  EXPECT_TRUE(MessageDifferencer::Equals(mx_call.request, request));
  ASSERT_TRUE(fake_.Complete(mx_call.id, MxResponse()));
  EXPECT_TRUE(call.Wait().ok());
}

INSTANTIATE_TEST_SUITE_P(Versions, MemberServiceVersionTest,
                         ::testing::Values(VersionCase{"EmptyMeansServerDefault", "",
                                                       kServerDefault},
                                           VersionCase{"ExplicitV20250224", "v20250224",
                                                       MxApiVersion::kV20250224},
                                           VersionCase{"ExplicitV20111101", "v20111101",
                                                       MxApiVersion::kV20111101}),
                         [](const ::testing::TestParamInfo<VersionCase>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(MemberServiceTest, PassesTheClientDeadlineToMx) {
  ClientCall call(*stub_, ValidRequest(), absl::Seconds(20));

  const FakeMxClient::Call mx_call = OnlyCall();
  // gRPC sends the deadline as a timeout: allow for transit and rounding.
  EXPECT_GT(mx_call.deadline, call.deadline() - absl::Seconds(2));
  EXPECT_LT(mx_call.deadline, call.deadline() + absl::Seconds(1));
  ASSERT_TRUE(fake_.Complete(mx_call.id, MxResponse()));
  EXPECT_TRUE(call.Wait().ok());
}

TEST_F(MemberServiceTest, PassesNoDeadlineToMxWhenTheClientSetNone) {
  ClientCall call(*stub_, ValidRequest(), /*timeout=*/absl::nullopt);

  const FakeMxClient::Call mx_call = OnlyCall();
  EXPECT_EQ(mx_call.deadline, absl::InfiniteFuture());
  ASSERT_TRUE(fake_.Complete(mx_call.id, MxResponse()));
  EXPECT_TRUE(call.Wait().ok());
}

TEST_F(MemberServiceTest, RelaysMxsResponse) {
  ClientCall call(*stub_, ValidRequest());
  ASSERT_TRUE(fake_.Complete(OnlyCall().id, MxResponse()));

  ExpectOkWith(call.Wait(), call.response(), MxResponse());
}

TEST_F(MemberServiceTest, RelaysMxsErrorWithItsErrorInfo) {
  ClientCall call(*stub_, ValidRequest());
  ASSERT_TRUE(fake_.Complete(OnlyCall().id, MxNotFound()));

  ExpectMxNotFound(call.Wait());
}

TEST_F(MemberServiceTest, AnswersWhenMxCompletesLaterOnAnotherThread) {
  ClientCall call(*stub_, ValidRequest());
  std::thread mx([&] {
    const FakeMxClient::Call mx_call = OnlyCall();
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_TRUE(fake_.Complete(mx_call.id, MxResponse()));
  });

  const grpc::Status status = call.Wait();
  mx.join();
  ExpectOkWith(status, call.response(), MxResponse());
}

// The upstream can finish before CreateMember has even returned its id;
// the reactor must then finish the call once, after Start() is done.
TEST_F(MemberServiceTest, AnswersWhenMxCompletesInsideCreateMember) {
  constexpr int kCalls = 10;
  fake_.CompleteInsideCreateMember(MxResponse());
  for (int i = 0; i < kCalls; ++i) {
    ClientCall call(*stub_, ValidRequest());
    ExpectOkWith(call.Wait(), call.response(), MxResponse());
  }
  fake_.CompleteInsideCreateMember(MxNotFound());
  for (int i = 0; i < kCalls; ++i) {
    ClientCall call(*stub_, ValidRequest());
    ExpectMxNotFound(call.Wait());
  }
  EXPECT_EQ(fake_.calls().size(), 2u * kCalls);
}

TEST_F(MemberServiceTest, CancelsTheMxCallWhenTheClientCancels) {
  ClientCall call(*stub_, ValidRequest());
  const FakeMxClient::Call mx_call = OnlyCall();

  call.Cancel();

  EXPECT_THAT(fake_.WaitForCancels(1), ElementsAre(mx_call.id));
  // MX's client then completes the call with CANCELLED.
  fake_.CancelAllPending();
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(MemberServiceTest, CancelsTheMxCallWhenTheClientCancelsDuringStart) {
  absl::Notification release;
  fake_.HoldCreateMemberUntil(&release);
  ClientCall call(*stub_, ValidRequest());
  const FakeMxClient::Call mx_call = OnlyCall();

  call.Cancel();
  absl::SleepFor(absl::Milliseconds(200));  // let gRPC see the cancel
  release.Notify();

  EXPECT_THAT(fake_.WaitForCancels(1), ElementsAre(mx_call.id));
  fake_.CancelAllPending();
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(MemberServiceTest, RelaysTheOtherUnaryCalls) {
  grpc::ClientContext list_context;
  v1::ListInstitutionCredentialsRequest list;
  list.set_institution_code("mxbank");
  v1::ListInstitutionCredentialsResponse credentials;
  ASSERT_TRUE(stub_->ListInstitutionCredentials(&list_context, list, &credentials).ok());
  ASSERT_EQ(credentials.credentials_size(), 1);
  EXPECT_EQ(credentials.credentials(0).guid(), "CRD-of-mxbank");

  grpc::ClientContext get_context;
  v1::GetMemberRequest get;
  get.set_user_identifier("user-1");
  get.set_member_identifier("MBR-7");
  v1::GetMemberResponse member;
  ASSERT_TRUE(stub_->GetMember(&get_context, get, &member).ok());
  EXPECT_EQ(member.member().guid(), "MBR-7");

  grpc::ClientContext resume_context;
  v1::ResumeMemberRequest resume;
  resume.set_user_identifier("user-1");
  resume.set_member_identifier("MBR-8");
  resume.add_challenges()->set_guid("CRD-q");
  resume.mutable_challenges(0)->set_value("correct");
  v1::ResumeMemberResponse resumed;
  ASSERT_TRUE(stub_->ResumeMember(&resume_context, resume, &resumed).ok());
  EXPECT_EQ(resumed.member().guid(), "MBR-8");
  EXPECT_EQ(resumed.http_status(), 202);

  grpc::ClientContext delete_context;
  v1::DeleteMemberRequest remove;
  remove.set_user_identifier("user-1");
  remove.set_member_identifier("MBR-9");
  v1::DeleteMemberResponse deleted;
  EXPECT_TRUE(stub_->DeleteMember(&delete_context, remove, &deleted).ok());
}

// --- request_id replay (request_replay.h) ---

constexpr char kRequestId[] = "0b7c6a52-5d1e-4f3a-9c2b-8e4d1a6f3b90";

// A valid request with a request_id, which only v20250224 takes.
v1::CreateMemberRequest WithRequestId(v1::CreateMemberRequest request) {
  request.set_accept_version("v20250224");
  request.set_request_id(kRequestId);
  return request;
}

// What MX would answer now to a repeat: what a replay must not give.
v1::CreateMemberResponse MxAnswerToARepeat() {
  v1::CreateMemberResponse response = MxResponse();
  response.set_outcome(v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  response.set_http_status(409);
  return response;
}

// The sample of mxgate_request_replay_total{result=`result`}; "" when absent.
std::string ReplaySample(const Metrics& metrics, absl::string_view result) {
  const std::string prefix =
      absl::StrCat("mxgate_request_replay_total{result=\"", result, "\"} ");
  const std::string text = metrics.Text();
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return "";
  return text.substr(at + prefix.size(), text.find('\n', at) - at - prefix.size());
}

TEST_F(MemberServiceTest, ReplaysTheFirstAnswerToARetryOfTheSameRequestWithoutMx) {
  fake_.CompleteInsideCreateMember(MxResponse());
  const v1::CreateMemberRequest request = WithRequestId(ValidRequest());
  grpc::ClientContext first_context;
  v1::CreateMemberResponse first;
  ASSERT_TRUE(stub_->CreateMember(&first_context, request, &first).ok());

  fake_.CompleteInsideCreateMember(MxAnswerToARepeat());
  grpc::ClientContext retry_context;
  retry_context.AddMetadata("x-request-id", "req-retry");
  v1::CreateMemberResponse retried;
  const grpc::Status status = stub_->CreateMember(&retry_context, request, &retried);

  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(retried.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(retried.outcome(), v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  EXPECT_EQ(fake_.calls().size(), 1u) << "a replay called MX";
  // The retry's own request id, in the headers as for any answered call.
  EXPECT_EQ(RequestIdIn(retry_context.GetServerInitialMetadata()), "req-retry");
  EXPECT_EQ(ReplaySample(metrics_, "replayed"), "1");
  // Logged as an answer MX did not give: no upstream status.
  const std::vector<std::string> lines = log_.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[1], HasSubstr(R"("method":"CreateMember","code":"OK",)"));
  EXPECT_THAT(lines[1], HasSubstr(R"("request_id":"req-retry",)"));
  EXPECT_THAT(lines[1], HasSubstr(R"("member":"MBR-1")"));
  EXPECT_THAT(lines[1], Not(HasSubstr("upstream_status")));
  EXPECT_THAT(lines[1], Not(HasSubstr("hunter2")));
}

void ExpectRequestIdReused(const grpc::Status& status) {
  constexpr char kWhy[] = "request_id was already used for a different request";
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("invalid CreateMemberRequest: request_id: ", kWhy));
  const google::rpc::Status details = DetailsOf(status);
  ASSERT_EQ(details.details_size(), 2);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), kReasonInvalidRequest);
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(details.details(1).UnpackTo(&bad_request));
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "request_id");
  EXPECT_EQ(bad_request.field_violations(0).description(), kWhy);
}

TEST_F(MemberServiceTest, RefusesTheRequestIdOfADifferentRequestBeforeMx) {
  fake_.CompleteInsideCreateMember(MxResponse());
  const v1::CreateMemberRequest request = WithRequestId(ValidRequest());
  grpc::ClientContext first_context;
  v1::CreateMemberResponse first;
  ASSERT_TRUE(stub_->CreateMember(&first_context, request, &first).ok());

  // Only a credential value differs: the fingerprint covers it.
  v1::CreateMemberRequest changed = request;
  changed.mutable_member()->mutable_credentials(0)->set_value("another-password");
  grpc::ClientContext changed_context;
  v1::CreateMemberResponse response;
  ExpectRequestIdReused(stub_->CreateMember(&changed_context, changed, &response));
  // The callback payload from the metadata is part of the request too.
  grpc::ClientContext payload_context;
  payload_context.AddMetadata("x-callback-payload", "aGVsbG8=");
  ExpectRequestIdReused(stub_->CreateMember(&payload_context, request, &response));

  EXPECT_EQ(fake_.calls().size(), 1u);
  EXPECT_EQ(ReplaySample(metrics_, "mismatch"), "2");
  // The first request still replays.
  grpc::ClientContext retry_context;
  ASSERT_TRUE(stub_->CreateMember(&retry_context, request, &response).ok());
  EXPECT_EQ(response.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(fake_.calls().size(), 1u);
}

TEST_F(MemberServiceTest, RefusesAnInvalidRequestAsSuchEvenWithAKnownRequestId) {
  fake_.CompleteInsideCreateMember(MxResponse());
  const v1::CreateMemberRequest request = WithRequestId(ValidRequest());
  grpc::ClientContext first_context;
  v1::CreateMemberResponse response;
  ASSERT_TRUE(stub_->CreateMember(&first_context, request, &response).ok());

  v1::CreateMemberRequest invalid = request;
  invalid.mutable_member()->clear_institution_code();
  grpc::ClientContext context;
  const grpc::Status status = stub_->CreateMember(&context, invalid, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(DetailsOf(status).details(1).UnpackTo(&bad_request));
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "member.institution_code");
  EXPECT_EQ(ReplaySample(metrics_, "mismatch"), "");
}

TEST_F(MemberServiceTest, AbortsARetryWhileTheFirstCallIsInFlight) {
  const v1::CreateMemberRequest request = WithRequestId(ValidRequest());
  ClientCall first(*stub_, request);
  const FakeMxClient::Call mx_call = OnlyCall();

  ClientCall second(*stub_, request);
  const grpc::Status& status = second.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED) << status.error_message();
  const google::rpc::Status details = DetailsOf(status);
  ASSERT_EQ(details.details_size(), 2);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "mxgate");
  EXPECT_EQ(info.reason(), kReasonRequestInProgress);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(1).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 1);
  EXPECT_EQ(retry.retry_delay().nanos(), 0);
  EXPECT_THAT(RequestIdIn(second.context().GetServerTrailingMetadata()),
              MatchesRegex(kUuidV4));
  EXPECT_EQ(fake_.calls().size(), 1u);
  EXPECT_EQ(ReplaySample(metrics_, "in_progress"), "1");

  // Once the first has its answer, a retry gets it.
  ASSERT_TRUE(fake_.Complete(mx_call.id, MxResponse()));
  ExpectOkWith(first.Wait(), first.response(), MxResponse());
  ClientCall third(*stub_, request);
  ExpectOkWith(third.Wait(), third.response(), MxResponse());
  EXPECT_EQ(fake_.calls().size(), 1u);
}

TEST_F(MemberServiceTest, KeepsNoFailedOrCancelledCallSoItsRetryCallsMx) {
  const v1::CreateMemberRequest request = WithRequestId(ValidRequest());
  {
    ClientCall failed(*stub_, request);
    ASSERT_TRUE(fake_.Complete(OnlyCall().id, MxNotFound()));
    ExpectMxNotFound(failed.Wait());
  }
  {
    ClientCall cancelled(*stub_, request);
    ASSERT_EQ(fake_.WaitForCalls(2).size(), 2u);
    cancelled.Cancel();
    ASSERT_EQ(fake_.WaitForCancels(1).size(), 1u);
    fake_.CancelAllPending();  // as MX's client completes an aborted call
    EXPECT_EQ(cancelled.Wait().error_code(), grpc::StatusCode::CANCELLED);
  }
  ClientCall retried(*stub_, request);
  const std::vector<FakeMxClient::Call> calls = fake_.WaitForCalls(3);
  ASSERT_EQ(calls.size(), 3u);
  ASSERT_TRUE(fake_.Complete(calls[2].id, MxResponse()));
  ExpectOkWith(retried.Wait(), retried.response(), MxResponse());
  EXPECT_EQ(ReplaySample(metrics_, "in_progress"), "");
}

TEST_F(MemberServiceTest, TwoUsersWithTheSameRequestIdDoNotCollide) {
  // Each user's request and MX's answer to it.
  std::vector<std::pair<v1::CreateMemberRequest, v1::CreateMemberResponse>> calls(
      2, {WithRequestId(ValidRequest()), MxResponse()});
  calls[1].first.set_user_identifier("user-2");
  calls[1].second.mutable_member()->set_guid("MBR-2");

  for (const auto& [request, answer] : calls) {
    fake_.CompleteInsideCreateMember(answer);
    grpc::ClientContext context;
    v1::CreateMemberResponse response;
    ExpectOkWith(stub_->CreateMember(&context, request, &response), response, answer);
  }
  EXPECT_EQ(fake_.calls().size(), 2u);

  fake_.CompleteInsideCreateMember(MxAnswerToARepeat());
  for (const auto& [request, answer] : calls) {
    grpc::ClientContext context;
    v1::CreateMemberResponse response;
    ExpectOkWith(stub_->CreateMember(&context, request, &response), response, answer);
  }
  EXPECT_EQ(fake_.calls().size(), 2u);
  EXPECT_EQ(ReplaySample(metrics_, "replayed"), "2");
}

RequestReplay::Options ReplayOff() {
  RequestReplay::Options options;
  options.max_entries = 0;
  return options;
}

class ReplayOffTest : public MemberServiceTest {
 protected:
  ReplayOffTest() : MemberServiceTest(CallLimits(), ReplayOff()) {}
};

TEST_F(ReplayOffTest, EveryRetryCallsMxAsWithoutTheCache) {
  const v1::CreateMemberRequest request = WithRequestId(ValidRequest());
  ClientCall first(*stub_, request);
  ClientCall concurrent(*stub_, request);
  const std::vector<FakeMxClient::Call> calls = fake_.WaitForCalls(2);
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_TRUE(fake_.Complete(calls[0].id, MxResponse()));
  ASSERT_TRUE(fake_.Complete(calls[1].id, MxAnswerToARepeat()));
  // Each gets its own MX answer (which call got which depends on arrival).
  EXPECT_TRUE(first.Wait().ok());
  EXPECT_TRUE(concurrent.Wait().ok());

  fake_.CompleteInsideCreateMember(MxAnswerToARepeat());
  grpc::ClientContext context;
  v1::CreateMemberResponse retried;
  ExpectOkWith(stub_->CreateMember(&context, request, &retried), retried,
               MxAnswerToARepeat());
  EXPECT_EQ(fake_.calls().size(), 3u);
  EXPECT_THAT(metrics_.Text(), Not(HasSubstr("mxgate_request_replay_total{")));
}

// --- Drain ---

TEST_F(MemberServiceTest, CountsACallInFlightUntilItsStatusIsSent) {
  EXPECT_EQ(service_.calls_in_flight(), 0);
  ClientCall call(*stub_, ValidRequest());
  const FakeMxClient::Call mx_call = OnlyCall();
  EXPECT_EQ(service_.calls_in_flight(), 1);

  ASSERT_TRUE(fake_.Complete(mx_call.id, MxResponse()));
  EXPECT_TRUE(call.Wait().ok());
  EXPECT_TRUE(service_.AwaitNoCallsInFlight(absl::Now() + kWait));
  EXPECT_EQ(service_.calls_in_flight(), 0);
}

TEST_F(MemberServiceTest, DrainingRefusesNewCallsWithDrainingBeforeMx) {
  EXPECT_EQ(service_.StartDraining(), 0);

  ClientCall call(*stub_, ValidRequest());
  ExpectDraining(call.Wait());
  grpc::ClientContext context;
  v1::GetMemberRequest get;
  get.set_user_identifier("user-1");
  get.set_member_identifier("MBR-7");
  v1::GetMemberResponse member;
  ExpectDraining(stub_->GetMember(&context, get, &member));
  EXPECT_THAT(fake_.calls(), IsEmpty());
  EXPECT_EQ(service_.calls_in_flight(), 0);
}

TEST_F(MemberServiceTest, CallInFlightCompletesAfterDrainingBegan) {
  ClientCall in_flight(*stub_, ValidRequest());
  const FakeMxClient::Call mx_call = OnlyCall();

  EXPECT_EQ(service_.StartDraining(), 1);
  ClientCall refused(*stub_, ValidRequest());
  ExpectDraining(refused.Wait());
  // Still waiting for MX: the drain waits too.
  EXPECT_FALSE(service_.AwaitNoCallsInFlight(absl::Now() + absl::Milliseconds(100)));

  ASSERT_TRUE(fake_.Complete(mx_call.id, MxResponse()));
  ExpectOkWith(in_flight.Wait(), in_flight.response(), MxResponse());
  EXPECT_TRUE(service_.AwaitNoCallsInFlight(absl::Now() + kWait));
  EXPECT_THAT(fake_.WaitForCancels(0), IsEmpty());
}

TEST_F(MemberServiceTest, AbortingCallsInFlightCancelsTheirMxCalls) {
  ClientCall call(*stub_, ValidRequest());
  const FakeMxClient::Call mx_call = OnlyCall();
  service_.StartDraining();

  service_.AbortCallsInFlight();

  EXPECT_THAT(fake_.WaitForCancels(1), ElementsAre(mx_call.id));
  fake_.CancelAllPending();  // as MX's client completes an aborted call
  const grpc::Status& status = call.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(DetailsOf(status).details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "CANCELLED");
  EXPECT_TRUE(service_.AwaitNoCallsInFlight(absl::Now() + kWait));
}

// --- overload ---

TEST(CallsInFlight, AdmitsUpToEachKindsLimitThenRefusesUntilOneEnds) {
  struct Call : internal::TrackedCall {
    void OnDrain() override {}
    void Abort() override {}
  } unary[3], watch[2];
  CallLimits limits;
  limits.max_unary_calls = 2;
  limits.max_watches = 1;
  internal::CallsInFlight calls(limits);
  using Admission = internal::CallsInFlight::Admission;
  using Kind = internal::CallsInFlight::Kind;
  EXPECT_EQ(calls.Add(&unary[0], Kind::kUnary), Admission::kAdmitted);
  EXPECT_EQ(calls.Add(&unary[1], Kind::kUnary), Admission::kAdmitted);
  EXPECT_EQ(calls.Add(&unary[2], Kind::kUnary), Admission::kOverloaded);
  // Watches have their own bound: full unary calls do not refuse one.
  EXPECT_EQ(calls.Add(&watch[0], Kind::kWatch), Admission::kAdmitted);
  EXPECT_EQ(calls.Add(&watch[1], Kind::kWatch), Admission::kOverloaded);
  EXPECT_EQ(calls.count(), 3);

  calls.Remove(&unary[0]);
  calls.Remove(&unary[2]);  // never added: a no-op
  EXPECT_EQ(calls.Add(&unary[2], Kind::kUnary), Admission::kAdmitted);
  EXPECT_EQ(calls.Add(&unary[0], Kind::kUnary), Admission::kOverloaded);
  calls.Remove(&watch[0]);
  EXPECT_EQ(calls.Add(&watch[1], Kind::kWatch), Admission::kAdmitted);

  calls.StartDraining();
  calls.Remove(&unary[1]);
  EXPECT_EQ(calls.Add(&unary[0], Kind::kUnary), Admission::kDraining);
}

CallLimits TwoUnaryCalls() {
  CallLimits limits;
  limits.max_unary_calls = 2;
  limits.retry_delay = absl::Milliseconds(300);
  return limits;
}

class OverloadTest : public MemberServiceTest {
 protected:
  OverloadTest() : MemberServiceTest(TwoUnaryCalls()) {}
};

TEST_F(OverloadTest, RefusesACallBeyondTheLimitAtOnceWithPushback) {
  ClientCall first(*stub_, ValidRequest());
  ClientCall second(*stub_, ValidRequest());
  const std::vector<FakeMxClient::Call> at_mx = fake_.WaitForCalls(2);
  ASSERT_EQ(at_mx.size(), 2u);

  ClientCall refused(*stub_, ValidRequest());
  const grpc::Status& status = refused.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(),
            "mxgate has 2 unary calls in flight, its limit: retry later or on another "
            "replica");
  const google::rpc::Status details = DetailsOf(status);
  ASSERT_EQ(details.details_size(), 2);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), kReasonOverloaded);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(1).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 0);
  EXPECT_EQ(retry.retry_delay().nanos(), 300000000);
  const auto& trailers = refused.context().GetServerTrailingMetadata();
  const auto pushback = trailers.find("grpc-retry-pushback-ms");
  ASSERT_NE(pushback, trailers.end());
  EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()), "300");
  EXPECT_EQ(fake_.calls().size(), 2u) << "a refused call reached MX";

  // An invalid request is still refused as such.
  v1::CreateMemberRequest invalid = ValidRequest();
  invalid.set_user_identifier("");
  ClientCall bad(*stub_, invalid);
  EXPECT_EQ(bad.Wait().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Once a call ends (either: they reach MX in any order), the next one is
  // admitted. A call counts until gRPC is done with it, just after the
  // client has its status.
  ASSERT_TRUE(fake_.Complete(at_mx[0].id, MxResponse()));
  for (int i = 0; i < 200 && service_.calls_in_flight() > 1; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ClientCall admitted(*stub_, ValidRequest());
  EXPECT_EQ(fake_.WaitForCalls(3).size(), 3u);
}

// --- WatchMemberStatus ---

v1::MemberStatus StatusOf(v1::ConnectionStatus connection, bool aggregating) {
  v1::MemberStatus status;
  status.set_guid("MBR-1");
  status.set_connection_status(connection);
  status.set_is_being_aggregated(aggregating);
  return status;
}

struct EndReasonCase {
  v1::ConnectionStatus connection;
  bool aggregating;
  v1::WatchEndReason reason;
};
void PrintTo(const EndReasonCase& c, std::ostream* os) {
  *os << v1::ConnectionStatus_Name(c.connection) << (c.aggregating ? "+agg" : "");
}

class EndReasonForTest : public ::testing::TestWithParam<EndReasonCase> {};

TEST_P(EndReasonForTest, ClassifiesTheStatus) {
  EXPECT_EQ(EndReasonFor(StatusOf(GetParam().connection, GetParam().aggregating)),
            GetParam().reason);
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, EndReasonForTest,
    ::testing::Values(EndReasonCase{v1::CONNECTION_STATUS_UNSPECIFIED, false,
                                    v1::WATCH_END_REASON_UNSPECIFIED},
                      EndReasonCase{v1::CONNECTION_STATUS_CREATED, true,
                                    v1::WATCH_END_REASON_UNSPECIFIED},
                      EndReasonCase{v1::CONNECTION_STATUS_CREATED, false,
                                    v1::WATCH_END_REASON_UNSPECIFIED},
                      EndReasonCase{v1::CONNECTION_STATUS_UPDATED, true,
                                    v1::WATCH_END_REASON_UNSPECIFIED},
                      EndReasonCase{v1::CONNECTION_STATUS_DELAYED, true,
                                    v1::WATCH_END_REASON_UNSPECIFIED},
                      EndReasonCase{v1::CONNECTION_STATUS_RESUMED, true,
                                    v1::WATCH_END_REASON_UNSPECIFIED},
                      EndReasonCase{v1::CONNECTION_STATUS_PENDING, false,
                                    v1::WATCH_END_REASON_UNSPECIFIED},
                      EndReasonCase{v1::CONNECTION_STATUS_CONNECTED, true,
                                    v1::WATCH_END_REASON_UNSPECIFIED},
                      EndReasonCase{v1::CONNECTION_STATUS_CONNECTED, false,
                                    v1::WATCH_END_REASON_CONNECTED},
                      EndReasonCase{v1::CONNECTION_STATUS_RECONNECTED, false,
                                    v1::WATCH_END_REASON_CONNECTED},
                      EndReasonCase{v1::CONNECTION_STATUS_DEGRADED, false,
                                    v1::WATCH_END_REASON_CONNECTED},
                      EndReasonCase{v1::CONNECTION_STATUS_CHALLENGED, false,
                                    v1::WATCH_END_REASON_CHALLENGED},
                      EndReasonCase{v1::CONNECTION_STATUS_DENIED, false,
                                    v1::WATCH_END_REASON_END_STATE},
                      EndReasonCase{v1::CONNECTION_STATUS_FAILED, false,
                                    v1::WATCH_END_REASON_END_STATE},
                      EndReasonCase{v1::CONNECTION_STATUS_EXPIRED, false,
                                    v1::WATCH_END_REASON_END_STATE},
                      EndReasonCase{v1::CONNECTION_STATUS_LOCKED, false,
                                    v1::WATCH_END_REASON_END_STATE},
                      EndReasonCase{v1::CONNECTION_STATUS_PREVENTED, false,
                                    v1::WATCH_END_REASON_END_STATE},
                      EndReasonCase{v1::CONNECTION_STATUS_DISCONNECTED, false,
                                    v1::WATCH_END_REASON_END_STATE},
                      EndReasonCase{v1::CONNECTION_STATUS_CLOSED, false,
                                    v1::WATCH_END_REASON_END_STATE}));

class WatchTest : public ::testing::Test {
 protected:
  WatchTest() {
    WatchOptions watch;
    watch.initial_interval = absl::Milliseconds(1);
    watch.max_interval = absl::Milliseconds(4);
    watch.limits.member_interval = absl::ZeroDuration();
    watch.limits.polls_per_second = 100000;
    service_ = std::make_unique<MemberService>(fake_, ServiceOptions(watch, &log_.log()));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = v1::MemberService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }

  ~WatchTest() override {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + kWait));
    server_->Wait();
  }

  // Reads the whole stream; its messages and final status.
  std::pair<std::vector<v1::WatchMemberStatusResponse>, grpc::Status> Watch(
      const std::string& member = "MBR-1") {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    v1::WatchMemberStatusRequest request;
    request.set_user_identifier("user-1");
    request.set_member_identifier(member);
    auto reader = stub_->WatchMemberStatus(&context, request);
    std::vector<v1::WatchMemberStatusResponse> messages;
    v1::WatchMemberStatusResponse message;
    while (reader->Read(&message)) messages.push_back(message);
    return {messages, reader->Finish()};
  }

  FakeMxClient fake_;
  LogLines log_;
  std::unique_ptr<MemberService> service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MemberService::Stub> stub_;
};

TEST_F(WatchTest, SendsOnlyChangesAndEndsConnected) {
  const v1::MemberStatus created = StatusOf(v1::CONNECTION_STATUS_CREATED, true);
  const v1::MemberStatus syncing = StatusOf(v1::CONNECTION_STATUS_CONNECTED, true);
  const v1::MemberStatus done = StatusOf(v1::CONNECTION_STATUS_CONNECTED, false);
  fake_.ScriptStatuses({created, created, created, syncing, syncing, done});
  const auto [messages, status] = Watch();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_TRUE(MessageDifferencer::Equals(messages[0].status(), created));
  EXPECT_TRUE(MessageDifferencer::Equals(messages[1].status(), syncing));
  EXPECT_TRUE(MessageDifferencer::Equals(messages[2].status(), done));
  EXPECT_FALSE(messages[0].final());
  EXPECT_FALSE(messages[1].final());
  EXPECT_TRUE(messages[2].final());
  EXPECT_EQ(messages[2].end_reason(), v1::WATCH_END_REASON_CONNECTED);
  EXPECT_EQ(fake_.status_polls(), 6);  // no poll after the final status
}

TEST_F(WatchTest, EndsAtAChallengeAndAtAnEndState) {
  fake_.ScriptStatuses({StatusOf(v1::CONNECTION_STATUS_CHALLENGED, false)});
  auto [challenged, status] = Watch();
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(challenged.size(), 1u);
  EXPECT_EQ(challenged[0].end_reason(), v1::WATCH_END_REASON_CHALLENGED);

  fake_.ScriptStatuses({StatusOf(v1::CONNECTION_STATUS_RESUMED, true),
                        StatusOf(v1::CONNECTION_STATUS_DENIED, false)});
  auto [denied, denied_status] = Watch();
  ASSERT_TRUE(denied_status.ok());
  ASSERT_EQ(denied.size(), 2u);
  EXPECT_EQ(denied[1].end_reason(), v1::WATCH_END_REASON_END_STATE);
  EXPECT_TRUE(denied[1].final());
}

TEST_F(WatchTest, EndsWithMxsErrorAndItsDetails) {
  fake_.ScriptStatuses({StatusOf(v1::CONNECTION_STATUS_CREATED, true), MxNotFound()});
  const auto [messages, status] = Watch();
  EXPECT_EQ(messages.size(), 1u);
  ExpectMxNotFound(status);
}

TEST_F(WatchTest, DrainingEndsAnOpenWatchWithDraining) {
  fake_.ScriptStatuses({StatusOf(v1::CONNECTION_STATUS_PENDING, false)});  // forever
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  v1::WatchMemberStatusRequest request;
  request.set_user_identifier("user-1");
  request.set_member_identifier("MBR-1");
  auto reader = stub_->WatchMemberStatus(&context, request);
  v1::WatchMemberStatusResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(service_->calls_in_flight(), 1);

  const absl::Time drain_started = absl::Now();
  EXPECT_EQ(service_->StartDraining(), 1);

  while (reader->Read(&message)) {
    EXPECT_FALSE(message.final());
  }
  ExpectDraining(reader->Finish());
  EXPECT_LT(absl::Now() - drain_started, absl::Seconds(1));
  EXPECT_TRUE(service_->AwaitNoCallsInFlight(absl::Now() + kWait));
  const int polls = fake_.status_polls();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(fake_.status_polls(), polls) << "polled after the watch ended";
}

TEST_F(WatchTest, DrainingRefusesANewWatchWithoutPolling) {
  service_->StartDraining();
  const auto [messages, status] = Watch();
  EXPECT_TRUE(messages.empty());
  ExpectDraining(status);
  EXPECT_EQ(fake_.status_polls(), 0);
}

TEST_F(WatchTest, SendsItsRequestIdOnEveryPollAndLogsOnce) {
  fake_.ScriptStatuses({StatusOf(v1::CONNECTION_STATUS_CREATED, true),
                        StatusOf(v1::CONNECTION_STATUS_CONNECTED, false)});
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  context.AddMetadata("x-request-id", "watch-1");
  v1::WatchMemberStatusRequest request;
  request.set_user_identifier("user-1");
  request.set_member_identifier("MBR-1");
  auto reader = stub_->WatchMemberStatus(&context, request);
  v1::WatchMemberStatusResponse message;
  while (reader->Read(&message)) {
  }
  ASSERT_TRUE(reader->Finish().ok());

  EXPECT_EQ(ReturnedRequestId(context), "watch-1");
  EXPECT_THAT(fake_.poll_request_ids(), ElementsAre("watch-1", "watch-1"));
  const std::vector<std::string> lines = log_.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(R"("method":"WatchMemberStatus","code":"OK",)"));
  EXPECT_THAT(lines[0], HasSubstr(R"("request_id":"watch-1",)"));
}

TEST_F(WatchTest, RefusesAnInvalidRequestWithoutPolling) {
  const auto [messages, status] = Watch(/*member=*/"a/b");
  EXPECT_TRUE(messages.empty());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(fake_.status_polls(), 0);
}

}  // namespace
}  // namespace mxgate
