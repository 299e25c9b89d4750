// The member-connection flow end to end: the real mxgate binary against the
// real mx-sandbox (with fast aggregation steps), through every RPC of
// MemberService, including WatchMemberStatus's stream semantics.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "sandbox/mx_sandbox.h"  // the seeded ids and guids only
#include "tests/integration/gateway_process.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using Stub = v1::MemberService::Stub;
using ::mxgate::testing::Gateway;
using ::mxgate::testing::HttpGet;
using ::mxgate::testing::MxBankRequest;
using ::mxgate::testing::ReasonOf;
using ::mxgate::testing::Sandbox;

struct Watched {
  std::vector<v1::WatchMemberStatusResponse> messages;
  grpc::Status status;
};

class MemberFlow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sandbox_ = new Sandbox({"--step_ms=40"});
    ASSERT_FALSE(sandbox_->url().empty()) << sandbox_->process().Stderr();
    gateway_ = new Gateway(
        sandbox_->url(),
        {"--watch_initial_poll_ms=20", "--watch_max_poll_ms=200",
         "--watch_member_poll_interval_ms=0", "--watch_max_polls_per_second=1000"});
    ASSERT_FALSE(gateway_->address().empty());
  }

  static void TearDownTestSuite() {
    delete gateway_;
    delete sandbox_;
  }

  // Creates an mxbank member of demo-user with `password`; returns its guid.
  static std::string CreateMxBankMember(const std::string& password,
                                        const std::string& username = "mxuser") {
    v1::CreateMemberRequest request = MxBankRequest(sandbox::kDemoUserId, password);
    request.mutable_member()->mutable_credentials(0)->set_value(username);
    v1::CreateMemberResponse response;
    const grpc::Status status = gateway_->CreateMember(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.member().guid();
  }

  static Watched Watch(const std::string& member_guid,
                       absl::Duration timeout = absl::Seconds(20)) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    v1::WatchMemberStatusRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.set_member_identifier(member_guid);
    auto reader = gateway_->stub().WatchMemberStatus(&context, request);
    Watched watched;
    v1::WatchMemberStatusResponse message;
    while (reader->Read(&message)) watched.messages.push_back(message);
    watched.status = reader->Finish();
    return watched;
  }

  // The watch ended by itself with `reason` and status `connection`; every
  // message differs from the one before, and only the last is final.
  static void ExpectEndedWith(const Watched& watched, v1::WatchEndReason reason,
                              v1::ConnectionStatus connection) {
    ASSERT_TRUE(watched.status.ok()) << watched.status.error_message();
    ASSERT_FALSE(watched.messages.empty());
    const v1::WatchMemberStatusResponse& last = watched.messages.back();
    EXPECT_TRUE(last.final());
    EXPECT_EQ(last.end_reason(), reason);
    EXPECT_EQ(last.status().connection_status(), connection);
    for (size_t i = 0; i + 1 < watched.messages.size(); ++i) {
      EXPECT_FALSE(watched.messages[i].final()) << "message " << i;
      EXPECT_EQ(watched.messages[i].end_reason(), v1::WATCH_END_REASON_UNSPECIFIED);
      EXPECT_NE(watched.messages[i].status().SerializeAsString(),
                watched.messages[i + 1].status().SerializeAsString())
          << "message " << i + 1 << " repeats an unchanged status";
    }
  }

  static grpc::Status Resume(const std::string& member_guid,
                             const v1::Challenge& challenge, const std::string& answer) {
    v1::ResumeMemberRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.set_member_identifier(member_guid);
    v1::ChallengeAnswer* out = request.add_challenges();
    out->set_guid(challenge.guid());
    out->set_value(answer);
    v1::ResumeMemberResponse response;
    return gateway_->Call(&Stub::ResumeMember, request, &response);
  }

  static Sandbox* sandbox_;
  static Gateway* gateway_;
};

Sandbox* MemberFlow::sandbox_ = nullptr;
Gateway* MemberFlow::gateway_ = nullptr;

TEST_F(MemberFlow, ListsTheInstitutionsCredentialFields) {
  v1::ListInstitutionCredentialsRequest request;
  request.set_institution_code("mxbank");
  v1::ListInstitutionCredentialsResponse response;
  const grpc::Status status =
      gateway_->Call(&Stub::ListInstitutionCredentials, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.credentials_size(), 2);
  EXPECT_EQ(response.credentials(0).guid(), sandbox::kMxBankUsernameGuid);
  EXPECT_EQ(response.credentials(0).field_name(), "LOGIN");
  EXPECT_EQ(response.credentials(1).guid(), sandbox::kMxBankPasswordGuid);
  EXPECT_EQ(response.credentials(1).field_name(), "PASSWORD");
  EXPECT_EQ(response.pagination().total_entries(), 2);
  EXPECT_EQ(response.pagination().current_page(), 1);
}

TEST_F(MemberFlow, UnknownInstitutionIsNotFound) {
  v1::ListInstitutionCredentialsRequest request;
  request.set_institution_code("no_such_bank");
  v1::ListInstitutionCredentialsResponse response;
  const grpc::Status status =
      gateway_->Call(&Stub::ListInstitutionCredentials, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_NOT_FOUND");
}

TEST_F(MemberFlow, PlainPasswordConnects) {
  const std::string guid = CreateMxBankMember(::mxgate::testing::kPassword);
  const Watched watched = Watch(guid);
  ExpectEndedWith(watched, v1::WATCH_END_REASON_CONNECTED,
                  v1::CONNECTION_STATUS_CONNECTED);
  EXPECT_FALSE(watched.messages.back().status().is_being_aggregated());
  EXPECT_TRUE(watched.messages.back().status().has_successfully_aggregated_at());

  v1::GetMemberRequest get;
  get.set_user_identifier(sandbox::kDemoUserId);
  get.set_member_identifier(guid);
  v1::GetMemberResponse member;
  ASSERT_TRUE(gateway_->Call(&Stub::GetMember, get, &member).ok());
  EXPECT_EQ(member.member().connection_status(), v1::CONNECTION_STATUS_CONNECTED);
}

struct ChallengeCase {
  const char* password;
  v1::ChallengeType type;
};
void PrintTo(const ChallengeCase& c, std::ostream* os) { *os << c.password; }

class EachChallenge : public MemberFlow,
                      public ::testing::WithParamInterface<ChallengeCase> {};

TEST_P(EachChallenge, RightAnswerConnects) {
  const std::string guid = CreateMxBankMember(GetParam().password);
  const Watched first = Watch(guid);
  ExpectEndedWith(first, v1::WATCH_END_REASON_CHALLENGED,
                  v1::CONNECTION_STATUS_CHALLENGED);
  const v1::MemberStatus& challenged = first.messages.back().status();
  ASSERT_EQ(challenged.challenges_size(), 1);
  EXPECT_EQ(challenged.challenges(0).type(), GetParam().type);
  if (GetParam().type == v1::CHALLENGE_TYPE_OPTIONS) {
    EXPECT_GE(challenged.challenges(0).options_size(), 2);
  }
  if (GetParam().type == v1::CHALLENGE_TYPE_IMAGE_DATA) {
    EXPECT_FALSE(challenged.challenges(0).image_data().empty());
  }

  const grpc::Status resumed = Resume(guid, challenged.challenges(0), "correct");
  ASSERT_TRUE(resumed.ok()) << resumed.error_message();
  ExpectEndedWith(Watch(guid), v1::WATCH_END_REASON_CONNECTED,
                  v1::CONNECTION_STATUS_CONNECTED);
}

TEST_P(EachChallenge, WrongAnswerIsDenied) {
  const std::string guid = CreateMxBankMember(GetParam().password);
  const Watched first = Watch(guid);
  ASSERT_EQ(first.messages.back().end_reason(), v1::WATCH_END_REASON_CHALLENGED);
  ASSERT_TRUE(Resume(guid, first.messages.back().status().challenges(0), "wrong").ok());
  ExpectEndedWith(Watch(guid), v1::WATCH_END_REASON_END_STATE,
                  v1::CONNECTION_STATUS_DENIED);
}

INSTANTIATE_TEST_SUITE_P(
    MxBankPasswords, EachChallenge,
    ::testing::Values(ChallengeCase{"challenge", v1::CHALLENGE_TYPE_TEXT},
                      ChallengeCase{"options", v1::CHALLENGE_TYPE_OPTIONS},
                      ChallengeCase{"image", v1::CHALLENGE_TYPE_IMAGE_DATA}),
    [](const ::testing::TestParamInfo<ChallengeCase>& info) {
      return std::string(info.param.password);
    });

TEST_F(MemberFlow, BadRequestPasswordFails) {
  ExpectEndedWith(Watch(CreateMxBankMember("BAD_REQUEST")),
                  v1::WATCH_END_REASON_END_STATE, v1::CONNECTION_STATUS_FAILED);
}

TEST_F(MemberFlow, ResumingAMemberThatIsNotChallengedIsAFailedPrecondition) {
  const std::string guid = CreateMxBankMember(::mxgate::testing::kPassword);
  ExpectEndedWith(Watch(guid), v1::WATCH_END_REASON_CONNECTED,
                  v1::CONNECTION_STATUS_CONNECTED);
  v1::Challenge none;
  none.set_guid("CRD-none");
  const grpc::Status status = Resume(guid, none, "correct");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_CONSTRAINT_NOT_MET");
}

TEST_F(MemberFlow, OAuthMemberConnectsOnceItsWindowIsOpened) {
  v1::CreateMemberRequest request;
  request.set_user_identifier(sandbox::kDemoUserId);
  request.mutable_member()->set_institution_code("mx_bank_oauth");
  request.mutable_member()->set_is_oauth(true);
  v1::CreateMemberResponse created;
  ASSERT_TRUE(gateway_->CreateMember(request, &created).ok());
  const std::string guid = created.member().guid();

  // Still PENDING: a short watch sees PENDING and then runs out of time.
  const Watched pending = Watch(guid, absl::Milliseconds(300));
  EXPECT_EQ(pending.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_EQ(pending.messages.size(), 1u);
  EXPECT_EQ(pending.messages[0].status().connection_status(),
            v1::CONNECTION_STATUS_PENDING);
  EXPECT_FALSE(pending.messages[0].final());

  EXPECT_THAT(HttpGet(created.member().oauth_window_uri()),
              ::testing::HasSubstr("Authorized"));
  ExpectEndedWith(Watch(guid), v1::WATCH_END_REASON_CONNECTED,
                  v1::CONNECTION_STATUS_CONNECTED);
}

TEST_F(MemberFlow, DeletedMemberIsGone) {
  const std::string guid = CreateMxBankMember(::mxgate::testing::kPassword);
  v1::DeleteMemberRequest request;
  request.set_user_identifier(sandbox::kDemoUserId);
  request.set_member_identifier(guid);
  v1::DeleteMemberResponse deleted;
  const grpc::Status status = gateway_->Call(&Stub::DeleteMember, request, &deleted);
  ASSERT_TRUE(status.ok()) << status.error_message();

  v1::GetMemberStatusRequest get;
  get.set_user_identifier(sandbox::kDemoUserId);
  get.set_member_identifier(guid);
  v1::GetMemberStatusResponse response;
  const grpc::Status gone = gateway_->Call(&Stub::GetMemberStatus, get, &response);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(gone), "UPSTREAM_NOT_FOUND");
  // A watch of a deleted member ends with MX's error.
  EXPECT_EQ(Watch(guid).status.error_code(), grpc::StatusCode::NOT_FOUND);
}

// A pending OAuth member never ends the watch by itself: the watch's polls
// can be counted, and must stop with the call.
class WatchLimits : public ::testing::Test {
 protected:
  WatchLimits()
      : sandbox_({"--step_ms=40"}),
        gateway_(sandbox_.url(), {"--watch_initial_poll_ms=20", "--watch_max_poll_ms=20",
                                  "--watch_member_poll_interval_ms=200"}) {}

  std::string PendingOAuthMember() {
    v1::CreateMemberRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.mutable_member()->set_institution_code("mx_bank_oauth");
    request.mutable_member()->set_is_oauth(true);
    v1::CreateMemberResponse created;
    EXPECT_TRUE(gateway_.CreateMember(request, &created).ok());
    return created.member().guid();
  }

  // The sandbox's status polls stay at their count once a watch ended.
  void ExpectNoMorePolls() {
    const int after_end = sandbox_.Stat("status_requests");
    absl::SleepFor(absl::Milliseconds(500));
    EXPECT_EQ(sandbox_.Stat("status_requests"), after_end) << "polled after the end";
  }

  Sandbox sandbox_;
  Gateway gateway_;
};

TEST_F(WatchLimits, NoPollAfterTheDeadline) {
  const std::string guid = PendingOAuthMember();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
  v1::WatchMemberStatusRequest request;
  request.set_user_identifier(sandbox::kDemoUserId);
  request.set_member_identifier(guid);
  auto reader = gateway_.stub().WatchMemberStatus(&context, request);
  v1::WatchMemberStatusResponse message;
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ExpectNoMorePolls();
}

TEST_F(WatchLimits, NoPollAfterTheCallerCancels) {
  const std::string guid = PendingOAuthMember();
  grpc::ClientContext context;
  v1::WatchMemberStatusRequest request;
  request.set_user_identifier(sandbox::kDemoUserId);
  request.set_member_identifier(guid);
  auto reader = gateway_.stub().WatchMemberStatus(&context, request);
  v1::WatchMemberStatusResponse message;
  ASSERT_TRUE(reader->Read(&message));  // the first status arrives at once
  absl::SleepFor(absl::Milliseconds(300));
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ExpectNoMorePolls();
}

TEST_F(WatchLimits, ManyWatchersOfOneMemberShareItsPollBudget) {
  const std::string guid = PendingOAuthMember();
  const int before = sandbox_.Stat("status_requests");
  constexpr int kWatchers = 10;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::WatchMemberStatusResponse>>> readers;
  v1::WatchMemberStatusRequest request;
  request.set_user_identifier(sandbox::kDemoUserId);
  request.set_member_identifier(guid);
  const absl::Time start = absl::Now();
  for (int i = 0; i < kWatchers; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(absl::ToChronoTime(start + absl::Seconds(2)));
    readers.push_back(gateway_.stub().WatchMemberStatus(contexts.back().get(), request));
  }
  v1::WatchMemberStatusResponse message;
  for (auto& reader : readers) {
    while (reader->Read(&message)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  const absl::Duration took = absl::Now() - start;
  // One poll per 200 ms for the member, however many watch it: without the
  // bound, 10 watchers polling every 20 ms would send about 1000.
  const int polls = sandbox_.Stat("status_requests") - before;
  const int allowed = static_cast<int>(took / absl::Milliseconds(200)) + 1;
  EXPECT_LE(polls, allowed);
  EXPECT_GE(polls, 5);
}

}  // namespace
}  // namespace mxgate
