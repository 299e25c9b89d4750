// mxgate-cli: calls mxgate from a terminal or a script.
//
//   mxgate-cli create-member --target=HOST:PORT --user=ID --institution=CODE
//       --credential=GUID=VALUE ... [--product=transactions ...]
//   mxgate-cli connect --user=ID --institution=CODE   (asks for the rest)
//
// One function per command; each prints the response as proto3 JSON on
// stdout and exits 0; on an error prints code, message and details as JSON
// on stderr and exits 1; exits 2 on a usage error. watch and connect add
// exit codes for how a member ended (cli_args.h's ExitCode, and --help).
// connect's flow is in connect_flow.h.
#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli_args.h"
#include "client/connect_flow.h"
#include "client/member_client.h"
#include "client/terminal.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "mxgate's HOST:PORT");
ABSL_FLAG(int, timeout_ms, 30000,
          "deadline of each call in milliseconds (a watch: --watch_timeout_ms)");
ABSL_FLAG(int, watch_timeout_ms, 600000,
          "watch, connect: deadline of each watch in milliseconds; 0: none");
ABSL_FLAG(std::string, user, "", "user_identifier: your user id or MX's USR- guid");
ABSL_FLAG(std::string, member, "", "member_identifier: your member id or MX's MBR- guid");
ABSL_FLAG(std::string, institution, "", "member.institution_code, e.g. mxbank");
ABSL_FLAG(std::vector<std::string>, credential, {},
          "repeatable. create-member: GUID=VALUE, one per credential field of "
          "the institution. connect: FIELD=VALUE, FIELD the field's guid or "
          "its field_name, e.g. --credential=PASSWORD=... (values on the "
          "command line are visible to other local users: prefer the prompt "
          "or --credentials_file)");
ABSL_FLAG(std::string, credentials_file, "",
          "connect: a file of FIELD=VALUE lines (FIELD a guid or field_name; "
          "# starts a comment); --credential wins over it");
ABSL_FLAG(std::vector<std::string>, answer, {},
          "repeatable. resume: GUID=VALUE, the challenge's guid and the "
          "answer. connect: VALUE, used in order for the MFA questions as "
          "they come (for a menu: the choice's number or value)");
ABSL_FLAG(std::vector<std::string>, product, {},
          "repeatable: a product for data_request (transactions, "
          "account_verification, ...)");
ABSL_FLAG(std::vector<std::string>, use_case, {}, "repeatable: PFM or MONEY_MOVEMENT");
ABSL_FLAG(std::string, member_id, "", "member.id: your own id for the new member");
ABSL_FLAG(std::string, metadata, "", "member.metadata");
ABSL_FLAG(bool, oauth, false, "member.is_oauth: create an OAuth member (no credentials)");
ABSL_FLAG(bool, skip_aggregation, false, "member.skip_aggregation (v20111101 only)");
ABSL_FLAG(bool, background_aggregation_is_disabled, false,
          "member.background_aggregation_is_disabled");
ABSL_FLAG(std::string, callback_payload, "",
          "X-CALLBACK-PAYLOAD: base64, at most 1024 chars");
ABSL_FLAG(std::string, accept_version, "",
          "v20250224 or v20111101; default: the gateway's");
ABSL_FLAG(std::string, client_redirect_url, "", "OAuth: where MX redirects at the end");
ABSL_FLAG(bool, enable_app2app, true,
          "OAuth: whether the OAuth URL may open the bank's app");
ABSL_FLAG(std::string, referral_source, "", "OAuth: APP or BROWSER");
ABSL_FLAG(std::string, ui_message_webview_url_scheme, "",
          "OAuth: WebView redirect scheme");
ABSL_FLAG(std::string, request_id, "", "idempotency key (AIP-155)");
ABSL_FLAG(int, page, 0, "list-credentials: the page, from 1; 0: MX's default");
ABSL_FLAG(int, records_per_page, 0,
          "list-credentials: records per page (MX: 10 to 1000); 0: MX's default");

namespace {

namespace v1 = ::mx::platform::v1;
using ::mxgate::ScannedArgs;

constexpr char kUsage[] =
    "calls the mxgate gateway.\n\n"
    "  mxgate-cli create-member --user=ID --institution=CODE "
    "--credential=GUID=VALUE... [flags]\n"
    "  mxgate-cli list-credentials --institution=CODE [--page=N] "
    "[--records_per_page=N]\n"
    "  mxgate-cli get-member --user=ID --member=ID\n"
    "  mxgate-cli get-status --user=ID --member=ID\n"
    "  mxgate-cli resume --user=ID --member=ID --answer=GUID=VALUE...\n"
    "  mxgate-cli delete-member --user=ID --member=ID\n"
    "  mxgate-cli watch --user=ID --member=ID\n"
    "  mxgate-cli connect --user=ID --institution=CODE "
    "[--credential=FIELD=VALUE...]\n"
    "      [--credentials_file=F] [--product=...] [--member_id=ID] [--oauth]\n"
    "      [--answer=VALUE...]\n\n"
    "Each command prints the response as JSON; watch prints one JSON object\n"
    "per line, one line per status message. connect asks on the terminal for\n"
    "each credential field not given by --credential (guid or field_name,\n"
    "e.g. --credential=PASSWORD=...) or --credentials_file, passwords\n"
    "without echo; creates the member (OAuth: prints the URL to open); shows\n"
    "its status until it ends; asks the MFA questions (or takes --answer in\n"
    "order) and resumes. Without a terminal every value must be given.\n"
    "Flags may be written with dashes or underscores (--member-id, "
    "--member_id).\n\n"
    "Exit codes:\n"
    "  0  success; watch, connect: the member is CONNECTED\n"
    "  1  the call failed: the error as JSON on stderr\n"
    "  2  usage error: bad flags, or a value missing and no terminal to ask\n"
    "  3  watch, connect: CHALLENGED, MFA questions wait for answers (resume)\n"
    "  4  watch, connect: an end state such as DENIED or FAILED";

int Usage(const std::string& problem) {
  std::cerr << mxgate::UsageErrorText(problem);
  return mxgate::kExitUsage;
}

std::vector<std::string> Repeated(const ScannedArgs& scanned, const char* name) {
  auto it = scanned.repeated.find(name);
  return it == scanned.repeated.end() ? std::vector<std::string>{} : it->second;
}

mxgate::MemberClient Client() {
  return mxgate::MemberClient(grpc::CreateChannel(absl::GetFlag(FLAGS_target),
                                                  grpc::InsecureChannelCredentials()));
}

absl::Duration CallTimeout() {
  return absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
}

absl::Duration WatchTimeout() {
  const int ms = absl::GetFlag(FLAGS_watch_timeout_ms);
  return ms <= 0 ? absl::InfiniteDuration() : absl::Milliseconds(ms);
}

// A request naming a member: get-member, get-status, delete-member, watch.
template <typename Request>
Request MemberRequest() {
  Request request;
  request.set_user_identifier(absl::GetFlag(FLAGS_user));
  request.set_member_identifier(absl::GetFlag(FLAGS_member));
  request.set_accept_version(absl::GetFlag(FLAGS_accept_version));
  return request;
}

// Makes one unary call and prints its answer.
template <typename Request, typename Response>
int CallAndPrint(grpc::Status (mxgate::MemberApi::*rpc)(const Request&, Response*,
                                                        absl::Duration),
                 const Request& request) {
  mxgate::MemberClient client = Client();
  Response response;
  const grpc::Status status = (client.*rpc)(request, &response, CallTimeout());
  if (!status.ok()) {
    std::cerr << mxgate::ErrorToJson(status);
    return mxgate::kExitRpcError;
  }
  std::cout << mxgate::ToJson(response);
  return mxgate::kExitOk;
}

int CreateMember(const ScannedArgs& scanned) {
  mxgate::CreateMemberArgs args;
  args.user = absl::GetFlag(FLAGS_user);
  args.institution = absl::GetFlag(FLAGS_institution);
  args.credentials = Repeated(scanned, "credential");
  args.products = Repeated(scanned, "product");
  args.use_cases = Repeated(scanned, "use_case");
  args.member_id = absl::GetFlag(FLAGS_member_id);
  args.metadata = absl::GetFlag(FLAGS_metadata);
  args.callback_payload = absl::GetFlag(FLAGS_callback_payload);
  args.accept_version = absl::GetFlag(FLAGS_accept_version);
  args.client_redirect_url = absl::GetFlag(FLAGS_client_redirect_url);
  args.referral_source = absl::GetFlag(FLAGS_referral_source);
  args.ui_message_webview_url_scheme = absl::GetFlag(FLAGS_ui_message_webview_url_scheme);
  args.request_id = absl::GetFlag(FLAGS_request_id);
  // Booleans are sent only when given, so MX's defaults apply otherwise.
  auto given_bool = [&](const char* name, bool value) -> absl::optional<bool> {
    if (scanned.given.count(name) == 0) return absl::nullopt;
    return value;
  };
  args.oauth = given_bool("oauth", absl::GetFlag(FLAGS_oauth));
  args.skip_aggregation =
      given_bool("skip_aggregation", absl::GetFlag(FLAGS_skip_aggregation));
  args.background_aggregation_is_disabled =
      given_bool("background_aggregation_is_disabled",
                 absl::GetFlag(FLAGS_background_aggregation_is_disabled));
  args.enable_app2app = given_bool("enable_app2app", absl::GetFlag(FLAGS_enable_app2app));

  absl::StatusOr<v1::CreateMemberRequest> request =
      mxgate::BuildCreateMemberRequest(args);
  if (!request.ok()) return Usage(std::string(request.status().message()));
  return CallAndPrint(&mxgate::MemberApi::CreateMember, *request);
}

int ListCredentials(const ScannedArgs&) {
  v1::ListInstitutionCredentialsRequest request;
  request.set_institution_code(absl::GetFlag(FLAGS_institution));
  request.set_page(absl::GetFlag(FLAGS_page));
  request.set_records_per_page(absl::GetFlag(FLAGS_records_per_page));
  request.set_accept_version(absl::GetFlag(FLAGS_accept_version));
  return CallAndPrint(&mxgate::MemberApi::ListInstitutionCredentials, request);
}

int GetMember(const ScannedArgs&) {
  return CallAndPrint(&mxgate::MemberApi::GetMember,
                      MemberRequest<v1::GetMemberRequest>());
}

int GetStatus(const ScannedArgs&) {
  return CallAndPrint(&mxgate::MemberApi::GetMemberStatus,
                      MemberRequest<v1::GetMemberStatusRequest>());
}

int DeleteMember(const ScannedArgs&) {
  return CallAndPrint(&mxgate::MemberApi::DeleteMember,
                      MemberRequest<v1::DeleteMemberRequest>());
}

int Resume(const ScannedArgs& scanned) {
  absl::StatusOr<v1::ResumeMemberRequest> request = mxgate::BuildResumeMemberRequest(
      absl::GetFlag(FLAGS_user), absl::GetFlag(FLAGS_member),
      Repeated(scanned, "answer"));
  if (!request.ok()) return Usage(std::string(request.status().message()));
  request->set_accept_version(absl::GetFlag(FLAGS_accept_version));
  return CallAndPrint(&mxgate::MemberApi::ResumeMember, *request);
}

int Watch(const ScannedArgs&) {
  mxgate::MemberClient client = Client();
  v1::WatchMemberStatusResponse last;
  const grpc::Status status = client.WatchMemberStatus(
      MemberRequest<v1::WatchMemberStatusRequest>(),
      [&](const v1::WatchMemberStatusResponse& message) {
        std::cout << mxgate::ToJsonLine(message) << std::flush;  // a line as it comes
        last = message;
      },
      WatchTimeout());
  if (!status.ok()) {
    std::cerr << mxgate::ErrorToJson(status);
    return mxgate::kExitRpcError;
  }
  const mxgate::ExitCode code = mxgate::ExitCodeForWatchEnd(last);
  if (code == mxgate::kExitRpcError) {
    std::cerr << mxgate::ErrorToJson(
        grpc::Status(grpc::StatusCode::UNKNOWN, mxgate::kWatchEndedWithoutReason));
  }
  return code;
}

int Connect(const ScannedArgs& scanned) {
  mxgate::ConnectArgs args;
  args.user = absl::GetFlag(FLAGS_user);
  args.institution = absl::GetFlag(FLAGS_institution);
  args.credentials = Repeated(scanned, "credential");
  args.credentials_file = absl::GetFlag(FLAGS_credentials_file);
  args.products = Repeated(scanned, "product");
  args.member_id = absl::GetFlag(FLAGS_member_id);
  args.accept_version = absl::GetFlag(FLAGS_accept_version);
  args.oauth = absl::GetFlag(FLAGS_oauth);
  args.answers = Repeated(scanned, "answer");
  args.call_timeout = CallTimeout();
  args.watch_timeout = WatchTimeout();
  mxgate::MemberClient client = Client();
  return mxgate::RunConnect(args, client, *mxgate::StdioTerminal());
}

struct Command {
  const char* name;
  int (*run)(const ScannedArgs&);
  // The flags it takes besides kEveryCommandFlags (underscore names).
  std::set<std::string> flags;
};

const std::set<std::string>& EveryCommandFlags() {
  static const auto* const kFlags =
      new std::set<std::string>{"target", "timeout_ms", "accept_version"};
  return *kFlags;
}

const std::vector<Command>& Commands() {
  static const auto* const kCommands = new std::vector<Command>{
      {"create-member",
       CreateMember,
       {"user", "institution", "credential", "product", "use_case", "member_id",
        "metadata", "oauth", "skip_aggregation", "background_aggregation_is_disabled",
        "callback_payload", "client_redirect_url", "enable_app2app", "referral_source",
        "ui_message_webview_url_scheme", "request_id"}},
      {"list-credentials", ListCredentials, {"institution", "page", "records_per_page"}},
      {"get-member", GetMember, {"user", "member"}},
      {"get-status", GetStatus, {"user", "member"}},
      {"resume", Resume, {"user", "member", "answer"}},
      {"delete-member", DeleteMember, {"user", "member"}},
      {"watch", Watch, {"user", "member", "watch_timeout_ms"}},
      {"connect",
       Connect,
       {"user", "institution", "credential", "credentials_file", "product", "member_id",
        "oauth", "answer", "watch_timeout_ms"}},
  };
  return *kCommands;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  // absl's --help lists only the flags of a file named after the program
  // (mxgate-cli.cc); ours are in mxgate_cli.cc.
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "mxgate_cli.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  ScannedArgs scanned =
      mxgate::ScanArgs(argc, argv, {"credential", "product", "use_case", "answer"});
  std::vector<char*> normalized;
  for (std::string& arg : scanned.args) normalized.push_back(arg.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(normalized.size()), normalized.data());

  std::vector<std::string> names;
  std::set<std::string> all_flags = EveryCommandFlags();
  for (const Command& command : Commands()) {
    names.emplace_back(command.name);
    all_flags.insert(command.flags.begin(), command.flags.end());
  }
  if (positional.size() < 2) {
    return Usage(absl::StrCat("name a command: ", absl::StrJoin(names, ", ")));
  }
  const std::string name = positional[1];
  if (positional.size() > 2) {
    return Usage(absl::StrCat("unexpected argument \"", positional[2], "\""));
  }
  for (const Command& command : Commands()) {
    if (name != command.name) continue;
    std::set<std::string> flags = command.flags;
    flags.insert(EveryCommandFlags().begin(), EveryCommandFlags().end());
    const absl::Status applies =
        mxgate::CheckFlagsApply(name, flags, all_flags, scanned.given);
    if (!applies.ok()) return Usage(std::string(applies.message()));
    return command.run(scanned);
  }
  return Usage(absl::StrCat("unknown command \"", name,
                            "\" (known: ", absl::StrJoin(names, ", "), ")"));
}
