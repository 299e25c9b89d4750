// Command-line handling of mxgate-cli that is worth testing apart from the
// program: flag spelling, repeatable flags, and turning flag values into a
// CreateMemberRequest. The CLI checks only what it must to build the
// request; the gateway validates the rest and says what is wrong.
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
ScannedArgs ScanArgs(int argc, char** argv,
                     const std::set<std::string>& repeatable);

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

}  // namespace mxgate

#endif  // MXGATE_CLIENT_CLI_ARGS_H_
