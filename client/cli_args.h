// Command-line handling of mxgate-cli that is worth testing apart from the
// program: flag spelling, repeatable flags, which flags a command takes,
// turning flag values into requests, and the exit codes. The CLI checks
// only what it must to build a request; the gateway validates the rest and
// says what is wrong.
#ifndef MXGATE_CLIENT_CLI_ARGS_H_
#define MXGATE_CLIENT_CLI_ARGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "mx/platform/v1/member_service.pb.h"

namespace mxgate {

struct ScannedArgs {
  // argv with each `--flag-name` spelled `--flag_name` (absl's form), and
  // the repeatable flags removed.
  std::vector<std::string> args;
  // Every value of each repeatable flag, in order.
  std::map<std::string, std::vector<std::string>> repeated;
  // The names (underscore form) of the flags given.
  std::set<std::string> given;
};

// Scans argv. `repeatable` names flags that may appear many times
// (`--credential=A=1 --credential B=2`); absl keeps only the last value.
ScannedArgs ScanArgs(int argc, char** argv, const std::set<std::string>& repeatable);

// mxgate-cli's exit codes, listed in its --help.
enum ExitCode : int {
  kExitOk = 0,          // the call succeeded; watch/connect: CONNECTED
  kExitRpcError = 1,    // the gateway or gRPC answered an error (JSON on stderr)
  kExitUsage = 2,       // bad flags, or a value needed and no terminal to ask
  kExitChallenged = 3,  // watch/connect: MFA questions wait for answers
  kExitEndState = 4,    // watch/connect: an end state (DENIED, FAILED, ...)
};

// What a usage error prints on stderr before exiting kExitUsage: the
// problem on one line, then where to look.
std::string UsageErrorText(absl::string_view problem);

// The exit code for the last message of a watch: kExitRpcError when it is
// not `final` or has no known end_reason, for then nothing says how the
// watch ended (print kWatchEndedWithoutReason as an UNKNOWN error).
ExitCode ExitCodeForWatchEnd(const ::mx::platform::v1::WatchMemberStatusResponse& last);
inline constexpr char kWatchEndedWithoutReason[] = "the watch ended without saying why";

// OK when every flag in `given` (ScannedArgs::given) that is one of
// `all_flags` is among `command_flags`; otherwise INVALID_ARGUMENT naming
// the first that is not, e.g. "--member_id does not apply to get-member".
// Names outside `all_flags` (absl's own, --noX spellings) are left to absl.
absl::Status CheckFlagsApply(absl::string_view command,
                             const std::set<std::string>& command_flags,
                             const std::set<std::string>& all_flags,
                             const std::set<std::string>& given);

struct CreateMemberArgs {
  std::string user;
  std::string institution;
  std::vector<std::string> credentials;  // GUID=VALUE
  std::vector<std::string> products;     // "transactions" or "PRODUCT_TRANSACTIONS"
  std::vector<std::string> use_cases;    // "PFM" or "USE_CASE_PFM"
  std::string member_id;
  std::string metadata;
  std::string callback_payload;
  std::string accept_version;
  std::string client_redirect_url;
  std::string referral_source;  // "APP" / "BROWSER" or the enum name
  std::string ui_message_webview_url_scheme;
  std::string request_id;
  absl::optional<bool> oauth;
  absl::optional<bool> skip_aggregation;
  absl::optional<bool> background_aggregation_is_disabled;
  absl::optional<bool> enable_app2app;
};

// INVALID_ARGUMENT naming the flag when a credential has no `=`, or a
// product, use case or referral source is not a known name.
absl::StatusOr<::mx::platform::v1::CreateMemberRequest> BuildCreateMemberRequest(
    const CreateMemberArgs& args);

// A ResumeMemberRequest answering with `answers`, each GUID=VALUE (the
// challenge's guid, then the answer). INVALID_ARGUMENT naming --answer and
// its position, never its value, when one has no `=`.
absl::StatusOr<::mx::platform::v1::ResumeMemberRequest> BuildResumeMemberRequest(
    const std::string& user, const std::string& member,
    const std::vector<std::string>& answers);

}  // namespace mxgate

#endif  // MXGATE_CLIENT_CLI_ARGS_H_
