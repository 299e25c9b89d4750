#include "client/cli_args.h"

#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// mxgate-cli's repeatable flags.
const std::set<std::string>& Repeatable() {
  static const auto* const kRepeatable =
      new std::set<std::string>{"credential", "product", "use_case", "answer"};
  return *kRepeatable;
}

// ScanArgs over `args` as argv (argv[0] first).
ScannedArgs Scan(std::vector<std::string> args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return ScanArgs(static_cast<int>(args.size()), argv.data(), Repeatable());
}

// ---------------------------------------------------------------------------
// ScanArgs

TEST(ScanArgs, KeepsArgv0AsWritten) {
  const ScannedArgs scanned = Scan({"/usr/bin/mxgate-cli"});
  EXPECT_THAT(scanned.args, ElementsAre("/usr/bin/mxgate-cli"));
  EXPECT_THAT(scanned.repeated, IsEmpty());
  EXPECT_THAT(scanned.given, IsEmpty());
}

TEST(ScanArgs, EmptyArgvGivesNothing) {
  const ScannedArgs scanned = ScanArgs(0, nullptr, Repeatable());
  EXPECT_THAT(scanned.args, IsEmpty());
  EXPECT_THAT(scanned.repeated, IsEmpty());
  EXPECT_THAT(scanned.given, IsEmpty());
}

TEST(ScanArgs, SpellsFlagNamesWithUnderscoresButLeavesValuesAlone) {
  const ScannedArgs scanned =
      Scan({"mxgate-cli", "--member-id=cli-1-a", "--client-redirect-url",
            "https://app.example/done-here", "--ui_message_webview_url_scheme=my-app"});
  EXPECT_THAT(scanned.args,
              ElementsAre("mxgate-cli", "--member_id=cli-1-a", "--client_redirect_url",
                          "https://app.example/done-here",
                          "--ui_message_webview_url_scheme=my-app"));
  EXPECT_THAT(scanned.given, UnorderedElementsAre("member_id", "client_redirect_url",
                                                  "ui_message_webview_url_scheme"));
}

TEST(ScanArgs, KeepsEveryValueOfRepeatableFlagsInOrderAndOutOfArgs) {
  const ScannedArgs scanned =
      Scan({"mxgate-cli", "--credential=CRD-1=mxuser", "--user=u", "--credential",
            "CRD-2=a=b", "--product=transactions", "--use-case", "PFM", "--product",
            "PRODUCT_REWARDS", "--use_case=money_movement", "--credential=CRD-3="});
  EXPECT_THAT(scanned.args, ElementsAre("mxgate-cli", "--user=u"));
  EXPECT_THAT(
      scanned.repeated,
      ElementsAre(Pair("credential", ElementsAre("CRD-1=mxuser", "CRD-2=a=b", "CRD-3=")),
                  Pair("product", ElementsAre("transactions", "PRODUCT_REWARDS")),
                  Pair("use_case", ElementsAre("PFM", "money_movement"))));
  EXPECT_THAT(scanned.given,
              UnorderedElementsAre("credential", "product", "use_case", "user"));
}

TEST(ScanArgs, TakesTheNextArgumentAsTheValueEvenIfItLooksLikeAFlag) {
  // `--credential VALUE` always consumes VALUE, as absl does for
  // `--string_flag VALUE`.
  const ScannedArgs scanned = Scan({"mxgate-cli", "--credential", "--x=1"});
  EXPECT_THAT(scanned.args, ElementsAre("mxgate-cli"));
  EXPECT_THAT(scanned.repeated, ElementsAre(Pair("credential", ElementsAre("--x=1"))));
}

TEST(ScanArgs, RecordsBooleanFlagsAsGivenInEveryForm) {
  const ScannedArgs scanned =
      Scan({"mxgate-cli", "--oauth", "--skip-aggregation=false",
            "--nobackground-aggregation-is-disabled", "--enable_app2app=true"});
  EXPECT_THAT(
      scanned.args,
      ElementsAre("mxgate-cli", "--oauth", "--skip_aggregation=false",
                  "--nobackground_aggregation_is_disabled", "--enable_app2app=true"));
  EXPECT_EQ(scanned.given.count("oauth"), 1u);
  EXPECT_EQ(scanned.given.count("skip_aggregation"), 1u);
  // `--noflag` counts as the flag given (false).
  EXPECT_EQ(scanned.given.count("background_aggregation_is_disabled"), 1u);
  EXPECT_EQ(scanned.given.count("enable_app2app"), 1u);
}

TEST(ScanArgs, FlagsNotGivenAreNotInGiven) {
  const ScannedArgs scanned = Scan({"mxgate-cli", "create-member", "--user=u"});
  EXPECT_EQ(scanned.given.count("oauth"), 0u);
  EXPECT_EQ(scanned.given.count("create-member"), 0u);
  EXPECT_THAT(scanned.given, UnorderedElementsAre("user"));
}

TEST(ScanArgs, KeepsPositionalArgumentsAndDoubleDashInPlace) {
  const ScannedArgs scanned =
      Scan({"mxgate-cli", "create-member", "--user=u", "-v", "--", "extra-arg"});
  EXPECT_THAT(scanned.args, ElementsAre("mxgate-cli", "create-member", "--user=u", "-v",
                                        "--", "extra-arg"));
  EXPECT_THAT(scanned.given, UnorderedElementsAre("user"));
}

// ---------------------------------------------------------------------------
// BuildCreateMemberRequest

v1::CreateMemberRequest ParseRequest(const std::string& text) {
  v1::CreateMemberRequest request;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &request)) << text;
  return request;
}

CreateMemberArgs MxBankArgs() {
  CreateMemberArgs args;
  args.user = "demo-user";
  args.institution = "mxbank";
  args.credentials = {"CRD-username=mxuser", "CRD-password=s3cret-pw"};
  return args;
}

TEST(BuildCreateMemberRequest, MapsEveryField) {
  CreateMemberArgs args;
  args.user = "demo-user";
  args.institution = "mxbank";
  args.credentials = {"CRD-username=mxuser", "CRD-password=a=b", "CRD-empty="};
  args.products = {"transactions", "PRODUCT_ACCOUNT_VERIFICATION"};
  args.use_cases = {"PFM", "USE_CASE_MONEY_MOVEMENT"};
  args.member_id = "cli-1";
  args.metadata = R"({"k":"v"})";
  args.callback_payload = "aGVsbG8=";
  args.accept_version = "v20250224";
  args.client_redirect_url = "https://app.example/done";
  args.referral_source = "APP";
  args.ui_message_webview_url_scheme = "myapp";
  args.request_id = "req-1";
  args.oauth = true;
  args.skip_aggregation = true;
  args.background_aggregation_is_disabled = true;
  args.enable_app2app = false;

  const absl::StatusOr<v1::CreateMemberRequest> request = BuildCreateMemberRequest(args);
  ASSERT_TRUE(request.ok()) << request.status();
  const v1::CreateMemberRequest expected = ParseRequest(R"pb(
    user_identifier: "demo-user"
    accept_version: "v20250224"
    callback_payload: "aGVsbG8="
    member {
      institution_code: "mxbank"
      credentials { guid: "CRD-username" value: "mxuser" }
      credentials { guid: "CRD-password" value: "a=b" }
      credentials { guid: "CRD-empty" value: "" }
      id: "cli-1"
      is_oauth: true
      metadata: "{\"k\":\"v\"}"
      skip_aggregation: true
      background_aggregation_is_disabled: true
      use_cases: USE_CASE_PFM
      use_cases: USE_CASE_MONEY_MOVEMENT
    }
    data_request { products: PRODUCT_TRANSACTIONS products: PRODUCT_ACCOUNT_VERIFICATION }
    client_redirect_url: "https://app.example/done"
    enable_app2app: false
    referral_source: REFERRAL_SOURCE_APP
    ui_message_webview_url_scheme: "myapp"
    request_id: "req-1"
  )pb");
  EXPECT_TRUE(MessageDifferencer::Equals(*request, expected))
      << "got:\n"
      << request->DebugString() << "want:\n"
      << expected.DebugString();
}

TEST(BuildCreateMemberRequest, LeavesOutEverythingNotGiven) {
  const absl::StatusOr<v1::CreateMemberRequest> request =
      BuildCreateMemberRequest(MxBankArgs());
  ASSERT_TRUE(request.ok()) << request.status();
  const v1::CreateMemberRequest expected = ParseRequest(R"pb(
    user_identifier: "demo-user"
    member {
      institution_code: "mxbank"
      credentials { guid: "CRD-username" value: "mxuser" }
      credentials { guid: "CRD-password" value: "s3cret-pw" }
    }
  )pb");
  EXPECT_TRUE(MessageDifferencer::Equals(*request, expected)) << "got:\n"
                                                              << request->DebugString();
  // Booleans not given stay unset, so MX's defaults apply.
  EXPECT_FALSE(request->member().has_is_oauth());
  EXPECT_FALSE(request->member().has_skip_aggregation());
  EXPECT_FALSE(request->member().has_background_aggregation_is_disabled());
  EXPECT_FALSE(request->has_enable_app2app());
  EXPECT_FALSE(request->has_data_request());
  EXPECT_EQ(request->referral_source(), v1::REFERRAL_SOURCE_UNSPECIFIED);
}

TEST(BuildCreateMemberRequest, SendsBooleansGivenAsFalse) {
  CreateMemberArgs args = MxBankArgs();
  args.oauth = false;
  args.skip_aggregation = false;
  args.background_aggregation_is_disabled = false;
  args.enable_app2app = false;
  const absl::StatusOr<v1::CreateMemberRequest> request = BuildCreateMemberRequest(args);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_TRUE(request->member().has_is_oauth());
  EXPECT_FALSE(request->member().is_oauth());
  ASSERT_TRUE(request->member().has_skip_aggregation());
  EXPECT_FALSE(request->member().skip_aggregation());
  ASSERT_TRUE(request->member().has_background_aggregation_is_disabled());
  EXPECT_FALSE(request->member().background_aggregation_is_disabled());
  ASSERT_TRUE(request->has_enable_app2app());
  EXPECT_FALSE(request->enable_app2app());
}

// One accepted spelling of an enum flag and the value it gives.
struct EnumSpelling {
  std::string name;
  int value;
};

void PrintTo(const EnumSpelling& spelling, std::ostream* out) {
  *out << '"' << spelling.name << '"';
}

class ProductSpelling : public ::testing::TestWithParam<EnumSpelling> {};

TEST_P(ProductSpelling, IsAccepted) {
  CreateMemberArgs args = MxBankArgs();
  args.products = {GetParam().name};
  const absl::StatusOr<v1::CreateMemberRequest> request = BuildCreateMemberRequest(args);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_THAT(request->data_request().products(), ElementsAre(GetParam().value));
}

INSTANTIATE_TEST_SUITE_P(
    MxAndEnumForms, ProductSpelling,
    ::testing::Values(
        EnumSpelling{"account_verification", v1::PRODUCT_ACCOUNT_VERIFICATION},
        EnumSpelling{"identity_verification", v1::PRODUCT_IDENTITY_VERIFICATION},
        EnumSpelling{"transactions", v1::PRODUCT_TRANSACTIONS},
        EnumSpelling{"transaction_history", v1::PRODUCT_TRANSACTION_HISTORY},
        EnumSpelling{"statements", v1::PRODUCT_STATEMENTS},
        EnumSpelling{"investments", v1::PRODUCT_INVESTMENTS},
        EnumSpelling{"rewards", v1::PRODUCT_REWARDS},
        EnumSpelling{"PRODUCT_TRANSACTIONS", v1::PRODUCT_TRANSACTIONS},
        EnumSpelling{"PRODUCT_ACCOUNT_VERIFICATION", v1::PRODUCT_ACCOUNT_VERIFICATION},
        EnumSpelling{"Transactions", v1::PRODUCT_TRANSACTIONS},
        EnumSpelling{"TRANSACTION_HISTORY", v1::PRODUCT_TRANSACTION_HISTORY},
        EnumSpelling{"product_rewards", v1::PRODUCT_REWARDS}));

TEST(BuildCreateMemberRequest, KeepsProductsInOrderWithRepeats) {
  CreateMemberArgs args = MxBankArgs();
  args.products = {"statements", "PRODUCT_TRANSACTIONS", "statements"};
  const absl::StatusOr<v1::CreateMemberRequest> request = BuildCreateMemberRequest(args);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_THAT(request->data_request().products(),
              ElementsAre(v1::PRODUCT_STATEMENTS, v1::PRODUCT_TRANSACTIONS,
                          v1::PRODUCT_STATEMENTS));
}

class UseCaseSpelling : public ::testing::TestWithParam<EnumSpelling> {};

TEST_P(UseCaseSpelling, IsAccepted) {
  CreateMemberArgs args = MxBankArgs();
  args.use_cases = {GetParam().name};
  const absl::StatusOr<v1::CreateMemberRequest> request = BuildCreateMemberRequest(args);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_THAT(request->member().use_cases(), ElementsAre(GetParam().value));
}

INSTANTIATE_TEST_SUITE_P(
    MxAndEnumForms, UseCaseSpelling,
    ::testing::Values(EnumSpelling{"PFM", v1::USE_CASE_PFM},
                      EnumSpelling{"pfm", v1::USE_CASE_PFM},
                      EnumSpelling{"USE_CASE_PFM", v1::USE_CASE_PFM},
                      EnumSpelling{"MONEY_MOVEMENT", v1::USE_CASE_MONEY_MOVEMENT},
                      EnumSpelling{"money_movement", v1::USE_CASE_MONEY_MOVEMENT},
                      EnumSpelling{"use_case_money_movement",
                                   v1::USE_CASE_MONEY_MOVEMENT}));

class ReferralSourceSpelling : public ::testing::TestWithParam<EnumSpelling> {};

TEST_P(ReferralSourceSpelling, IsAccepted) {
  CreateMemberArgs args = MxBankArgs();
  args.referral_source = GetParam().name;
  const absl::StatusOr<v1::CreateMemberRequest> request = BuildCreateMemberRequest(args);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->referral_source(), GetParam().value);
}

INSTANTIATE_TEST_SUITE_P(
    MxAndEnumForms, ReferralSourceSpelling,
    ::testing::Values(EnumSpelling{"APP", v1::REFERRAL_SOURCE_APP},
                      EnumSpelling{"app", v1::REFERRAL_SOURCE_APP},
                      EnumSpelling{"REFERRAL_SOURCE_APP", v1::REFERRAL_SOURCE_APP},
                      EnumSpelling{"BROWSER", v1::REFERRAL_SOURCE_BROWSER},
                      EnumSpelling{"Browser", v1::REFERRAL_SOURCE_BROWSER},
                      EnumSpelling{"referral_source_browser",
                                   v1::REFERRAL_SOURCE_BROWSER}));

// A change to MxBankArgs() that is refused, and the exact message.
struct Refusal {
  std::string name;
  std::function<void(CreateMemberArgs&)> change;
  std::string message;
};

void PrintTo(const Refusal& refusal, std::ostream* out) { *out << refusal.name; }

constexpr char kCredentialMessage[] =
    "--credential: expected GUID=VALUE (the value may be empty only after the =)";
constexpr char kProductNames[] =
    "(account_verification, identity_verification, transactions, "
    "transaction_history, statements, investments, rewards)";

class RefusesArgs : public ::testing::TestWithParam<Refusal> {};

TEST_P(RefusesArgs, WithInvalidArgumentNamingTheFlag) {
  CreateMemberArgs args = MxBankArgs();
  GetParam().change(args);
  const absl::StatusOr<v1::CreateMemberRequest> request = BuildCreateMemberRequest(args);
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(request.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    BadFlagValues, RefusesArgs,
    ::testing::Values(
        Refusal{"CredentialWithoutEquals",
                [](CreateMemberArgs& a) { a.credentials.emplace_back("CRD-username"); },
                kCredentialMessage},
        Refusal{"EmptyCredential",
                [](CreateMemberArgs& a) { a.credentials.emplace_back(""); },
                kCredentialMessage},
        Refusal{"UnknownProduct", [](CreateMemberArgs& a) { a.products = {"bogus"}; },
                absl::StrCat("--product: unknown product \"bogus\" ", kProductNames)},
        Refusal{
            "UnknownProductAfterAKnownOne",
            [](CreateMemberArgs& a) {
              a.products = {"transactions", "PRODUCT_BOGUS"};
            },
            absl::StrCat("--product: unknown product \"PRODUCT_BOGUS\" ", kProductNames)},
        Refusal{"EmptyProduct", [](CreateMemberArgs& a) { a.products = {""}; },
                absl::StrCat("--product: unknown product \"\" ", kProductNames)},
        Refusal{"ProductUnspecifiedEnumName",
                [](CreateMemberArgs& a) { a.products = {"PRODUCT_UNSPECIFIED"}; },
                absl::StrCat("--product: unknown product \"PRODUCT_UNSPECIFIED\" ",
                             kProductNames)},
        Refusal{
            "ProductUnspecifiedMxName",
            [](CreateMemberArgs& a) { a.products = {"unspecified"}; },
            absl::StrCat("--product: unknown product \"unspecified\" ", kProductNames)},
        Refusal{"UnknownUseCase", [](CreateMemberArgs& a) { a.use_cases = {"savings"}; },
                "--use_case: expected PFM or MONEY_MOVEMENT, got \"savings\""},
        Refusal{
            "UseCaseUnspecified",
            [](CreateMemberArgs& a) { a.use_cases = {"USE_CASE_UNSPECIFIED"}; },
            "--use_case: expected PFM or MONEY_MOVEMENT, got \"USE_CASE_UNSPECIFIED\""},
        Refusal{"UseCaseUnspecifiedMxName",
                [](CreateMemberArgs& a) { a.use_cases = {"unspecified"}; },
                "--use_case: expected PFM or MONEY_MOVEMENT, got \"unspecified\""},
        Refusal{"UnknownReferralSource",
                [](CreateMemberArgs& a) { a.referral_source = "EMAIL"; },
                "--referral_source: expected APP or BROWSER, got \"EMAIL\""},
        Refusal{"ReferralSourceUnspecified",
                [](CreateMemberArgs& a) {
                  a.referral_source = "REFERRAL_SOURCE_UNSPECIFIED";
                },
                "--referral_source: expected APP or BROWSER, got "
                "\"REFERRAL_SOURCE_UNSPECIFIED\""},
        Refusal{"ReferralSourceUnspecifiedMxName",
                [](CreateMemberArgs& a) { a.referral_source = "unspecified"; },
                "--referral_source: expected APP or BROWSER, got \"unspecified\""}),
    [](const ::testing::TestParamInfo<Refusal>& info) { return info.param.name; });

TEST(BuildCreateMemberRequest, NeverPutsACredentialValueInAnError) {
  // A password typed without its guid, and one next to a mistake elsewhere.
  constexpr char kSecret[] = "hunter2-Sup3rSecret";
  CreateMemberArgs without_guid = MxBankArgs();
  without_guid.credentials = {kSecret};
  const absl::Status missing_equals = BuildCreateMemberRequest(without_guid).status();
  EXPECT_EQ(missing_equals.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing_equals.message()), Not(HasSubstr("hunter2")));

  for (const auto& change : std::vector<std::function<void(CreateMemberArgs&)>>{
           [](CreateMemberArgs& a) { a.products = {"bogus"}; },
           [](CreateMemberArgs& a) { a.use_cases = {"bogus"}; },
           [](CreateMemberArgs& a) { a.referral_source = "bogus"; },
           [](CreateMemberArgs& a) { a.credentials.emplace_back("no-equals"); }}) {
    CreateMemberArgs args = MxBankArgs();
    args.credentials.insert(args.credentials.begin(), absl::StrCat("CRD-x=", kSecret));
    change(args);
    const absl::Status status = BuildCreateMemberRequest(args).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("hunter2")));
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("s3cret-pw")));
  }
}

// ---------------------------------------------------------------------------
// BuildResumeMemberRequest

TEST(BuildResumeMemberRequest, AnswersEachGuidWithItsValueInOrder) {
  const absl::StatusOr<v1::ResumeMemberRequest> request = BuildResumeMemberRequest(
      "demo-user", "MBR-1", {"CRD-1=correct", "CRD-2=a=b", "CRD-3="});
  ASSERT_TRUE(request.ok()) << request.status();
  v1::ResumeMemberRequest expected;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    user_identifier: "demo-user"
    member_identifier: "MBR-1"
    challenges { guid: "CRD-1" value: "correct" }
    challenges { guid: "CRD-2" value: "a=b" }
    challenges { guid: "CRD-3" value: "" }
  )pb",
                                                            &expected));
  EXPECT_TRUE(MessageDifferencer::Equals(*request, expected)) << request->DebugString();
}

TEST(BuildResumeMemberRequest, NamesTheAnswerWithoutGuidByPositionNeverItsValue) {
  const absl::Status status =
      BuildResumeMemberRequest("u", "m", {"CRD-1=x", "my-secret-answer"}).status();
  EXPECT_EQ(status,
            absl::InvalidArgumentError(
                "--answer #2: expected GUID=VALUE (the challenge's guid, then the "
                "answer)"));
}

// ---------------------------------------------------------------------------
// CheckFlagsApply, UsageErrorText, ExitCodeForWatchEnd

TEST(CheckFlagsApply, AcceptsTheCommandsOwnFlagsAndNamesOutsideTheTable) {
  EXPECT_TRUE(CheckFlagsApply("get-member", {"user", "member", "target"},
                              {"user", "member", "target", "member_id"},
                              {"user", "member", "target", "help", "nooauth"})
                  .ok());
}

TEST(CheckFlagsApply, RefusesAFlagOfAnotherCommand) {
  EXPECT_EQ(CheckFlagsApply("get-member", {"user", "member"},
                            {"user", "member", "member_id"}, {"user", "member_id"}),
            absl::InvalidArgumentError("--member_id does not apply to get-member"));
}

TEST(UsageErrorText, IsTheProblemThenWhereToLook) {
  EXPECT_EQ(UsageErrorText("connect needs --user"),
            "mxgate-cli: connect needs --user\nRun mxgate-cli --help for the flags.\n");
}

struct EndReasonRow {
  v1::WatchEndReason reason;
  ExitCode code;
};

class ExitCodeForWatchEndRow : public ::testing::TestWithParam<EndReasonRow> {};

TEST_P(ExitCodeForWatchEndRow, IsTheDocumentedCodeForAFinalMessage) {
  v1::WatchMemberStatusResponse last;
  last.set_final(true);
  last.set_end_reason(GetParam().reason);
  EXPECT_EQ(ExitCodeForWatchEnd(last), GetParam().code);
}

TEST(ExitCodeForWatchEnd, IsAnErrorWhenTheLastMessageIsNotFinal) {
  v1::WatchMemberStatusResponse last;
  last.set_end_reason(v1::WATCH_END_REASON_CONNECTED);
  EXPECT_EQ(ExitCodeForWatchEnd(last), kExitRpcError);
}

INSTANTIATE_TEST_SUITE_P(
    EveryReason, ExitCodeForWatchEndRow,
    ::testing::Values(EndReasonRow{v1::WATCH_END_REASON_CONNECTED, kExitOk},
                      EndReasonRow{v1::WATCH_END_REASON_CHALLENGED, kExitChallenged},
                      EndReasonRow{v1::WATCH_END_REASON_END_STATE, kExitEndState},
                      // No reason, or one newer than the CLI: nothing says how
                      // it ended, so it is reported as an error.
                      EndReasonRow{v1::WATCH_END_REASON_UNSPECIFIED, kExitRpcError},
                      EndReasonRow{static_cast<v1::WatchEndReason>(99), kExitRpcError}),
    [](const ::testing::TestParamInfo<EndReasonRow>& info) {
      return absl::StrCat("Reason", static_cast<int>(info.param.reason));
    });

}  // namespace
}  // namespace mxgate
