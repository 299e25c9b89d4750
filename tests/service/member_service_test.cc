#include "service/member_service.h"

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
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
#include "service/request_validation.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Every wait is bounded by this; a bug fails the test instead of hanging it.
constexpr absl::Duration kWait = absl::Seconds(30);
// The service's own default, chosen unlike kDefaultMxApiVersion so that a
// test can tell it from a hard-coded default.
constexpr MxApiVersion kServerDefault = MxApiVersion::kV20111101;

// Stands in for MX: keeps each call's `done` until the test completes it.
class FakeMxClient final : public MxClient {
 public:
  struct Call {
    CallId id;
    v1::CreateMemberRequest request;
    MxApiVersion version;
    absl::Time deadline;
  };

  // From now on, CreateMember runs `done` with `result` before returning.
  void CompleteInsideCreateMember(
      absl::StatusOr<v1::CreateMemberResponse> result) {
    absl::MutexLock lock(&mu_);
    inline_result_ = std::move(result);
  }

  // From now on, CreateMember returns only once `release` is notified.
  void HoldCreateMemberUntil(absl::Notification* release) {
    absl::MutexLock lock(&mu_);
    release_ = release;
  }

  CallId CreateMember(const v1::CreateMemberRequest& request,
                      MxApiVersion version, absl::Time deadline,
                      CreateMemberCallback done) override {
    absl::optional<absl::StatusOr<v1::CreateMemberResponse>> inline_result;
    absl::Notification* release;
    CallId id;
    {
      absl::MutexLock lock(&mu_);
      id = next_id_++;
      calls_.push_back({id, request, version, deadline});
      inline_result = inline_result_;
      release = release_;
      if (!inline_result.has_value()) pending_.emplace(id, std::move(done));
    }
    if (inline_result.has_value()) done(*std::move(inline_result));
    if (release != nullptr) {
      EXPECT_TRUE(release->WaitForNotificationWithTimeout(kWait));
    }
    return id;
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
  absl::Mutex mu_;
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
  static const absl::Status* const kNotFound = new absl::Status(
      MakeError(absl::StatusCode::kNotFound, "MX answered HTTP 404",
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
  const v1::CreateMemberResponse& response() const { return response_; }

 private:
  v1::CreateMemberRequest request_;
  grpc::ClientContext context_;
  absl::Time deadline_ = absl::InfiniteFuture();
  v1::CreateMemberResponse response_;
  absl::Notification done_;
  grpc::Status status_;
};

void ExpectOkWith(const grpc::Status& status,
                  const v1::CreateMemberResponse& actual,
                  const v1::CreateMemberResponse& expected) {
  ASSERT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
  EXPECT_TRUE(MessageDifferencer::Equals(actual, expected))
      << actual.DebugString();
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
  EXPECT_THAT(info.metadata(),
              UnorderedElementsAre(Pair("http_status", "404")));
}

class MemberServiceTest : public ::testing::Test {
 protected:
  MemberServiceTest() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
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
  MemberService service_{fake_, kServerDefault};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MemberService::Stub> stub_;
};

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

class MemberServiceVersionTest
    : public MemberServiceTest,
      public ::testing::WithParamInterface<VersionCase> {};

TEST_P(MemberServiceVersionTest, CallsMxWithTheResolvedVersion) {
  const v1::CreateMemberRequest request =
      ValidRequest(GetParam().accept_version);
  ClientCall call(*stub_, request);

  const FakeMxClient::Call mx_call = OnlyCall();
  EXPECT_EQ(mx_call.version, GetParam().expected);
  EXPECT_TRUE(MessageDifferencer::Equals(mx_call.request, request));
  ASSERT_TRUE(fake_.Complete(mx_call.id, MxResponse()));
  EXPECT_TRUE(call.Wait().ok());
}

INSTANTIATE_TEST_SUITE_P(
    Versions, MemberServiceVersionTest,
    ::testing::Values(
        VersionCase{"EmptyMeansServerDefault", "", kServerDefault},
        VersionCase{"ExplicitV20250224", "v20250224", MxApiVersion::kV20250224},
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

}  // namespace
}  // namespace mxgate
