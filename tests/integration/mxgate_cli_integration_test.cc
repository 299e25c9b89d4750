// The real mxgate-cli binary against the real mxgate and mx-sandbox
// binaries: what it prints on stdout and stderr, and its exit code (0 a
// response or CONNECTED, 1 an error from the call, 2 a usage error, 3
// CHALLENGED, 4 an end state). `connect` runs without a terminal (every
// value by flag) and on a pseudo-terminal, answering its prompts as a person
// would. Every process listens on a loopback port chosen at run time; the
// sandbox takes 30 ms per aggregation step.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kClientId[] = "cli-it-client-id";
constexpr char kApiKey[] = "cli-it-api-key-51d0";
constexpr char kPassword[] = "cli-it-password-s3cret";
// A wrong MFA answer, distinct enough to search for in logs.
constexpr char kAnswer[] = "cli-it-answer-wr0ng";

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
  argv.reserve(argv_strings.size() + 1);
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int out[2];
  int err[2];
  if (pipe(out) != 0 || pipe(err) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    // No terminal: whatever runs the tests, the CLI must not wait for input.
    const int no_input = open("/dev/null", O_RDONLY);
    dup2(no_input, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    for (int fd : {out[0], out[1], err[0], err[1], no_input}) close(fd);
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
             << result.out << "\nstderr:\n"
             << result.err;
}

// mxgate-cli running while the test reads its output as it comes and types
// to it: on a pseudo-terminal (stdin, stdout and stderr all the terminal, as
// when a person runs it), or with stdout and stderr to one pipe and no
// input (as in a script).
class CliSession {
 public:
  CliSession(const std::vector<std::string>& args, bool on_terminal) {
    std::vector<std::string> argv_strings = {BinPath("mxgate-cli")};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(argv_strings.size() + 1);
    for (std::string& arg : argv_strings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (on_terminal) {
      pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
      if (pid_ == 0) {
        execv(argv[0], argv.data());
        _exit(127);
      }
      return;
    }
    int out[2];
    if (pipe(out) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      const int no_input = open("/dev/null", O_RDONLY);
      dup2(no_input, STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      dup2(out[1], STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      close(no_input);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    fd_ = out[0];
  }

  ~CliSession() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(fd_);
  }

  // Reads until `text` appears after what earlier calls found; false when
  // the output ends or `timeout` passes first. Reads what is there at
  // least once, even with no time to wait.
  bool WaitFor(absl::string_view text, absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time give_up = absl::Now() + timeout;
    for (bool last_look = false;; last_look = last_look || absl::Now() >= give_up) {
      const size_t found = output_.find(std::string(text), searched_);
      if (found != std::string::npos) {
        searched_ = found + text.size();
        return true;
      }
      if (last_look) return false;
      if (!ReadSome()) last_look = true;
    }
  }

  // The rest of the line after the last text WaitFor found.
  std::string RestOfLine() {
    while (output_.find('\n', searched_) == std::string::npos && ReadSome()) {
    }
    const size_t end = output_.find_first_of("\r\n", searched_);
    return output_.substr(searched_, end == std::string::npos ? end : end - searched_);
  }

  void Type(absl::string_view text) {
    ASSERT_EQ(write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

  // Reads the output to its end, then returns the exit code (-1: killed
  // after `timeout`).
  int WaitForExit(absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up && ReadSome()) {
    }
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
      if (absl::Now() >= give_up) return -1;  // the destructor kills it
      absl::SleepFor(absl::Milliseconds(5));
    }
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  const std::string& output() const { return output_; }

 private:
  // Waits up to 100 ms for output; false once there is no more (a
  // pseudo-terminal reports EIO when the program has closed it).
  bool ReadSome() {
    pollfd fd{fd_, POLLIN, 0};
    if (poll(&fd, 1, 100) == 0) return true;
    char buffer[4096];
    const ssize_t n = read(fd_, buffer, sizeof(buffer));
    if (n <= 0) return false;
    output_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string output_;
  size_t searched_ = 0;
};

// stdout of a successful call, read back as the response it prints.
template <typename Response = v1::CreateMemberResponse>
Response ParseResponse(const std::string& json) {
  Response response;
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
    // 30 ms per aggregation step, and watches that poll about as often, so
    // that a connection runs its course in a fraction of a second.
    sandbox_ = new ChildProcess({BinPath("mx-sandbox"), "--listen=127.0.0.1:0",
                                 absl::StrCat("--client_id=", kClientId),
                                 absl::StrCat("--api_key=", kApiKey), "--step_ms=30"});
    sandbox_address_ = new std::string(sandbox_->WaitForListening());
    ASSERT_FALSE(sandbox_address_->empty()) << sandbox_->Stderr();
    // A short drain: the CLI's calls are over when the gateway stops.
    gateway_ = new ChildProcess(
        {BinPath("mxgate"), "--listen=127.0.0.1:0",
         "--mx_base_url=http://" + *sandbox_address_, "--drain_timeout_ms=100",
         "--watch_initial_poll_ms=20", "--watch_max_poll_ms=100",
         "--watch_member_poll_interval_ms=20"},
        {{"MX_CLIENT_ID", kClientId}, {"MX_API_KEY", kApiKey}});
    target_ = new std::string("--target=" + gateway_->WaitForListening());
    ASSERT_NE(*target_, "--target=") << gateway_->Stderr();
  }

  static void TearDownTestSuite() {
    if (gateway_ != nullptr) {
      EXPECT_EQ(gateway_->Terminate(), 0);
      EXPECT_THAT(gateway_->Stderr(), Not(HasSubstr(kPassword)));
      EXPECT_THAT(gateway_->Stderr(), Not(HasSubstr(kAnswer)));
    }
    delete gateway_;
    delete sandbox_;
    delete target_;
    delete sandbox_address_;
    gateway_ = nullptr;
    sandbox_ = nullptr;
    target_ = nullptr;
    sandbox_address_ = nullptr;
  }

  // The sandbox's count of members created so far.
  static int MembersCreated() {
    const std::string stats =
        ::mxgate::testing::HttpGet("http://" + *sandbox_address_ + "/_sandbox/stats");
    rapidjson::Document document;
    document.Parse(stats.c_str());
    EXPECT_TRUE(document.IsObject() && document.HasMember("members_created")) << stats;
    return document.IsObject() && document.HasMember("members_created")
               ? document["members_created"].GetInt()
               : -1;
  }

  // create-member for the demo user at mxbank with both credentials.
  static std::vector<std::string> MxBankArgs(
      const std::string& user = sandbox::kDemoUserId) {
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
  static std::string* sandbox_address_;
};

ChildProcess* CliAgainstGateway::sandbox_ = nullptr;
ChildProcess* CliAgainstGateway::gateway_ = nullptr;
std::string* CliAgainstGateway::target_ = nullptr;
std::string* CliAgainstGateway::sandbox_address_ = nullptr;

TEST_F(CliAgainstGateway, CreatesMemberAndPrintsTheResponseAsProto3Json) {
  std::vector<std::string> args = MxBankArgs();
  args.emplace_back("--product=transactions");
  args.emplace_back("--member-id=cli-1");
  const CliResult result = RunCli(args);
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_THAT(result.err, IsEmpty());
  EXPECT_THAT(result.out, HasSubstr("\n \"http_status\": 202\n"));
  EXPECT_THAT(
      result.out,
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

// ---------------------------------------------------------------------------
// The member commands: list-credentials, get-member, get-status, resume,
// delete-member, watch.

// Creates an mxbank member for the demo user with `password`; returns its
// guid.
std::string CreateMxBankMember(const std::string& target, const std::string& password,
                               const std::string& member_id) {
  const CliResult result =
      RunCli({"create-member", target, "--user=demo-user", "--institution=mxbank",
              absl::StrCat("--credential=", sandbox::kMxBankUsernameGuid, "=mxuser"),
              absl::StrCat("--credential=", sandbox::kMxBankPasswordGuid, "=", password),
              "--member-id=" + member_id});
  EXPECT_EQ(result.exit_code, 0) << result;
  return ParseResponse(result.out).member().guid();
}

// watch's stdout: one JSON object per line.
std::vector<v1::WatchMemberStatusResponse> ParseWatchLines(const std::string& out) {
  std::vector<v1::WatchMemberStatusResponse> messages;
  EXPECT_THAT(out, EndsWith("\n"));
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    EXPECT_THAT(std::string(line), StartsWith("{\"status\":{"));
    messages.push_back(ParseResponse<v1::WatchMemberStatusResponse>(std::string(line)));
  }
  return messages;
}

TEST_F(CliAgainstGateway, ListCredentialsPrintsTheFieldsAsJson) {
  const CliResult result = RunCli({"list-credentials", *target_, "--institution=mxbank",
                                   "--page=1", "--records-per-page=10"});
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_THAT(result.err, IsEmpty());
  const auto response = ParseResponse<v1::ListInstitutionCredentialsResponse>(result.out);
  ASSERT_EQ(response.credentials_size(), 2) << result.out;
  EXPECT_EQ(response.credentials(0).guid(), sandbox::kMxBankUsernameGuid);
  EXPECT_EQ(response.credentials(0).field_name(), "LOGIN");
  EXPECT_EQ(response.credentials(1).guid(), sandbox::kMxBankPasswordGuid);
  EXPECT_EQ(response.credentials(1).field_type(), "PASSWORD");
  EXPECT_EQ(response.pagination().per_page(), 10);
  EXPECT_EQ(response.pagination().total_entries(), 2);
}

TEST_F(CliAgainstGateway, ListCredentialsOfAnUnknownInstitutionIsNotFound) {
  const CliResult result = RunCli({"list-credentials", *target_, "--institution=nobank"});
  ASSERT_EQ(result.exit_code, 1) << result;
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_THAT(result.err, StartsWith("{\n \"code\": \"NOT_FOUND\",\n"));
}

TEST_F(CliAgainstGateway, GetsAMemberAndItsStatusThenDeletesIt) {
  const std::string guid = CreateMxBankMember(*target_, kPassword, "cli-get-1");
  const std::vector<std::string> member = {*target_, "--user=demo-user",
                                           "--member=cli-get-1"};
  auto with = [&](const char* command) {
    std::vector<std::string> args = {command};
    args.insert(args.end(), member.begin(), member.end());
    return args;
  };
  CliResult result = RunCli(with("get-member"));
  ASSERT_EQ(result.exit_code, 0) << result;
  const auto got = ParseResponse<v1::GetMemberResponse>(result.out);
  EXPECT_EQ(got.member().guid(), guid);
  EXPECT_EQ(got.member().id(), "cli-get-1");

  result = RunCli(with("get-status"));
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_EQ(ParseResponse<v1::GetMemberStatusResponse>(result.out).status().guid(), guid);

  result = RunCli(with("delete-member"));
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_EQ(result.out, "{}\n");

  result = RunCli(with("get-member"));
  ASSERT_EQ(result.exit_code, 1) << result;
  EXPECT_THAT(result.err, StartsWith("{\n \"code\": \"NOT_FOUND\",\n"));
}

TEST_F(CliAgainstGateway, WatchPrintsAJsonLinePerChangeAndExits0WhenConnected) {
  CreateMxBankMember(*target_, kPassword, "cli-watch-1");
  const CliResult result =
      RunCli({"watch", *target_, "--user=demo-user", "--member=cli-watch-1"});
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_THAT(result.err, IsEmpty());
  const auto messages = ParseWatchLines(result.out);
  ASSERT_FALSE(messages.empty());
  for (size_t i = 0; i + 1 < messages.size(); ++i) EXPECT_FALSE(messages[i].final());
  EXPECT_TRUE(messages.back().final());
  EXPECT_EQ(messages.back().end_reason(), v1::WATCH_END_REASON_CONNECTED);
  EXPECT_EQ(messages.back().status().connection_status(),
            v1::CONNECTION_STATUS_CONNECTED);
}

TEST_F(CliAgainstGateway, WatchExits4ForAnEndState) {
  CreateMxBankMember(*target_, "BAD_REQUEST", "cli-watch-2");
  const CliResult result =
      RunCli({"watch", *target_, "--user=demo-user", "--member=cli-watch-2"});
  ASSERT_EQ(result.exit_code, 4) << result;
  const auto messages = ParseWatchLines(result.out);
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.back().end_reason(), v1::WATCH_END_REASON_END_STATE);
  EXPECT_EQ(messages.back().status().connection_status(), v1::CONNECTION_STATUS_FAILED);
}

TEST_F(CliAgainstGateway, WatchOfAnUnknownMemberIsNotFoundWithExit1) {
  const CliResult result =
      RunCli({"watch", *target_, "--user=demo-user", "--member=no-such-member"});
  ASSERT_EQ(result.exit_code, 1) << result;
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_THAT(result.err, StartsWith("{\n \"code\": \"NOT_FOUND\",\n"));
}

TEST_F(CliAgainstGateway, WatchExits3WhenChallengedAndResumeAnswers) {
  CreateMxBankMember(*target_, "challenge", "cli-resume-1");
  const std::vector<std::string> member = {*target_, "--user=demo-user",
                                           "--member=cli-resume-1"};
  std::vector<std::string> watch = {"watch"};
  watch.insert(watch.end(), member.begin(), member.end());
  CliResult result = RunCli(watch);
  ASSERT_EQ(result.exit_code, 3) << result;
  const auto challenged = ParseWatchLines(result.out);
  ASSERT_FALSE(challenged.empty());
  EXPECT_EQ(challenged.back().end_reason(), v1::WATCH_END_REASON_CHALLENGED);
  ASSERT_EQ(challenged.back().status().challenges_size(), 1);
  EXPECT_EQ(challenged.back().status().challenges(0).guid(), sandbox::kTextChallengeGuid);

  std::vector<std::string> resume = {"resume"};
  resume.insert(resume.end(), member.begin(), member.end());
  resume.push_back(absl::StrCat("--answer=", sandbox::kTextChallengeGuid, "=correct"));
  result = RunCli(resume);
  ASSERT_EQ(result.exit_code, 0) << result;
  const auto resumed = ParseResponse<v1::ResumeMemberResponse>(result.out);
  EXPECT_EQ(resumed.member().connection_status(), v1::CONNECTION_STATUS_RESUMED);
  EXPECT_EQ(resumed.http_status(), 202);

  result = RunCli(watch);
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_EQ(ParseWatchLines(result.out).back().status().connection_status(),
            v1::CONNECTION_STATUS_CONNECTED);

  result = RunCli(resume);  // no longer CHALLENGED: MX's 405
  ASSERT_EQ(result.exit_code, 1) << result;
  EXPECT_THAT(result.err, StartsWith("{\n \"code\": \"FAILED_PRECONDITION\",\n"));
}

// ---------------------------------------------------------------------------
// connect, without a terminal: every value by flag.

std::vector<std::string> ConnectArgs(const std::string& target,
                                     const std::string& password,
                                     std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"connect",
                                   target,
                                   "--user=demo-user",
                                   "--institution=mxbank",
                                   "--credential=LOGIN=mxuser",
                                   "--credential=PASSWORD=" + password};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The lines of `out`.
std::vector<std::string> Lines(const std::string& out) {
  return absl::StrSplit(out, '\n', absl::SkipEmpty());
}

TEST_F(CliAgainstGateway, ConnectPrintsEachStatusOnceAndExits0WhenConnected) {
  const CliResult result =
      RunCli(ConnectArgs(*target_, kPassword, {"--member-id=cli-c-1"}));
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_THAT(result.err, IsEmpty());
  const std::vector<std::string> lines = Lines(result.out);
  ASSERT_EQ(lines.size(), 4u) << result.out;
  EXPECT_THAT(lines[0], StartsWith("Created member MBR-"));
  EXPECT_THAT(lines[0], EndsWith(" at MX Bank."));
  EXPECT_THAT(lines[1], ::testing::MatchesRegex("CREATED  [0-9]+\\.[0-9]s"));
  EXPECT_THAT(lines[2], ::testing::MatchesRegex("CONNECTED  [0-9]+\\.[0-9]s"));
  EXPECT_THAT(lines[3], StartsWith("Connected: member MBR-"));
  EXPECT_THAT(lines[3], EndsWith(" at MX Bank is CONNECTED."));
  EXPECT_THAT(result.out, Not(HasSubstr(kPassword)));
  EXPECT_THAT(result.out, Not(HasSubstr("\x1b")));  // no redrawing into a pipe
}

TEST_F(CliAgainstGateway, ConnectTakesGuidsAndAFile) {
  char path[] = "/tmp/mxgate-cli-it-creds-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text =
      absl::StrCat("# MX Bank\n", sandbox::kMxBankPasswordGuid, "=", kPassword, "\n");
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  const CliResult result =
      RunCli({"connect", *target_, "--user=demo-user", "--institution=mxbank",
              absl::StrCat("--credential=", sandbox::kMxBankUsernameGuid, "=mxuser"),
              absl::StrCat("--credentials-file=", path)});
  unlink(path);
  ASSERT_EQ(result.exit_code, 0) << result;
  EXPECT_THAT(Lines(result.out).back(), EndsWith(" is CONNECTED."));
}

TEST_F(CliAgainstGateway, ConnectWithAMissingValueAndNoTerminalCreatesNothing) {
  const int created = MembersCreated();
  const CliResult result =
      RunCli({"connect", *target_, "--user=demo-user", "--institution=mxbank",
              absl::StrCat("--credential=LOGIN=", kPassword)});
  ASSERT_EQ(result.exit_code, 2) << result;
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_EQ(result.err,
            "mxgate-cli: no value for PASSWORD (\"Password\") and no terminal to ask on: "
            "give --credential=FIELD=VALUE or --credentials-file\n"
            "Run mxgate-cli --help for the flags.\n");
  EXPECT_EQ(MembersCreated(), created);
}

TEST_F(CliAgainstGateway, ConnectToAnUnknownInstitutionIsNotFoundWithExit1) {
  const CliResult result =
      RunCli({"connect", *target_, "--user=demo-user", "--institution=nobank"});
  ASSERT_EQ(result.exit_code, 1) << result;
  EXPECT_THAT(result.err, StartsWith("{\n \"code\": \"NOT_FOUND\",\n"));
}

TEST_F(CliAgainstGateway, ConnectEndsWithTheStatusAndMxsMessageForAnEndState) {
  for (const auto& [args, status, message] :
       std::vector<std::tuple<std::vector<std::string>, std::string, std::string>>{
           {ConnectArgs(*target_, "BAD_REQUEST"), "FAILED",
            "You must fill out the username and password fields."},
           {{"connect", *target_, "--user=demo-user", "--institution=mxbank",
             "--credential=LOGIN=someone-else", "--credential=PASSWORD=x"},
            "DENIED",
            ""}}) {
    const CliResult result = RunCli(args);
    ASSERT_EQ(result.exit_code, 4) << result;
    EXPECT_THAT(result.err, IsEmpty());
    const std::string last = Lines(result.out).back();
    EXPECT_THAT(last, StartsWith("Not connected: member MBR-"));
    EXPECT_THAT(last, HasSubstr(absl::StrCat(" at MX Bank is ", status)));
    EXPECT_THAT(last, HasSubstr(message));
  }
}

struct ChallengeCase {
  std::string name;
  std::string password;  // picks the challenge type
  std::string label;
  std::string answer;
  int exit_code;
  std::string status;
};

void PrintTo(const ChallengeCase& c, std::ostream* out) { *out << c.name; }

class ConnectChallenge : public CliAgainstGateway,
                         public ::testing::WithParamInterface<ChallengeCase> {};

TEST_P(ConnectChallenge, AnswersFromTheFlagAndResumes) {
  const ChallengeCase& c = GetParam();
  const CliResult result =
      RunCli(ConnectArgs(*target_, c.password, {"--answer=" + c.answer}));
  ASSERT_EQ(result.exit_code, c.exit_code) << result;
  EXPECT_THAT(result.err, IsEmpty());
  const std::vector<std::string> lines = Lines(result.out);
  EXPECT_THAT(lines, ::testing::Contains(StartsWith("CHALLENGED  ")));
  EXPECT_THAT(lines, ::testing::Contains(StartsWith("RESUMED  ")));
  EXPECT_THAT(lines, ::testing::Contains(absl::StrCat("MFA question: ", c.label,
                                                      " (answered by --answer #1)")));
  EXPECT_THAT(lines.back(), HasSubstr(" at MX Bank is " + c.status));
  EXPECT_THAT(result.out, Not(HasSubstr(kAnswer)));
}

INSTANTIATE_TEST_SUITE_P(
    EveryType, ConnectChallenge,
    ::testing::Values(
        ChallengeCase{"TextRight", "challenge", "What is the name of your first pet?",
                      "correct", 0, "CONNECTED"},
        ChallengeCase{"TextWrong", "challenge", "What is the name of your first pet?",
                      kAnswer, 4, "DENIED"},
        ChallengeCase{"OptionsRightByValue", "options",
                      "Where should we send your one-time code?", "correct", 0,
                      "CONNECTED"},
        ChallengeCase{"OptionsRightByNumber", "options",
                      "Where should we send your one-time code?", "1", 0, "CONNECTED"},
        ChallengeCase{"OptionsWrong", "options",
                      "Where should we send your one-time code?", "incorrect", 4,
                      "DENIED"},
        ChallengeCase{"ImageRight", "image", "What is shown in this image?", "correct", 0,
                      "CONNECTED"},
        ChallengeCase{"ImageWrong", "image", "What is shown in this image?", kAnswer, 4,
                      "DENIED"}),
    [](const ::testing::TestParamInfo<ChallengeCase>& info) { return info.param.name; });

TEST_F(CliAgainstGateway, ConnectUsesAnswersInOrderThroughAFollowUpChallenge) {
  const CliResult result = RunCli(
      ConnectArgs(*target_, "challenge", {"--answer=challenge", "--answer=correct"}));
  ASSERT_EQ(result.exit_code, 0) << result;
  const std::vector<std::string> lines = Lines(result.out);
  EXPECT_THAT(lines, ::testing::Contains(
                         "MFA question: What is the name of your first pet? (answered by "
                         "--answer #1)"));
  EXPECT_THAT(lines,
              ::testing::Contains(
                  "MFA question: What city were you born in? (answered by --answer #2)"));
  EXPECT_THAT(lines.back(), EndsWith(" is CONNECTED."));
}

TEST_F(CliAgainstGateway, ConnectWithoutAnswersExits3AndItsHintResumes) {
  const CliResult result = RunCli(ConnectArgs(*target_, "options"));
  ASSERT_EQ(result.exit_code, 3) << result;
  const std::vector<std::string> lines = Lines(result.out);
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[lines.size() - 4],
            absl::StrCat("  ", sandbox::kOptionsChallengeGuid,
                         "  Where should we send your one-time code?"));
  EXPECT_EQ(lines[lines.size() - 3], "      value correct: Text (***) ***-0123");
  // The hint, run as printed but for the answer.
  absl::string_view hint = lines.back();
  ASSERT_TRUE(absl::ConsumePrefix(&hint, "Answer with: mxgate-cli "));
  ASSERT_TRUE(absl::ConsumeSuffix(&hint, " --answer=GUID=VALUE..."));
  std::vector<std::string> resume = absl::StrSplit(hint, ' ');
  resume.push_back(*target_);
  resume.push_back(absl::StrCat("--answer=", sandbox::kOptionsChallengeGuid, "=correct"));
  const CliResult resumed = RunCli(resume);
  ASSERT_EQ(resumed.exit_code, 0) << resumed;
}

TEST_F(CliAgainstGateway, ConnectOauthPrintsTheUrlAndConnectsOnceItIsOpened) {
  CliSession cli(
      {"connect", *target_, "--user=demo-user", "--institution=mx_bank_oauth", "--oauth"},
      /*on_terminal=*/false);
  ASSERT_TRUE(cli.WaitFor("allow access:\n")) << cli.output();
  const std::string url = cli.RestOfLine();
  ASSERT_THAT(url, StartsWith("http://" + *sandbox_address_ + "/oauth/authorize/MBR-"));
  ASSERT_TRUE(cli.WaitFor("PENDING  ")) << cli.output();
  // Still waiting: nothing has opened the URL.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(cli.WaitFor("CONNECTED", absl::ZeroDuration())) << cli.output();
  EXPECT_THAT(::mxgate::testing::HttpGet(url), HasSubstr("Authorized"));
  EXPECT_EQ(cli.WaitForExit(), 0) << cli.output();
  EXPECT_THAT(cli.output(), HasSubstr(" at MX Bank (OAuth) is CONNECTED.\n"));
}

// ---------------------------------------------------------------------------
// connect on a pseudo-terminal: it asks, a person answers.

TEST_F(CliAgainstGateway, ConnectAsksOnTheTerminalWithoutEchoingThePassword) {
  CliSession cli({"connect", *target_, "--user=demo-user", "--institution=mxbank"},
                 /*on_terminal=*/true);
  ASSERT_TRUE(cli.WaitFor("Username: ")) << cli.output();
  cli.Type("mxuser\n");
  ASSERT_TRUE(cli.WaitFor("Password: ")) << cli.output();
  cli.Type("options\n");  // the sandbox's password for an OPTIONS challenge
  ASSERT_TRUE(cli.WaitFor("Choose 1-2: ")) << cli.output();
  cli.Type("3\n");
  ASSERT_TRUE(cli.WaitFor("Type a number from 1 to 2: ")) << cli.output();
  cli.Type("1\n");
  ASSERT_EQ(cli.WaitForExit(), 0) << cli.output();
  const std::string& screen = cli.output();
  EXPECT_THAT(screen,
              StartsWith("Username: mxuser\r\nPassword: \r\nCreated member MBR-"));
  EXPECT_THAT(screen, Not(HasSubstr("options")));
  EXPECT_THAT(screen, HasSubstr("\r\nWhere should we send your one-time code?\r\n"
                                "  1) Text (***) ***-0123\r\n"
                                "  2) Email m***@example.com\r\n"
                                "Choose 1-2: 3\r\n"
                                "Type a number from 1 to 2: 1\r\n"));
  // The live status line: redrawn in place, the spinner turning.
  EXPECT_THAT(screen, HasSubstr("\rCHALLENGED  "));
  EXPECT_THAT(screen, HasSubstr("\x1b[K"));
  EXPECT_THAT(screen, ::testing::ContainsRegex("\rCONNECTED  [0-9]+\\.[0-9]s\x1b\\[K\r\n"
                                               "Connected: member MBR-"));
  EXPECT_THAT(screen, EndsWith(" at MX Bank is CONNECTED.\r\n"));
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

constexpr char kCommands[] =
    "create-member, list-credentials, get-member, get-status, resume, delete-member, "
    "watch, connect";

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
        UsageCase{"NoCommand", {}, absl::StrCat("name a command: ", kCommands)},
        UsageCase{"NoCommandOnlyFlags",
                  {"--user=u"},
                  absl::StrCat("name a command: ", kCommands)},
        UsageCase{
            "UnknownCommand",
            {"remove-member"},
            absl::StrCat("unknown command \"remove-member\" (known: ", kCommands, ")")},
        UsageCase{"FlagOfAnotherCommand",
                  {"get-member", "--user=u", "--member-id=m"},
                  "--member_id does not apply to get-member"},
        UsageCase{"CreateFlagOnConnect",
                  {"connect", "--metadata=x"},
                  "--metadata does not apply to connect"},
        UsageCase{"AnswerWithoutGuid",
                  {"resume", "--answer=CRD-1=a", "--answer", "cli-it-password-s3cret"},
                  "--answer #2: expected GUID=VALUE (the challenge's guid, then the "
                  "answer)"},
        UsageCase{"ConnectWithoutUser",
                  {"connect", "--institution=mxbank"},
                  "connect needs --user"},
        UsageCase{"ConnectOauthWithCredentials",
                  {"connect", "--user=u", "--institution=mx_bank_oauth", "--oauth",
                   "--credential=LOGIN=x"},
                  "--oauth takes no credentials: the person signs in at the institution"},
        UsageCase{
            "ExtraArgument", {"create-member", "extra"}, "unexpected argument \"extra\""},
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
  for (const char* command :
       {"create-member", "list-credentials", "get-member", "get-status", "resume",
        "delete-member", "watch", "connect"}) {
    EXPECT_THAT(result.out, HasSubstr(absl::StrCat("\n  mxgate-cli ", command, " ")));
  }
  EXPECT_THAT(result.out, HasSubstr("--credential=PASSWORD=..."));
  EXPECT_THAT(result.out,
              HasSubstr("Exit codes:\n"
                        "  0  success; watch, connect: the member is CONNECTED\n"
                        "  1  the call failed: the error as JSON on stderr\n"
                        "  2  usage error: bad flags, or a value missing and no "
                        "terminal to ask\n"
                        "  3  watch, connect: CHALLENGED, MFA questions wait for "
                        "answers (resume)\n"
                        "  4  watch, connect: an end state such as DENIED or "
                        "FAILED"));
  for (const char* flag : {"target",
                           "timeout_ms",
                           "watch_timeout_ms",
                           "user",
                           "member",
                           "institution",
                           "credential",
                           "credentials_file",
                           "answer",
                           "page",
                           "records_per_page",
                           "product",
                           "use_case",
                           "member_id",
                           "metadata",
                           "oauth",
                           "skip_aggregation",
                           "background_aggregation_is_disabled",
                           "callback_payload",
                           "accept_version",
                           "client_redirect_url",
                           "enable_app2app",
                           "referral_source",
                           "ui_message_webview_url_scheme",
                           "request_id"}) {
    // A long name puts its description on the next line.
    EXPECT_THAT(result.out,
                ::testing::AnyOf(HasSubstr(absl::StrCat("\n    --", flag, " (")),
                                 HasSubstr(absl::StrCat("\n    --", flag, "\n"))))
        << "--help does not list --" << flag;
  }
}

}  // namespace
}  // namespace mxgate
