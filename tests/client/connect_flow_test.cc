#include "client/connect_flow.h"

#include <unistd.h>

#include <cstdio>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli_args.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::testing::_;
using ::testing::DoAll;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;
using ::testing::Pair;
using ::testing::Property;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kUsernameGuid[] = "CRD-user";
constexpr char kPasswordGuid[] = "CRD-pass";
constexpr char kPassword[] = "s3cret-pa55";
constexpr char kAnswer[] = "fluffy-the-cat";
constexpr char kMemberGuid[] = "MBR-1";
constexpr char kUserGuid[] = "USR-1";
// A 1x1 PNG: 70 bytes once decoded.
constexpr char kPngDataUri[] =
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADU"
    "lEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

template <typename Message>
Message Parse(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// A terminal played from a script: the lines a person would type, and a
// record of everything shown.
class ScriptedTerminal final : public Terminal {
 public:
  struct Asked {
    std::string text;
    bool hidden;
  };

  bool can_prompt = true;
  bool live = false;
  std::deque<std::string> typed;  // prompts past its end see the input end
  std::vector<Asked> asked;
  std::vector<std::string> lines;     // PrintLine
  std::vector<std::string> progress;  // ShowProgress
  std::string errors;                 // PrintError
  std::string screen;                 // all of it, as a person would see it

  bool CanPrompt() override { return can_prompt; }
  bool IsLive() override { return live; }
  absl::optional<std::string> Prompt(absl::string_view text, bool hide_input) override {
    asked.push_back({std::string(text), hide_input});
    absl::StrAppend(&screen, text);
    if (typed.empty()) return absl::nullopt;
    std::string line = typed.front();
    typed.pop_front();
    absl::StrAppend(&screen, hide_input ? "" : line, "\n");
    return line;
  }
  void PrintLine(absl::string_view line) override {
    lines.emplace_back(line);
    absl::StrAppend(&screen, line, "\n");
  }
  void ShowProgress(absl::string_view line) override {
    progress.emplace_back(line);
    absl::StrAppend(&screen, "\r", line);
  }
  void PrintError(absl::string_view text) override {
    absl::StrAppend(&errors, text);
    absl::StrAppend(&screen, text);
  }
};

class MockMemberApi : public MemberApi {
 public:
  MOCK_METHOD(grpc::Status, CreateMember,
              (const v1::CreateMemberRequest&, v1::CreateMemberResponse*, absl::Duration),
              (override));
  MOCK_METHOD(grpc::Status, ListInstitutionCredentials,
              (const v1::ListInstitutionCredentialsRequest&,
               v1::ListInstitutionCredentialsResponse*, absl::Duration),
              (override));
  MOCK_METHOD(grpc::Status, GetMember,
              (const v1::GetMemberRequest&, v1::GetMemberResponse*, absl::Duration),
              (override));
  MOCK_METHOD(grpc::Status, GetMemberStatus,
              (const v1::GetMemberStatusRequest&, v1::GetMemberStatusResponse*,
               absl::Duration),
              (override));
  MOCK_METHOD(grpc::Status, ResumeMember,
              (const v1::ResumeMemberRequest&, v1::ResumeMemberResponse*, absl::Duration),
              (override));
  MOCK_METHOD(grpc::Status, DeleteMember,
              (const v1::DeleteMemberRequest&, v1::DeleteMemberResponse*, absl::Duration),
              (override));
  MOCK_METHOD(grpc::Status, WatchMemberStatus,
              (const v1::WatchMemberStatusRequest&, const WatchCallback&, absl::Duration),
              (override));
};

// MX Bank's two fields, listed PASSWORD first: display_order says LOGIN.
v1::ListInstitutionCredentialsResponse MxBankFields() {
  // Left as written: clang-format would indent the text after each guid.
  // clang-format off
  return Parse<v1::ListInstitutionCredentialsResponse>(absl::StrCat(R"pb(
    credentials {
      guid: ")pb", kPasswordGuid, R"pb(" field_name: "PASSWORD" label: "Password"
      display_order: 1 field_type: "PASSWORD" type: "PASSWORD"
    }
    credentials {
      guid: ")pb", kUsernameGuid, R"pb(" field_name: "LOGIN" label: "Username"
      display_order: 0 field_type: "TEXT" type: "TEXT"
    }
    pagination { current_page: 1 total_pages: 1 }
  )pb"));
  // clang-format on
}

v1::CreateMemberResponse Created(const std::string& extra = "") {
  return Parse<v1::CreateMemberResponse>(absl::StrCat(
      "member { guid: '", kMemberGuid, "' user_guid: '", kUserGuid,
      "' name: 'MX Bank' connection_status: CONNECTION_STATUS_CREATED ", extra, " }"));
}

// A watch message; `final_reason` UNSPECIFIED for one that is not last.
v1::WatchMemberStatusResponse Message(v1::ConnectionStatus status,
                                      v1::WatchEndReason final_reason,
                                      const std::string& challenges = "") {
  v1::WatchMemberStatusResponse message =
      Parse<v1::WatchMemberStatusResponse>(absl::StrCat("status { ", challenges, " }"));
  message.mutable_status()->set_connection_status(status);
  message.set_final(final_reason != v1::WATCH_END_REASON_UNSPECIFIED);
  message.set_end_reason(final_reason);
  return message;
}

// An action for WatchMemberStatus: hands `messages` to the callback, then
// ends the stream with `status`.
auto Streams(std::vector<v1::WatchMemberStatusResponse> messages,
             grpc::Status status = grpc::Status::OK) {
  return [messages = std::move(messages), status = std::move(status)](
             const v1::WatchMemberStatusRequest&,
             const MemberApi::WatchCallback& callback, absl::Duration) {
    for (const auto& message : messages) callback(message);
    return status;
  };
}

constexpr char kOptionsChallenge[] = R"pb(
  challenges {
    guid: "CRD-opt" label: "Where should we send your code?" type: CHALLENGE_TYPE_OPTIONS
    options { label: "Text" value: "v-text" }
    options { label: "Email" value: "v-email" }
  })pb";
constexpr char kTextChallenge[] = R"pb(
  challenges { guid: "CRD-text" label: "First pet?" type: CHALLENGE_TYPE_TEXT })pb";

class ConnectFlow : public ::testing::Test {
 protected:
  ConnectFlow() {
    args_.user = "demo-user";
    args_.institution = "mxbank";
    ON_CALL(api_, ListInstitutionCredentials)
        .WillByDefault([](auto&, v1::ListInstitutionCredentialsResponse* response, auto) {
          *response = MxBankFields();
          return grpc::Status::OK;
        });
    ON_CALL(api_, CreateMember)
        .WillByDefault([this](const v1::CreateMemberRequest& request,
                              v1::CreateMemberResponse* response, auto) {
          create_request_ = request;
          *response = Created();
          return grpc::Status::OK;
        });
    ON_CALL(api_, ResumeMember)
        .WillByDefault([this](const v1::ResumeMemberRequest& request,
                              v1::ResumeMemberResponse* response, auto) {
          resume_requests_.push_back(request);
          response->mutable_member()->set_connection_status(
              v1::CONNECTION_STATUS_RESUMED);
          return grpc::Status::OK;
        });
  }

  int Run() { return RunConnect(args_, api_, terminal_); }

  // The credentials sent, as GUID=VALUE.
  std::vector<std::string> SentCredentials() const {
    std::vector<std::string> sent;
    for (const v1::Credential& credential : create_request_.member().credentials()) {
      sent.push_back(absl::StrCat(credential.guid(), "=", credential.value()));
    }
    return sent;
  }

  ConnectArgs args_;
  ::testing::NiceMock<MockMemberApi> api_;
  ScriptedTerminal terminal_;
  v1::CreateMemberRequest create_request_;
  std::vector<v1::ResumeMemberRequest> resume_requests_;
};

TEST_F(ConnectFlow, AsksForEachFieldInDisplayOrderWithoutEchoForThePassword) {
  terminal_.typed = {"mxuser", kPassword};
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_CREATED, v1::WATCH_END_REASON_UNSPECIFIED),
           Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk) << terminal_.screen;
  ASSERT_THAT(terminal_.asked, SizeIs(2));
  EXPECT_EQ(terminal_.asked[0].text, "Username: ");
  EXPECT_FALSE(terminal_.asked[0].hidden);
  EXPECT_EQ(terminal_.asked[1].text, "Password: ");
  EXPECT_TRUE(terminal_.asked[1].hidden);
  EXPECT_THAT(SentCredentials(),
              ElementsAre(absl::StrCat(kUsernameGuid, "=mxuser"),
                          absl::StrCat(kPasswordGuid, "=", kPassword)));
  EXPECT_EQ(create_request_.user_identifier(), "demo-user");
  EXPECT_EQ(create_request_.member().institution_code(), "mxbank");
  EXPECT_THAT(terminal_.errors, IsEmpty());
  EXPECT_THAT(terminal_.screen, Not(HasSubstr(kPassword)));
}

TEST_F(ConnectFlow, PrintsAStatusLineOnlyWhenTheStatusChangesThenTheResult) {
  args_.credentials = {"LOGIN=mxuser", absl::StrCat("password=", kPassword)};
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_CREATED, v1::WATCH_END_REASON_UNSPECIFIED),
           Message(v1::CONNECTION_STATUS_CREATED, v1::WATCH_END_REASON_UNSPECIFIED),
           Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk) << terminal_.screen;
  EXPECT_THAT(terminal_.asked, IsEmpty());
  ASSERT_THAT(terminal_.lines, SizeIs(4)) << terminal_.screen;
  EXPECT_EQ(terminal_.lines[0], "Created member MBR-1 at MX Bank.");
  EXPECT_THAT(terminal_.lines[1], StartsWith("CREATED  "));
  EXPECT_THAT(terminal_.lines[2], StartsWith("CONNECTED  "));
  EXPECT_EQ(terminal_.lines[3], "Connected: member MBR-1 at MX Bank is CONNECTED.");
  EXPECT_THAT(terminal_.progress, IsEmpty());
}

TEST_F(ConnectFlow, WatchesTheMemberByItsGuidAndTheUsersGuid) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=x"};
  args_.accept_version = "v20111101";
  v1::WatchMemberStatusRequest watched;
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(DoAll(SaveArg<0>(&watched),
                      Streams({Message(v1::CONNECTION_STATUS_CONNECTED,
                                       v1::WATCH_END_REASON_CONNECTED)})));
  EXPECT_EQ(Run(), kExitOk);
  EXPECT_EQ(watched.user_identifier(), kUserGuid);
  EXPECT_EQ(watched.member_identifier(), kMemberGuid);
  EXPECT_EQ(watched.accept_version(), "v20111101");
  EXPECT_EQ(create_request_.accept_version(), "v20111101");
}

TEST_F(ConnectFlow, LiveTerminalRedrawsOneLineAndLeavesTheLastStatusWithoutSpinner) {
  terminal_.live = true;
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=x"};
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce([](auto&, const MemberApi::WatchCallback& callback, auto) {
        callback(
            Message(v1::CONNECTION_STATUS_CREATED, v1::WATCH_END_REASON_UNSPECIFIED));
        absl::SleepFor(absl::Milliseconds(500));  // the spinner turns meanwhile
        callback(
            Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED));
        return grpc::Status::OK;
      });
  EXPECT_EQ(Run(), kExitOk);
  // Created, then the progress line; no status printed as its own line.
  EXPECT_THAT(terminal_.lines,
              ElementsAre("Created member MBR-1 at MX Bank.",
                          "Connected: member MBR-1 at MX Bank is CONNECTED."));
  ASSERT_GE(terminal_.progress.size(), 4u);
  EXPECT_THAT(terminal_.progress[0], StartsWith("CREATED  0.0s  "));
  std::set<char> spinner_frames;
  for (const std::string& line : terminal_.progress) {
    if (absl::StartsWith(line, "CREATED")) spinner_frames.insert(line.back());
  }
  EXPECT_GE(spinner_frames.size(), 3u);
  EXPECT_THAT(terminal_.progress.back(),
              ::testing::MatchesRegex("CONNECTED  [0-9]+\\.[0-9]s"));
}

TEST_F(ConnectFlow, TakesValuesFromTheFileWhereNoFlagGivesThem) {
  char path[] = "/tmp/connect-flow-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text =
      absl::StrCat("# mxbank\nLOGIN=from-file\n", kPasswordGuid, "=", kPassword, "\n");
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  args_.credentials_file = path;
  args_.credentials = {"login=from-flag"};
  terminal_.can_prompt = false;
  ON_CALL(api_, WatchMemberStatus)
      .WillByDefault(Streams(
          {Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk) << terminal_.screen;
  unlink(path);
  EXPECT_THAT(SentCredentials(),
              ElementsAre(absl::StrCat(kUsernameGuid, "=from-flag"),
                          absl::StrCat(kPasswordGuid, "=", kPassword)));
}

TEST_F(ConnectFlow, UnreadableFileIsAUsageError) {
  args_.credentials_file = "/nonexistent/creds";
  EXPECT_CALL(api_, CreateMember).Times(0);
  EXPECT_EQ(Run(), kExitUsage);
  EXPECT_EQ(terminal_.errors,
            UsageErrorText("--credentials_file: cannot read \"/nonexistent/creds\""));
}

TEST_F(ConnectFlow, MissingValueWithoutTerminalIsAUsageErrorNamingTheFieldOnly) {
  terminal_.can_prompt = false;
  args_.credentials = {absl::StrCat("LOGIN=", kPassword)};
  EXPECT_CALL(api_, CreateMember).Times(0);
  EXPECT_EQ(Run(), kExitUsage);
  EXPECT_EQ(terminal_.errors,
            UsageErrorText("no value for PASSWORD (\"Password\") and no terminal to ask "
                           "on: give --credential=FIELD=VALUE or --credentials-file"));
  EXPECT_THAT(terminal_.asked, IsEmpty());
  EXPECT_THAT(terminal_.screen, Not(HasSubstr(kPassword)));
}

TEST_F(ConnectFlow, InputEndingAtAPromptIsAUsageError) {
  terminal_.typed = {"mxuser"};
  EXPECT_CALL(api_, CreateMember).Times(0);
  EXPECT_EQ(Run(), kExitUsage);
  EXPECT_EQ(terminal_.errors,
            UsageErrorText("no value for PASSWORD (\"Password\"): the input ended"));
}

TEST_F(ConnectFlow, AsksAgainForAnEmptyValue) {
  terminal_.typed = {"", "mxuser", kPassword};
  ON_CALL(api_, WatchMemberStatus)
      .WillByDefault(Streams(
          {Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk);
  ASSERT_THAT(terminal_.asked, SizeIs(3));
  EXPECT_EQ(terminal_.asked[1].text, "Username (required): ");
}

TEST_F(ConnectFlow, UnknownFieldAndBadFlagsAreUsageErrorsBeforeAnyCall) {
  struct Case {
    ConnectArgs args;
    std::string problem;
  };
  ConnectArgs unknown_field = args_;
  unknown_field.credentials = {"PIN=1234"};
  ConnectArgs no_equals = args_;
  no_equals.credentials = {"LOGIN=mxuser", kPassword};
  ConnectArgs bad_product = args_;
  bad_product.products = {"bogus"};
  ConnectArgs no_user = args_;
  no_user.user.clear();
  ConnectArgs oauth_with_credentials = args_;
  oauth_with_credentials.oauth = true;
  oauth_with_credentials.credentials = {"LOGIN=x"};
  for (const Case& c : std::vector<Case>{
           {unknown_field,
            "--credential #1: mxbank has no credential field \"PIN\" (its fields: LOGIN, "
            "PASSWORD)"},
           {no_equals,
            "--credential #2: expected FIELD=VALUE (FIELD a guid or a field_name such as "
            "PASSWORD)"},
           {bad_product,
            "--product: unknown product \"bogus\" (account_verification, "
            "identity_verification, transactions, transaction_history, statements, "
            "investments, rewards)"},
           {no_user, "connect needs --user"},
           {oauth_with_credentials,
            "--oauth takes no credentials: the person signs in at the institution"}}) {
    ScriptedTerminal terminal;
    ::testing::NiceMock<MockMemberApi> api;
    ON_CALL(api, ListInstitutionCredentials)
        .WillByDefault([](auto&, v1::ListInstitutionCredentialsResponse* response, auto) {
          *response = MxBankFields();
          return grpc::Status::OK;
        });
    EXPECT_CALL(api, CreateMember).Times(0);
    EXPECT_EQ(RunConnect(c.args, api, terminal), kExitUsage);
    EXPECT_EQ(terminal.errors, UsageErrorText(c.problem));
    EXPECT_THAT(terminal.errors, Not(HasSubstr(kPassword)));
  }
}

TEST_F(ConnectFlow, InstitutionWithoutFieldsNeedsOauth) {
  ON_CALL(api_, ListInstitutionCredentials).WillByDefault(Return(grpc::Status::OK));
  EXPECT_CALL(api_, CreateMember).Times(0);
  EXPECT_EQ(Run(), kExitUsage);
  EXPECT_EQ(terminal_.errors,
            UsageErrorText("mxbank asks for no credentials: connect it with --oauth"));
}

TEST_F(ConnectFlow, ReadsEveryPageOfFields) {
  terminal_.can_prompt = false;
  args_.credentials = {"LOGIN=a", "PASSWORD=b"};
  v1::ListInstitutionCredentialsResponse first = MxBankFields();
  first.mutable_credentials()->RemoveLast();  // LOGIN comes on page 2
  first.mutable_pagination()->set_total_pages(2);
  v1::ListInstitutionCredentialsResponse second = MxBankFields();
  second.mutable_credentials()->DeleteSubrange(0, 1);
  second.mutable_pagination()->set_total_pages(2);
  EXPECT_CALL(api_, ListInstitutionCredentials(
                        Property(&v1::ListInstitutionCredentialsRequest::page, 1), _, _))
      .WillOnce(DoAll(::testing::SetArgPointee<1>(first), Return(grpc::Status::OK)));
  EXPECT_CALL(api_, ListInstitutionCredentials(
                        Property(&v1::ListInstitutionCredentialsRequest::page, 2), _, _))
      .WillOnce(DoAll(::testing::SetArgPointee<1>(second), Return(grpc::Status::OK)));
  ON_CALL(api_, WatchMemberStatus)
      .WillByDefault(Streams(
          {Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk) << terminal_.screen;
  EXPECT_THAT(SentCredentials(), ElementsAre(absl::StrCat(kUsernameGuid, "=a"),
                                             absl::StrCat(kPasswordGuid, "=b")));
}

TEST_F(ConnectFlow, OauthPrintsTheUrlToOpenAndSendsNoCredentials) {
  args_.institution = "mx_bank_oauth";
  args_.oauth = true;
  EXPECT_CALL(api_, ListInstitutionCredentials).Times(0);
  EXPECT_CALL(api_, CreateMember)
      .WillOnce([this](const v1::CreateMemberRequest& request,
                       v1::CreateMemberResponse* response, auto) {
        create_request_ = request;
        *response = Created("oauth_window_uri: 'https://mx.example/oauth/MBR-1'");
        response->mutable_member()->set_connection_status(v1::CONNECTION_STATUS_PENDING);
        response->mutable_member()->set_name("MX Bank (OAuth)");
        return grpc::Status::OK;
      });
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_PENDING, v1::WATCH_END_REASON_UNSPECIFIED),
           Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk) << terminal_.screen;
  EXPECT_TRUE(create_request_.member().is_oauth());
  EXPECT_THAT(create_request_.member().credentials(), IsEmpty());
  ASSERT_GE(terminal_.lines.size(), 4u);
  EXPECT_EQ(terminal_.lines[1],
            "Open this URL in a browser to sign in to MX Bank (OAuth) and allow access:");
  EXPECT_EQ(terminal_.lines[2], "https://mx.example/oauth/MBR-1");
  EXPECT_THAT(terminal_.lines[3], StartsWith("PENDING  "));
}

TEST_F(ConnectFlow, MenuChallengeIsAskedByNumberUntilOneFitsThenResumed) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=options"};
  terminal_.typed = {"7", "two", "2"};
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams({Message(v1::CONNECTION_STATUS_CHALLENGED,
                                 v1::WATCH_END_REASON_CHALLENGED, kOptionsChallenge)}))
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_RESUMED, v1::WATCH_END_REASON_UNSPECIFIED),
           Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk) << terminal_.screen;
  ASSERT_THAT(terminal_.asked, SizeIs(3));
  EXPECT_EQ(terminal_.asked[0].text,
            "Where should we send your code?\n  1) Text\n  2) Email\nChoose 1-2: ");
  EXPECT_FALSE(terminal_.asked[0].hidden);
  EXPECT_EQ(terminal_.asked[1].text, "Type a number from 1 to 2: ");
  ASSERT_THAT(resume_requests_, SizeIs(1));
  EXPECT_EQ(resume_requests_[0].user_identifier(), kUserGuid);
  EXPECT_EQ(resume_requests_[0].member_identifier(), kMemberGuid);
  ASSERT_THAT(resume_requests_[0].challenges(), SizeIs(1));
  EXPECT_EQ(resume_requests_[0].challenges(0).guid(), "CRD-opt");
  EXPECT_EQ(resume_requests_[0].challenges(0).value(), "v-email");
  // RESUMED from the resume's answer, not again from the watch.
  EXPECT_THAT(terminal_.lines,
              ElementsAre("Created member MBR-1 at MX Bank.", StartsWith("CREATED  "),
                          StartsWith("CHALLENGED  "), StartsWith("RESUMED  "),
                          StartsWith("CONNECTED  "),
                          "Connected: member MBR-1 at MX Bank is CONNECTED."));
}

TEST_F(ConnectFlow, ImageChallengeSaysWhatWasSentAndTakesTheTypedAnswer) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=image"};
  terminal_.typed = {"", kAnswer};
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_CHALLENGED, v1::WATCH_END_REASON_CHALLENGED,
                   absl::StrCat("challenges { guid: 'CRD-img' label: 'What is shown?' "
                                "type: CHALLENGE_TYPE_IMAGE_DATA image_data: '",
                                kPngDataUri, "' }"))}))
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk) << terminal_.screen;
  ASSERT_THAT(terminal_.asked, SizeIs(2));
  EXPECT_EQ(terminal_.asked[0].text,
            "What is shown?\n(An image came with the question: image/png, 70 bytes; it "
            "cannot be shown here.)\nAnswer: ");
  EXPECT_EQ(terminal_.asked[1].text, "An answer is required: ");
  ASSERT_THAT(resume_requests_, SizeIs(1));
  EXPECT_EQ(resume_requests_[0].challenges(0).value(), kAnswer);
  EXPECT_THAT(terminal_.lines, Not(::testing::Contains(HasSubstr(kAnswer))));
}

TEST_F(ConnectFlow, AnswersFlagsInOrderAcrossRoundsWithoutAsking) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=challenge"};
  args_.answers = {kAnswer, "2"};
  terminal_.can_prompt = false;
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams({Message(v1::CONNECTION_STATUS_CHALLENGED,
                                 v1::WATCH_END_REASON_CHALLENGED, kTextChallenge)}))
      .WillOnce(Streams({Message(v1::CONNECTION_STATUS_CHALLENGED,
                                 v1::WATCH_END_REASON_CHALLENGED, kOptionsChallenge)}))
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_EQ(Run(), kExitOk) << terminal_.screen;
  EXPECT_THAT(terminal_.asked, IsEmpty());
  ASSERT_THAT(resume_requests_, SizeIs(2));
  EXPECT_EQ(resume_requests_[0].challenges(0).value(), kAnswer);
  EXPECT_EQ(resume_requests_[1].challenges(0).value(), "v-email");
  EXPECT_THAT(terminal_.lines,
              ::testing::Contains("MFA question: First pet? (answered by --answer #1)"));
  EXPECT_THAT(terminal_.screen, Not(HasSubstr(kAnswer)));
}

TEST_F(ConnectFlow, AnswerFittingNoChoiceIsAUsageErrorNotSent) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=options"};
  args_.answers = {kAnswer};
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams({Message(v1::CONNECTION_STATUS_CHALLENGED,
                                 v1::WATCH_END_REASON_CHALLENGED, kOptionsChallenge)}));
  EXPECT_CALL(api_, ResumeMember).Times(0);
  EXPECT_EQ(Run(), kExitUsage);
  EXPECT_EQ(terminal_.errors,
            UsageErrorText("--answer #1 is neither a number from 1 to 2 nor the value of "
                           "a choice of \"Where should we send your code?\""));
}

// The last line printed for a challenge that cannot be answered here.
constexpr char kAnswerWithResume[] =
    "Answer with: mxgate-cli resume --user=USR-1 --member=MBR-1 --answer=GUID=VALUE...";

TEST_F(ConnectFlow, ChallengeWithNoAnswerToBeHadExits3SayingHowToResume) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=options"};
  terminal_.can_prompt = false;
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams({Message(v1::CONNECTION_STATUS_CHALLENGED,
                                 v1::WATCH_END_REASON_CHALLENGED, kOptionsChallenge)}));
  EXPECT_CALL(api_, ResumeMember).Times(0);
  EXPECT_EQ(Run(), kExitChallenged);
  EXPECT_THAT(
      terminal_.lines,
      ::testing::IsSupersetOf({"Member MBR-1 waits for answers to its MFA questions:",
                               "  CRD-opt  Where should we send your code?",
                               "      value v-text: Text", "      value v-email: Email",
                               kAnswerWithResume}));
}

TEST_F(ConnectFlow, ChallengesMissingFromTheWatchAreRead) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=challenge"};
  args_.answers = {"x"};
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_CHALLENGED, v1::WATCH_END_REASON_CHALLENGED)}))
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_CONNECTED, v1::WATCH_END_REASON_CONNECTED)}));
  EXPECT_CALL(api_, GetMemberStatus)
      .WillOnce([](auto&, v1::GetMemberStatusResponse* response, auto) {
        *response->mutable_status() = Parse<v1::MemberStatus>(kTextChallenge);
        return grpc::Status::OK;
      });
  EXPECT_EQ(Run(), kExitOk);
  ASSERT_THAT(resume_requests_, SizeIs(1));
  EXPECT_EQ(resume_requests_[0].challenges(0).guid(), "CRD-text");
}

TEST_F(ConnectFlow, EndStatePrintsTheStatusAndMxsMessageAndExits4) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=BAD_REQUEST"};
  EXPECT_CALL(api_, WatchMemberStatus)
      .WillOnce(Streams(
          {Message(v1::CONNECTION_STATUS_FAILED, v1::WATCH_END_REASON_END_STATE)}));
  EXPECT_CALL(api_, GetMember)
      .WillOnce([](const v1::GetMemberRequest& request, v1::GetMemberResponse* response,
                   auto) {
        EXPECT_EQ(request.member_identifier(), kMemberGuid);
        response->mutable_member()->set_connection_status_message("Fill out the fields.");
        return grpc::Status::OK;
      });
  EXPECT_EQ(Run(), kExitEndState);
  EXPECT_EQ(terminal_.lines.back(),
            "Not connected: member MBR-1 at MX Bank is FAILED: Fill out the fields.");
}

TEST_F(ConnectFlow, ErrorsOfCallsArePrintedAsJsonWithExit1) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=x"};
  ON_CALL(api_, WatchMemberStatus)
      .WillByDefault(Streams(
          {Message(v1::CONNECTION_STATUS_CREATED, v1::WATCH_END_REASON_UNSPECIFIED)},
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "MX is down")));
  EXPECT_EQ(Run(), kExitRpcError);
  EXPECT_EQ(terminal_.errors,
            "{\n \"code\": \"UNAVAILABLE\",\n \"message\": \"MX is down\"\n}\n");

  ScriptedTerminal terminal;
  ::testing::NiceMock<MockMemberApi> api;
  ON_CALL(api, ListInstitutionCredentials)
      .WillByDefault(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such bank")));
  EXPECT_EQ(RunConnect(args_, api, terminal), kExitRpcError);
  EXPECT_THAT(terminal.errors, HasSubstr("\"NOT_FOUND\""));
}

TEST_F(ConnectFlow, StreamEndingWithoutAFinalMessageIsAnError) {
  args_.credentials = {"LOGIN=mxuser", "PASSWORD=x"};
  ON_CALL(api_, WatchMemberStatus)
      .WillByDefault(Streams(
          {Message(v1::CONNECTION_STATUS_CREATED, v1::WATCH_END_REASON_UNSPECIFIED)}));
  EXPECT_EQ(Run(), kExitRpcError);
  EXPECT_THAT(terminal_.errors, HasSubstr("the watch ended without saying why"));
}

// ---------------------------------------------------------------------------
// The pure parts.

v1::CredentialField FieldOf(const std::string& guid, const std::string& name, int order,
                            const std::string& type = "TEXT") {
  v1::CredentialField field;
  field.set_guid(guid);
  field.set_field_name(name);
  field.set_label(name);
  field.set_display_order(order);
  field.set_field_type(type);
  return field;
}

TEST(InDisplayOrder, SortsByDisplayOrderKeepingMxsOrderForTies) {
  const std::vector<v1::CredentialField> sorted =
      InDisplayOrder({FieldOf("c", "C", 2), FieldOf("a", "A", 1), FieldOf("b", "B", 1),
                      FieldOf("z", "Z", 0)});
  std::vector<std::string> guids;
  guids.reserve(sorted.size());
  for (const auto& field : sorted) guids.push_back(field.guid());
  EXPECT_THAT(guids, ElementsAre("z", "a", "b", "c"));
}

TEST(IsSecretField, IsPasswordByFieldTypeOrTypeInAnyCase) {
  EXPECT_TRUE(IsSecretField(FieldOf("g", "PASSWORD", 0, "PASSWORD")));
  EXPECT_TRUE(IsSecretField(FieldOf("g", "PIN", 0, "password")));
  v1::CredentialField by_type = FieldOf("g", "PIN", 0, "TEXT");
  by_type.set_type("PASSWORD");
  EXPECT_TRUE(IsSecretField(by_type));
  EXPECT_FALSE(IsSecretField(FieldOf("g", "PASSWORD", 0, "TEXT")));  // the name is not it
  EXPECT_FALSE(IsSecretField(FieldOf("g", "LOGIN", 0, "")));
}

TEST(ParseCredentialFlags, SplitsAtTheFirstEquals) {
  const auto entries = ParseCredentialFlags({"LOGIN=a=b", "CRD-1="});
  ASSERT_TRUE(entries.ok());
  ASSERT_THAT(*entries, SizeIs(2));
  EXPECT_EQ((*entries)[0].field, "LOGIN");
  EXPECT_EQ((*entries)[0].value, "a=b");
  EXPECT_EQ((*entries)[0].source, "--credential #1");
  EXPECT_EQ((*entries)[1].field, "CRD-1");
  EXPECT_EQ((*entries)[1].value, "");
}

TEST(ParseCredentialFlags, NamesThePositionNotTheValueWithoutEquals) {
  const auto entries = ParseCredentialFlags({"LOGIN=a", kPassword});
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(entries.status().message());
  EXPECT_THAT(message, StartsWith("--credential #2: expected FIELD=VALUE"));
  EXPECT_THAT(message, Not(HasSubstr(kPassword)));
}

TEST(ParseCredentialsFile, ReadsLinesSkippingBlanksAndComments) {
  const auto entries = ParseCredentialsFile(
      "creds",
      "# a comment\n\n  LOGIN = mxuser\r\nPASSWORD= two words=#\n   \n  # more\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_THAT(*entries, SizeIs(2));
  EXPECT_EQ((*entries)[0].field, "LOGIN");
  EXPECT_EQ((*entries)[0].value, " mxuser");  // values are kept as written
  EXPECT_EQ((*entries)[0].source, "creds line 3");
  EXPECT_EQ((*entries)[1].field, "PASSWORD");
  EXPECT_EQ((*entries)[1].value, " two words=#");
  EXPECT_EQ((*entries)[1].source, "creds line 4");
}

TEST(ParseCredentialsFile, NamesTheLineNotItsText) {
  const auto entries =
      ParseCredentialsFile("creds", absl::StrCat("LOGIN=a\n", kPassword));
  EXPECT_EQ(entries.status(),
            absl::InvalidArgumentError(
                "--credentials_file creds line 2: expected FIELD=VALUE"));
}

std::vector<v1::CredentialField> Fields() {
  return {FieldOf("CRD-1", "LOGIN", 0), FieldOf("CRD-2", "PASSWORD", 1, "PASSWORD")};
}

std::vector<std::pair<std::string, absl::optional<std::string>>> Values(
    const absl::StatusOr<std::vector<FieldValue>>& matched) {
  std::vector<std::pair<std::string, absl::optional<std::string>>> values;
  if (!matched.ok()) return values;
  for (const FieldValue& field : *matched)
    values.emplace_back(field.field.guid(), field.value);
  return values;
}

TEST(MatchCredentials, MatchesByGuidOrFieldNameInAnyCase) {
  EXPECT_THAT(Values(MatchCredentials(
                  Fields(), {{"CRD-2", "p", "f1"}, {"login", "u", "f2"}}, {}, "mxbank")),
              ElementsAre(Pair("CRD-1", Optional(std::string("u"))),
                          Pair("CRD-2", Optional(std::string("p")))));
}

TEST(MatchCredentials, LeavesFieldsWithoutValueEmptyInDisplayOrder) {
  EXPECT_THAT(Values(MatchCredentials(Fields(), {}, {{"PASSWORD", "p", "f"}}, "mxbank")),
              ElementsAre(Pair("CRD-1", absl::nullopt),
                          Pair("CRD-2", Optional(std::string("p")))));
}

TEST(MatchCredentials, FlagsWinOverTheFile) {
  EXPECT_THAT(Values(MatchCredentials(Fields(), {{"LOGIN", "flag", "f"}},
                                      {{"CRD-1", "file", "g"}, {"PASSWORD", "p", "g"}},
                                      "mxbank")),
              ElementsAre(Pair("CRD-1", Optional(std::string("flag"))),
                          Pair("CRD-2", Optional(std::string("p")))));
}

TEST(MatchCredentials, RefusesUnknownFieldsAndFieldsGivenTwiceInOneSource) {
  EXPECT_EQ(MatchCredentials(Fields(), {{"PIN", "1", "--credential #1"}}, {}, "mxbank")
                .status(),
            absl::InvalidArgumentError("--credential #1: mxbank has no credential field "
                                       "\"PIN\" (its fields: LOGIN, PASSWORD)"));
  EXPECT_EQ(
      MatchCredentials(Fields(), {},
                       {{"LOGIN", "a", "f line 1"}, {"CRD-1", "b", "f line 2"}}, "mxbank")
          .status(),
      absl::InvalidArgumentError("f line 2: the field LOGIN is given twice"));
}

v1::Challenge OptionsChallenge() {
  return Parse<v1::MemberStatus>(kOptionsChallenge).challenges(0);
}

TEST(IsMenu, IsOptionsOrImageOptionsWithChoices) {
  EXPECT_TRUE(IsMenu(OptionsChallenge()));
  v1::Challenge image_options = Parse<v1::Challenge>(
      "type: CHALLENGE_TYPE_IMAGE_OPTIONS image_options { label: 'a' value: 'x' }");
  EXPECT_TRUE(IsMenu(image_options));
  EXPECT_FALSE(IsMenu(Parse<v1::Challenge>("type: CHALLENGE_TYPE_OPTIONS")));
  EXPECT_FALSE(IsMenu(Parse<v1::MemberStatus>(kTextChallenge).challenges(0)));
}

TEST(ChooseOption, TakesANumberFromOneOrAValue) {
  const v1::Challenge challenge = OptionsChallenge();
  EXPECT_THAT(ChooseOption(challenge, "1"), Optional(std::string("v-text")));
  EXPECT_THAT(ChooseOption(challenge, " 2 "), Optional(std::string("v-email")));
  EXPECT_THAT(ChooseOption(challenge, "v-email"), Optional(std::string("v-email")));
  for (const char* typed : {"0", "3", "-1", "", "Email", "1.0"}) {
    EXPECT_EQ(ChooseOption(challenge, typed), absl::nullopt) << typed;
  }
}

TEST(ChooseOption, PrefersAValueThatLooksLikeANumber) {
  const v1::Challenge challenge = Parse<v1::Challenge>(
      "type: CHALLENGE_TYPE_OPTIONS options { label: 'a' value: '2' } "
      "options { label: 'b' value: '1' }");
  EXPECT_THAT(ChooseOption(challenge, "2"), Optional(std::string("2")));
}

TEST(ChooseOption, UsesImageOptionsForImageOptions) {
  const v1::Challenge challenge = Parse<v1::Challenge>(
      "type: CHALLENGE_TYPE_IMAGE_OPTIONS image_options { label: 'cat' value: 'v-cat' "
      "data_uri: 'data:image/gif;base64,R0lGODlh' }");
  EXPECT_THAT(ChooseOption(challenge, "1"), Optional(std::string("v-cat")));
  EXPECT_EQ(ChallengePrompt(challenge),
            "\n  1) cat [image: image/gif, 6 bytes]\nChoose 1-1: ");
}

TEST(DescribeImage, SaysTypeAndSize) {
  EXPECT_EQ(DescribeImage(kPngDataUri), "image/png, 70 bytes");
  // Bare base64: the type comes from the data's signature.
  EXPECT_EQ(DescribeImage(absl::string_view(kPngDataUri).substr(22)),
            "image/png, 70 bytes");
  EXPECT_EQ(DescribeImage("aGVsbG8="), "5 bytes");
  EXPECT_EQ(DescribeImage("data:image/svg+xml,<svg/>"), "image/svg+xml, 6 bytes");
  EXPECT_EQ(DescribeImage("not an image!"), "13 characters");
  EXPECT_EQ(DescribeImage("data:nocomma"), "12 characters");
}

TEST(ChallengePrompt, ShowsTheLabelThenWhereToAnswer) {
  EXPECT_EQ(ChallengePrompt(Parse<v1::MemberStatus>(kTextChallenge).challenges(0)),
            "First pet?\nAnswer: ");
  EXPECT_EQ(ChallengePrompt(OptionsChallenge()),
            "Where should we send your code?\n  1) Text\n  2) Email\nChoose 1-2: ");
}

TEST(StatusName, DropsThePrefixOrGivesMxsRawValue) {
  EXPECT_EQ(StatusName(v1::CONNECTION_STATUS_CONNECTED, ""), "CONNECTED");
  EXPECT_EQ(StatusName(v1::CONNECTION_STATUS_UNSPECIFIED, "SUSPENDED"), "SUSPENDED");
  EXPECT_EQ(StatusName(v1::CONNECTION_STATUS_UNSPECIFIED, ""), "UNSPECIFIED");
}

TEST(ProgressText, ShowsStatusSecondsAndSpinner) {
  EXPECT_EQ(ProgressText("CREATED", absl::Milliseconds(1234), 0), "CREATED  1.2s  |");
  EXPECT_EQ(ProgressText("CREATED", absl::Milliseconds(1234), 5), "CREATED  1.2s  /");
  EXPECT_EQ(ProgressText("CONNECTED", absl::Seconds(61), -1), "CONNECTED  61.0s");
}

}  // namespace
}  // namespace mxgate
