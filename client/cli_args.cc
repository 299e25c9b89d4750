#include "client/cli_args.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;

// Looks `name` up as an enum value, either as written ("PRODUCT_TRANSACTIONS")
// or as MX writes it ("transactions") after `prefix`.
template <typename Enum, typename ParseFn>
absl::optional<Enum> ParseEnum(absl::string_view name, absl::string_view prefix,
                               ParseFn parse) {
  const std::string upper = absl::AsciiStrToUpper(name);
  Enum value;
  if (absl::StartsWith(upper, prefix) ? parse(upper, &value)
                                      : parse(absl::StrCat(prefix, upper), &value)) {
    if (static_cast<int>(value) != 0) return value;  // never _UNSPECIFIED
  }
  return absl::nullopt;
}

}  // namespace

ScannedArgs ScanArgs(int argc, char** argv, const std::set<std::string>& repeatable) {
  ScannedArgs scanned;
  if (argc > 0) scanned.args.emplace_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {  // everything after it is positional
      for (; i < argc; ++i) scanned.args.emplace_back(argv[i]);
      break;
    }
    if (!absl::StartsWith(arg, "--")) {
      scanned.args.push_back(std::move(arg));
      continue;
    }
    const size_t equals = arg.find('=');
    std::string name =
        arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    scanned.given.insert(absl::StartsWith(name, "no") ? name.substr(2) : name);
    scanned.given.insert(name);
    if (repeatable.count(name) > 0) {
      if (equals != std::string::npos) {
        scanned.repeated[name].push_back(arg.substr(equals + 1));
      } else if (i + 1 < argc) {
        scanned.repeated[name].push_back(argv[++i]);
      } else {
        // No value: let absl report "Missing the value" rather than drop it.
        scanned.args.push_back(absl::StrCat("--", name));
      }
      continue;
    }
    scanned.args.push_back(
        absl::StrCat("--", name, equals == std::string::npos ? "" : arg.substr(equals)));
  }
  return scanned;
}

std::string UsageErrorText(absl::string_view problem) {
  return absl::StrCat("mxgate-cli: ", problem,
                      "\nRun mxgate-cli --help for the flags.\n");
}

ExitCode ExitCodeForWatchEnd(const v1::WatchMemberStatusResponse& last) {
  if (!last.final()) return kExitRpcError;
  switch (last.end_reason()) {
    case v1::WATCH_END_REASON_CONNECTED:
      return kExitOk;
    case v1::WATCH_END_REASON_CHALLENGED:
      return kExitChallenged;
    case v1::WATCH_END_REASON_END_STATE:
      return kExitEndState;
    default:  // no reason, or one newer than this CLI
      return kExitRpcError;
  }
}

absl::Status CheckFlagsApply(absl::string_view command,
                             const std::set<std::string>& command_flags,
                             const std::set<std::string>& all_flags,
                             const std::set<std::string>& given) {
  for (const std::string& name : given) {
    if (all_flags.count(name) > 0 && command_flags.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " does not apply to ", command));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ResumeMemberRequest> BuildResumeMemberRequest(
    const std::string& user, const std::string& member,
    const std::vector<std::string>& answers) {
  v1::ResumeMemberRequest request;
  request.set_user_identifier(user);
  request.set_member_identifier(member);
  for (size_t i = 0; i < answers.size(); ++i) {
    const size_t equals = answers[i].find('=');
    if (equals == std::string::npos) {
      // An answer may be a secret: say which, not what.
      return absl::InvalidArgumentError(
          absl::StrCat("--answer #", i + 1,
                       ": expected GUID=VALUE (the challenge's guid, then "
                       "the answer)"));
    }
    v1::ChallengeAnswer* answer = request.add_challenges();
    answer->set_guid(answers[i].substr(0, equals));
    answer->set_value(answers[i].substr(equals + 1));
  }
  return request;
}

absl::StatusOr<v1::CreateMemberRequest> BuildCreateMemberRequest(
    const CreateMemberArgs& args) {
  v1::CreateMemberRequest request;
  request.set_user_identifier(args.user);
  request.set_accept_version(args.accept_version);
  request.set_callback_payload(args.callback_payload);
  request.set_client_redirect_url(args.client_redirect_url);
  request.set_ui_message_webview_url_scheme(args.ui_message_webview_url_scheme);
  request.set_request_id(args.request_id);
  if (args.enable_app2app.has_value()) request.set_enable_app2app(*args.enable_app2app);
  if (!args.referral_source.empty()) {
    auto source = ParseEnum<v1::ReferralSource>(args.referral_source, "REFERRAL_SOURCE_",
                                                v1::ReferralSource_Parse);
    if (!source.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--referral_source: expected APP or BROWSER, got \"",
                       args.referral_source, "\""));
    }
    request.set_referral_source(*source);
  }

  v1::Member& member = *request.mutable_member();
  member.set_institution_code(args.institution);
  member.set_id(args.member_id);
  member.set_metadata(args.metadata);
  if (args.oauth.has_value()) member.set_is_oauth(*args.oauth);
  if (args.skip_aggregation.has_value()) {
    member.set_skip_aggregation(*args.skip_aggregation);
  }
  if (args.background_aggregation_is_disabled.has_value()) {
    member.set_background_aggregation_is_disabled(
        *args.background_aggregation_is_disabled);
  }
  for (const std::string& credential : args.credentials) {
    const size_t equals = credential.find('=');
    if (equals == std::string::npos) {
      // The value may be a secret: name the flag, not what was given.
      return absl::InvalidArgumentError(
          "--credential: expected GUID=VALUE (the value may be empty only "
          "after the =)");
    }
    v1::Credential* out = member.add_credentials();
    out->set_guid(credential.substr(0, equals));
    out->set_value(credential.substr(equals + 1));
  }
  for (const std::string& name : args.use_cases) {
    auto use_case = ParseEnum<v1::UseCase>(name, "USE_CASE_", v1::UseCase_Parse);
    if (!use_case.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--use_case: expected PFM or MONEY_MOVEMENT, got \"", name, "\""));
    }
    member.add_use_cases(*use_case);
  }
  for (const std::string& name : args.products) {
    auto product = ParseEnum<v1::Product>(name, "PRODUCT_", v1::Product_Parse);
    if (!product.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--product: unknown product \"", name,
                       "\" (account_verification, identity_verification, transactions, "
                       "transaction_history, statements, investments, rewards)"));
    }
    request.mutable_data_request()->add_products(*product);
  }
  return request;
}

}  // namespace mxgate
