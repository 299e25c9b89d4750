// The real mxgate binary's graceful drain on SIGTERM: readiness turns
// NOT_SERVING while liveness stays SERVING, new calls are refused with
// UNAVAILABLE (DRAINING), calls in flight finish (or are cut, visibly, at
// --drain_timeout_ms), open watches end with UNAVAILABLE (DRAINING), and the
// process exits 0.
#include <signal.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "sandbox/mx_sandbox.h"  // the seeded ids and guids only
#include "tests/integration/gateway_process.h"
#include "tests/integration/recording_upstream.h"
#include "tests/integration/test_process.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::grpc::health::v1::HealthCheckResponse;
using ::mxgate::testing::BinPath;
using ::mxgate::testing::ChildProcess;
using ::mxgate::testing::kApiKey;
using ::mxgate::testing::kClientId;
using ::mxgate::testing::kPassword;
using ::mxgate::testing::MxBankRequest;
using ::mxgate::testing::RecordingUpstream;
using ::mxgate::testing::Sandbox;
using ::testing::HasSubstr;

// Readiness; "" is liveness.
constexpr char kMemberServiceName[] = "mx.platform.v1.MemberService";

constexpr char kMemberBody[] =
    R"({"member":{"guid":"MBR-1","user_guid":"USR-1","institution_code":"mxbank",)"
    R"("connection_status":"CONNECTED","is_being_aggregated":false}})";

struct ErrorReason {
  std::string reason;
  bool has_retry_info = false;
};

ErrorReason ReasonAndRetryOf(const grpc::Status& status) {
  return {::mxgate::testing::ReasonOf(status),
          ::mxgate::testing::FindDetail<google::rpc::RetryInfo>(status).has_value()};
}

void ExpectDraining(const grpc::Status& status) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  const ErrorReason reason = ReasonAndRetryOf(status);
  EXPECT_EQ(reason.reason, "DRAINING");
  EXPECT_TRUE(reason.has_retry_info);
}

// The real mxgate, to be stopped by the test's own SIGTERM.
class DrainingGateway {
 public:
  DrainingGateway(const std::string& mx_base_url, std::vector<std::string> extra_flags) {
    std::vector<std::string> argv = {BinPath("mxgate"), "--listen=127.0.0.1:0",
                                     "--mx_base_url=" + mx_base_url};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    process_ = std::make_unique<ChildProcess>(
        argv, std::map<std::string, std::string>{{"MX_CLIENT_ID", kClientId},
                                                 {"MX_API_KEY", kApiKey}});
    address_ = process_->WaitForListening();
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    stub_ = v1::MemberService::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  ~DrainingGateway() {
    const std::string log = process_->Stderr();
    for (const char* secret : {kApiKey, kPassword, "aXQtY2xpZW50", "mxuser"}) {
      EXPECT_THAT(log, ::testing::Not(HasSubstr(secret))) << "a secret reached the log";
    }
  }

  const std::string& address() const { return address_; }
  ChildProcess& process() { return *process_; }
  v1::MemberService::Stub& stub() { return *stub_; }

  // The health of `service`; UNKNOWN when the check itself failed.
  HealthCheckResponse::ServingStatus Health(const std::string& service) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    if (!health_->Check(&context, request, &response).ok()) {
      return HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  grpc::Status CreateMember(v1::CreateMemberResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return stub_->CreateMember(&context, MxBankRequest(), response);
  }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::MemberService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// One CreateMember on the callback API, so the test can signal the gateway
// while it is in flight.
class CreateInFlight {
 public:
  explicit CreateInFlight(v1::MemberService::Stub& stub) : request_(MxBankRequest()) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    stub.async()->CreateMember(&context_, &request_, &response_,
                               [this](grpc::Status status) {
                                 status_ = std::move(status);
                                 done_.Notify();
                               });
  }
  ~CreateInFlight() {
    context_.TryCancel();
    done_.WaitForNotificationWithTimeout(absl::Seconds(20));
  }

  grpc::Status Wait() {
    if (!done_.WaitForNotificationWithTimeout(absl::Seconds(20))) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "test: never ended");
    }
    return status_;
  }
  const v1::CreateMemberResponse& response() const { return response_; }

 private:
  v1::CreateMemberRequest request_;
  grpc::ClientContext context_;
  v1::CreateMemberResponse response_;
  absl::Notification done_;
  grpc::Status status_;
};

// Waits (bounded) until `done` holds.
template <typename Predicate>
bool Eventually(Predicate done, absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time give_up = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST(Drain, FinishesTheCallInFlightRefusesNewOnesAndExitsZero) {
  RecordingUpstream upstream;
  upstream.Enqueue({202, {}, kMemberBody, absl::Milliseconds(1500)});
  DrainingGateway gateway(upstream.base_url(), {"--drain_timeout_ms=5000"});
  ASSERT_FALSE(gateway.address().empty()) << gateway.process().Stderr();
  ASSERT_EQ(gateway.Health(kMemberServiceName), HealthCheckResponse::SERVING);

  CreateInFlight in_flight(gateway.stub());
  ASSERT_TRUE(Eventually([&] { return upstream.requests().size() == 1; }));
  const absl::Time signalled = absl::Now();
  gateway.process().Signal(SIGTERM);

  ASSERT_TRUE(Eventually([&] {
    return gateway.Health(kMemberServiceName) == HealthCheckResponse::NOT_SERVING;
  }));
  EXPECT_LT(absl::Now() - signalled, absl::Milliseconds(500));
  EXPECT_EQ(gateway.Health(""), HealthCheckResponse::SERVING) << "liveness";

  v1::CreateMemberResponse refused;
  ExpectDraining(gateway.CreateMember(&refused));

  const grpc::Status status = in_flight.Wait();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(in_flight.response().member().guid(), "MBR-1");
  EXPECT_EQ(upstream.requests().size(), 1u) << "the refused call reached MX";
  EXPECT_EQ(upstream.aborted(), 0);

  EXPECT_EQ(gateway.process().WaitForExit(absl::Milliseconds(5000 + 2000)), 0);
  const std::string log = gateway.process().Stderr();
  EXPECT_THAT(log, HasSubstr("draining (1 calls in flight)"));
  EXPECT_THAT(log, HasSubstr("0 calls cut at the drain timeout"));
}

TEST(Drain, CutsACallLongerThanTheDrainTimeoutVisiblyAndAbortsItsUpstream) {
  RecordingUpstream upstream;
  upstream.Enqueue({202, {}, kMemberBody, absl::Seconds(5)});
  DrainingGateway gateway(upstream.base_url(), {"--drain_timeout_ms=300"});
  ASSERT_FALSE(gateway.address().empty()) << gateway.process().Stderr();

  CreateInFlight in_flight(gateway.stub());
  ASSERT_TRUE(Eventually([&] { return upstream.requests().size() == 1; }));
  const absl::Time signalled = absl::Now();
  gateway.process().Signal(SIGTERM);

  const grpc::Status status = in_flight.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();
  EXPECT_EQ(ReasonAndRetryOf(status).reason, "CANCELLED");
  EXPECT_EQ(gateway.process().WaitForExit(absl::Milliseconds(300 + 2000)), 0);
  EXPECT_LT(absl::Now() - signalled, absl::Milliseconds(300 + 2000));
  EXPECT_TRUE(Eventually([&] { return upstream.aborted() == 1; }));
  EXPECT_THAT(gateway.process().Stderr(), HasSubstr("1 calls cut at the drain timeout"));
}

TEST(Drain, EndsAnOpenWatchWithDrainingPromptly) {
  Sandbox sandbox({"--step_ms=40"});
  ASSERT_FALSE(sandbox.url().empty()) << sandbox.process().Stderr();
  DrainingGateway gateway(sandbox.url(),
                          {"--drain_timeout_ms=5000", "--watch_initial_poll_ms=20",
                           "--watch_max_poll_ms=200"});
  ASSERT_FALSE(gateway.address().empty()) << gateway.process().Stderr();

  // A pending OAuth member: the watch never ends by itself.
  v1::CreateMemberRequest create;
  create.set_user_identifier(sandbox::kDemoUserId);
  create.mutable_member()->set_institution_code("mx_bank_oauth");
  create.mutable_member()->set_is_oauth(true);
  v1::CreateMemberResponse created;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ASSERT_TRUE(gateway.stub().CreateMember(&context, create, &created).ok());
  }

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::WatchMemberStatusRequest request;
  request.set_user_identifier(sandbox::kDemoUserId);
  request.set_member_identifier(created.member().guid());
  auto reader = gateway.stub().WatchMemberStatus(&context, request);
  v1::WatchMemberStatusResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(message.status().connection_status(), v1::CONNECTION_STATUS_PENDING);

  const absl::Time signalled = absl::Now();
  gateway.process().Signal(SIGTERM);
  while (reader->Read(&message)) {
    EXPECT_FALSE(message.final());
  }
  ExpectDraining(reader->Finish());
  EXPECT_LT(absl::Now() - signalled, absl::Milliseconds(500));
  // Nothing else was in flight: the process does not wait for the timeout.
  EXPECT_EQ(gateway.process().WaitForExit(absl::Seconds(2)), 0);
  EXPECT_THAT(gateway.process().Stderr(), HasSubstr("0 calls cut at the drain timeout"));
}

}  // namespace
}  // namespace mxgate
