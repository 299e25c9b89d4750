// mxgate-cli: calls mxgate from a terminal or a script.
//
//   mxgate-cli create-member --target=HOST:PORT --user=ID --institution=CODE
//       --credential=GUID=VALUE ... [--product=transactions ...]
//
// Prints the response as proto3 JSON on stdout and exits 0; on an error
// prints code, message and details as JSON on stderr and exits 1; exits 2
// on a usage error.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli_args.h"
#include "client/member_client.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "mxgate's HOST:PORT");
ABSL_FLAG(int, timeout_ms, 30000, "deadline of the call in milliseconds");
ABSL_FLAG(std::string, user, "", "user_identifier: your user id or MX's USR- guid");
ABSL_FLAG(std::string, institution, "", "member.institution_code, e.g. mxbank");
ABSL_FLAG(std::vector<std::string>, credential, {},
          "GUID=VALUE, repeatable: one per credential field of the institution");
ABSL_FLAG(std::vector<std::string>, product, {},
          "repeatable: a product for data_request (transactions, "
          "account_verification, ...)");
ABSL_FLAG(std::vector<std::string>, use_case, {}, "repeatable: PFM or MONEY_MOVEMENT");
ABSL_FLAG(std::string, member_id, "", "member.id: your own id for the member");
ABSL_FLAG(std::string, metadata, "", "member.metadata");
ABSL_FLAG(bool, oauth, false, "member.is_oauth: create an OAuth member (no credentials)");
ABSL_FLAG(bool, skip_aggregation, false, "member.skip_aggregation (v20111101 only)");
ABSL_FLAG(bool, background_aggregation_is_disabled, false,
          "member.background_aggregation_is_disabled");
ABSL_FLAG(std::string, callback_payload, "", "X-CALLBACK-PAYLOAD: base64, at most 1024 chars");
ABSL_FLAG(std::string, accept_version, "", "v20250224 or v20111101; default: the gateway's");
ABSL_FLAG(std::string, client_redirect_url, "", "OAuth: where MX redirects at the end");
ABSL_FLAG(bool, enable_app2app, true, "OAuth: whether the OAuth URL may open the bank's app");
ABSL_FLAG(std::string, referral_source, "", "OAuth: APP or BROWSER");
ABSL_FLAG(std::string, ui_message_webview_url_scheme, "", "OAuth: WebView redirect scheme");
ABSL_FLAG(std::string, request_id, "", "idempotency key (AIP-155)");

namespace {

constexpr char kUsage[] =
    "calls the mxgate gateway.\n\n"
    "  mxgate-cli create-member --user=ID --institution=CODE "
    "--credential=GUID=VALUE... [flags]\n\n"
    "Flags may be written with dashes or underscores (--member-id, "
    "--member_id).\nThe response is printed as JSON; an error as JSON on "
    "stderr with exit code 1.";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "mxgate-cli: %s\nRun mxgate-cli --help for the flags.\n",
               problem.c_str());
  return 2;
}

int CreateMember(const mxgate::ScannedArgs& scanned) {
  mxgate::CreateMemberArgs args;
  args.user = absl::GetFlag(FLAGS_user);
  args.institution = absl::GetFlag(FLAGS_institution);
  auto repeated = [&](const char* name) {
    auto it = scanned.repeated.find(name);
    return it == scanned.repeated.end() ? std::vector<std::string>{} : it->second;
  };
  args.credentials = repeated("credential");
  args.products = repeated("product");
  args.use_cases = repeated("use_case");
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

  absl::StatusOr<mx::platform::v1::CreateMemberRequest> request =
      mxgate::BuildCreateMemberRequest(args);
  if (!request.ok()) return Usage(std::string(request.status().message()));

  mxgate::MemberClient client(grpc::CreateChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  mx::platform::v1::CreateMemberResponse response;
  const grpc::Status status = client.CreateMember(
      *request, &response, absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)));
  if (!status.ok()) {
    std::cerr << mxgate::ErrorToJson(status);
    return 1;
  }
  std::cout << mxgate::ToJson(response);
  return 0;
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
  mxgate::ScannedArgs scanned =
      mxgate::ScanArgs(argc, argv, {"credential", "product", "use_case"});
  std::vector<char*> normalized;
  for (std::string& arg : scanned.args) normalized.push_back(arg.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(normalized.size()), normalized.data());
  if (positional.size() < 2) return Usage("name a command: create-member");
  const std::string command = positional[1];
  if (positional.size() > 2) {
    return Usage(absl::StrCat("unexpected argument \"", positional[2], "\""));
  }
  if (command == "create-member") return CreateMember(scanned);
  return Usage(absl::StrCat("unknown command \"", command, "\" (known: create-member)"));
}
