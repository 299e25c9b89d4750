// The real mxgate-cli binary against the real mxgate and mx-sandbox
// binaries: what it prints on stdout and stderr, and its exit code (0 a
// response, 1 an error from the call, 2 a usage error). Every process
// listens on a loopback port chosen at run time.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "mx/platform/v1/member_service.pb.h"
#include "rapidjson/document.h"
#include "sandbox/mx_sandbox.h"  // the seeded ids and guids only
#include "tests/integration/test_process.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::mxgate::testing::BinPath;
using ::mxgate::testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kClientId[] = "cli-it-client-id";
constexpr char kApiKey[] = "cli-it-api-key-51d0";
constexpr char kPassword[] = "cli-it-password-s3cret";

struct CliResult {
  int exit_code = -1;  // -1: killed after the timeout
  std::string out;
  std::string err;
};

// Runs mxgate-cli with `args` to its end, capturing stdout and stderr.
CliResult RunCli(const std::vector<std::string>& args,
                 absl::Duration timeout = absl::Seconds(20)) {
  std::vector<std::string> argv_strings = {BinPath("mxgate-cli")};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  // Built before fork: the child may only exec.
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int out[2];
  int err[2];
  if (pipe(out) != 0 || pipe(err) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);

  CliResult result;
  std::string* const sinks[] = {&result.out, &result.err};
  pollfd fds[] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  const absl::Time give_up = absl::Now() + timeout;
  int open = 2;
  while (open > 0 && absl::Now() < give_up) {
    if (poll(fds, 2, 100) <= 0) continue;  // poll skips fds set to -1
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (const pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (absl::Now() >= give_up) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return result;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::ostream& operator<<(std::ostream& out, const CliResult& result) {
  return out << "exit " << result.exit_code << "\nstdout:\n"
             << result.out << "\nstderr:\n" << result.err;
}

// stdout of a successful call, read back as the response it prints.
v1::CreateMemberResponse ParseResponse(const std::string& json) {
  v1::CreateMemberResponse response;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &response);
  EXPECT_TRUE(status.ok()) << status << " in:\n" << json;
  return response;
}

// stderr of a failed call; fails the test unless it is one JSON object.
rapidjson::Document ParseError(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str(), json.size());
  EXPECT_TRUE(!document.HasParseError() && document.IsObject()) << json;
  if (document.HasParseError() || !document.IsObject()) document.SetObject();
  return document;
}

// The detail of `document` whose @type ends with `type`, or nullptr.
const rapidjson::Value* FindDetail(const rapidjson::Document& document,
                                   const std::string& type) {
  if (!document.HasMember("details") || !document["details"].IsArray()) return nullptr;
  for (const rapidjson::Value& detail : document["details"].GetArray()) {
    if (detail.HasMember("@type") &&
        detail["@type"].GetString() == "type.googleapis.com/" + type) {
      return &detail;
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Against mxgate and the real sandbox.

class CliAgainstGateway : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sandbox_ = new ChildProcess({BinPath("mx-sandbox"), "--listen=127.0.0.1:0",
                                 absl::StrCat("--client_id=", kClientId),
                                 absl::StrCat("--api_key=", kApiKey)});
    const std::string sandbox_address = sandbox_->WaitForListening();
    ASSERT_FALSE(sandbox_address.empty()) << sandbox_->Stderr();
    // A short grace: the CLI's connection is gone when the gateway stops.
    gateway_ = new ChildProcess(
        {BinPath("mxgate"), "--listen=127.0.0.1:0",
         "--mx_base_url=http://" + sandbox_address, "--shutdown_grace_ms=100"},
        {{"MX_CLIENT_ID", kClientId}, {"MX_API_KEY", kApiKey}});
    target_ = new std::string("--target=" + gateway_->WaitForListening());
    ASSERT_NE(*target_, "--target=") << gateway_->Stderr();
  }

  static void TearDownTestSuite() {
    if (gateway_ != nullptr) {
      EXPECT_EQ(gateway_->Terminate(), 0);
      EXPECT_THAT(gateway_->Stderr(), Not(HasSubstr(kPassword)));
    }
    delete gateway_;
    delete sandbox_;
    delete target_;
    gateway_ = nullptr;
    sandbox_ = nullptr;
    target_ = nullptr;
  }

  // create-member for the demo user at mxbank with both credentials.
  static std::vector<std::string> MxBankArgs(const std::string& user = sandbox::kDemoUserId) {
    return {"create-member",
            *target_,
            "--user=" + user,
            "--institution=mxbank",
            absl::StrCat("--credential=", sandbox::kMxBankUsernameGuid, "=mxuser"),
            "--credential",
            absl::StrCat(sandbox::kMxBankPasswordGuid, "=", kPassword)};
  }

  static ChildProcess* sandbox_;
  static ChildProcess* gateway_;
  static std::string* target_;
};

ChildProcess* CliAgainstGateway::sandbox_ = nullptr;
ChildProcess* CliAgainstGateway::gateway_ = nullptr;
std::string* CliAgainstGateway::target_ = nullptr;

TEST_F(CliAgainstGateway, CreatesMemberAndPrintsTheResponseAsProto3Json) {
  std::vector<std::string> args = MxBankArgs();
  args.push_back("--product=transactions");
  args.push_back("--member-id=cli-1");
  const CliResult result = RunCli(args);
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_THAT(result.err, IsEmpty());
  EXPECT_THAT(result.out, HasSubstr("\n \"http_status\": 202\n"));
  EXPECT_THAT(result.out,
              HasSubstr("\n \"outcome\": \"CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED\""));
  const v1::CreateMemberResponse response = ParseResponse(result.out);
  EXPECT_EQ(response.http_status(), 202);
  EXPECT_EQ(response.outcome(), v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  EXPECT_THAT(response.member().guid(), StartsWith("MBR-"));
  EXPECT_EQ(response.member().id(), "cli-1");
  EXPECT_EQ(response.member().user_guid(), sandbox::kDemoUserGuid);
  EXPECT_EQ(response.member().institution_guid(), sandbox::kMxBankGuid);
  EXPECT_THAT(result.out, Not(HasSubstr(kPassword)));
}

TEST_F(CliAgainstGateway, CreatesOAuthMemberWithItsWindowUri) {
  const CliResult result =
      RunCli({"create-member", *target_, "--user", sandbox::kDemoUserId,
              "--institution=mx_bank_oauth", "--oauth", "--referral-source=app"});
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_THAT(result.err, IsEmpty());
  const v1::CreateMemberResponse response = ParseResponse(result.out);
  EXPECT_EQ(response.http_status(), 200);
  EXPECT_EQ(response.outcome(), v1::CREATE_MEMBER_OUTCOME_CREATED_NO_AGGREGATION);
  EXPECT_TRUE(response.member().is_oauth());
  EXPECT_THAT(response.member().oauth_window_uri(),
              HasSubstr("/oauth/authorize/" + response.member().guid()));
}

TEST_F(CliAgainstGateway, UnknownUserIsNotFoundJsonOnStderrWithExit1) {
  const CliResult result = RunCli(MxBankArgs("no-such-user"));
  ASSERT_EQ(result.exit_code, 1) << result;
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_THAT(result.err, StartsWith("{\n \"code\": \"NOT_FOUND\",\n"));
  EXPECT_THAT(result.err, Not(HasSubstr(kPassword)));
  const rapidjson::Document error = ParseError(result.err);
  ASSERT_TRUE(error.HasMember("code"));
  EXPECT_STREQ(error["code"].GetString(), "NOT_FOUND");
  ASSERT_TRUE(error.HasMember("message"));
  EXPECT_THAT(error["message"].GetString(), StartsWith("MX answered HTTP 404: "));
  const rapidjson::Value* info = FindDetail(error, "google.rpc.ErrorInfo");
  ASSERT_NE(info, nullptr) << result.err;
  EXPECT_STREQ((*info)["reason"].GetString(), "UPSTREAM_NOT_FOUND");
  EXPECT_STREQ((*info)["domain"].GetString(), "mxgate");
  EXPECT_STREQ((*info)["metadata"]["http_status"].GetString(), "404");
}

TEST_F(CliAgainstGateway, MissingCredentialsAreInvalidArgumentWithBadRequest) {
  const CliResult result =
      RunCli({"create-member", *target_, "--user=demo-user", "--institution=mxbank"});
  ASSERT_EQ(result.exit_code, 1) << result;
  EXPECT_THAT(result.out, IsEmpty());
  const rapidjson::Document error = ParseError(result.err);
  ASSERT_TRUE(error.HasMember("code"));
  EXPECT_STREQ(error["code"].GetString(), "INVALID_ARGUMENT");
  const rapidjson::Value* info = FindDetail(error, "google.rpc.ErrorInfo");
  ASSERT_NE(info, nullptr) << result.err;
  EXPECT_STREQ((*info)["reason"].GetString(), "INVALID_REQUEST");
  const rapidjson::Value* bad_request = FindDetail(error, "google.rpc.BadRequest");
  ASSERT_NE(bad_request, nullptr) << result.err;
  const rapidjson::Value& violations = (*bad_request)["field_violations"];
  ASSERT_TRUE(violations.IsArray() && violations.Size() == 1u) << result.err;
  EXPECT_STREQ(violations[0]["field"].GetString(), "member.credentials");
}

TEST(MxgateCli, UnreachableGatewayIsUnavailableWithExit1) {
  int port;
  {
    // Bind a loopback port, then free it: nothing listens there.
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port = ntohs(address.sin_port);
    close(fd);
  }
  const absl::Time start = absl::Now();
  const CliResult result =
      RunCli({"create-member", absl::StrCat("--target=127.0.0.1:", port), "--user=u",
              "--institution=mxbank", "--credential=CRD-1=v", "--timeout_ms=5000"});
  EXPECT_EQ(result.exit_code, 1) << result;
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_THAT(result.out, IsEmpty());
  const rapidjson::Document error = ParseError(result.err);
  ASSERT_TRUE(error.HasMember("code")) << result.err;
  // Refused at once, or still refused when the 5 s deadline passes.
  EXPECT_THAT(std::string(error["code"].GetString()),
              ::testing::AnyOf("UNAVAILABLE", "DEADLINE_EXCEEDED"));
}

// ---------------------------------------------------------------------------
// Usage: no gateway needed, nothing is called.

struct UsageCase {
  std::string name;
  std::vector<std::string> args;
  std::string problem;  // the one line after "mxgate-cli: "
};

void PrintTo(const UsageCase& usage, std::ostream* out) { *out << usage.name; }

class UsageError : public ::testing::TestWithParam<UsageCase> {};

TEST_P(UsageError, IsOneLineOnStderrWithExit2) {
  const CliResult result = RunCli(GetParam().args);
  EXPECT_EQ(result.exit_code, 2) << result;
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_EQ(result.err, absl::StrCat("mxgate-cli: ", GetParam().problem,
                                     "\nRun mxgate-cli --help for the flags.\n"));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UsageError,
    ::testing::Values(
        UsageCase{"NoCommand", {}, "name a command: create-member"},
        UsageCase{"NoCommandOnlyFlags", {"--user=u"}, "name a command: create-member"},
        UsageCase{"UnknownCommand",
                  {"delete-member"},
                  "unknown command \"delete-member\" (known: create-member)"},
        UsageCase{"ExtraArgument",
                  {"create-member", "extra"},
                  "unexpected argument \"extra\""},
        UsageCase{"UnknownProduct",
                  {"create-member", "--user=u", "--product=bogus"},
                  "--product: unknown product \"bogus\" (account_verification, "
                  "identity_verification, transactions, transaction_history, "
                  "statements, investments, rewards)"},
        UsageCase{"UnknownUseCase",
                  {"create-member", "--use-case", "savings"},
                  "--use_case: expected PFM or MONEY_MOVEMENT, got \"savings\""},
        UsageCase{"UnknownReferralSource",
                  {"create-member", "--referral-source=EMAIL"},
                  "--referral_source: expected APP or BROWSER, got \"EMAIL\""},
        UsageCase{"CredentialWithoutGuid",
                  {"create-member", "--credential=cli-it-password-s3cret"},
                  "--credential: expected GUID=VALUE (the value may be empty only "
                  "after the =)"}),
    [](const ::testing::TestParamInfo<UsageCase>& info) { return info.param.name; });

TEST(MxgateCli, HelpListsEveryFlag) {
  const CliResult result = RunCli({"--help"});
  // absl ends --help with its own exit code; only the listing is ours.
  EXPECT_NE(result.exit_code, -1) << result;
  EXPECT_THAT(result.out, HasSubstr("mxgate-cli create-member"));
  for (const char* flag :
       {"target", "timeout_ms", "user", "institution", "credential", "product", "use_case",
        "member_id", "metadata", "oauth", "skip_aggregation",
        "background_aggregation_is_disabled", "callback_payload", "accept_version",
        "client_redirect_url", "enable_app2app", "referral_source",
        "ui_message_webview_url_scheme", "request_id"}) {
    // A long name puts its description on the next line.
    EXPECT_THAT(result.out,
                ::testing::AnyOf(HasSubstr(absl::StrCat("\n    --", flag, " (")),
                                 HasSubstr(absl::StrCat("\n    --", flag, "\n"))))
        << "--help does not list --" << flag;
  }
}

}  // namespace
}  // namespace mxgate
