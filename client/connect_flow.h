// `mxgate-cli connect`: connects a user to an institution from a terminal
// or a script. Asks for what the institution needs (its credential fields,
// then any MFA questions), creates the member, and follows it until it is
// connected or cannot be. Talks to mxgate through MemberApi and to the
// person through Terminal, so the whole flow runs against fakes in tests.
//
// Never prints, logs or puts in an error message a credential value or an
// answer: messages name the field, the flag and its position instead.
#ifndef MXGATE_CLIENT_CONNECT_FLOW_H_
#define MXGATE_CLIENT_CONNECT_FLOW_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/member_client.h"
#include "client/terminal.h"
#include "mx/platform/v1/member.pb.h"

namespace mxgate {

struct ConnectArgs {
  std::string user;
  std::string institution;
  // --credential values: FIELD=VALUE, FIELD a field's guid or field_name.
  std::vector<std::string> credentials;
  // --credentials-file: a file of FIELD=VALUE lines (# starts a comment).
  std::string credentials_file;
  std::vector<std::string> products;  // as for create-member
  std::string member_id;
  std::string accept_version;
  // An OAuth member: no credentials; the person opens oauth_window_uri.
  bool oauth = false;
  // --answer values, used in order for the MFA questions as they come.
  std::vector<std::string> answers;
  absl::Duration call_timeout = absl::Seconds(30);
  absl::Duration watch_timeout = absl::Minutes(10);
};

// Runs the flow; returns mxgate-cli's exit code (cli_args.h): kExitOk once
// CONNECTED, kExitEndState for an end state (DENIED, FAILED, ...),
// kExitChallenged when questions remain and no answer can be had,
// kExitRpcError for an error of a call (printed as JSON), kExitUsage for bad
// flags or a credential missing with no terminal to ask.
int RunConnect(const ConnectArgs& args, MemberApi& api, Terminal& terminal);

// ---------------------------------------------------------------------------
// The flow's pure parts, exposed for tests.

// The fields in ascending display_order; MX's order breaks ties.
std::vector<::mx::platform::v1::CredentialField> InDisplayOrder(
    std::vector<::mx::platform::v1::CredentialField> fields);

// Whether what is typed for `field` must not be echoed: its field_type or
// type is PASSWORD (any case).
bool IsSecretField(const ::mx::platform::v1::CredentialField& field);

// One FIELD=VALUE given for a credential, and where it came from for
// messages ("--credential #2", "creds.txt line 3").
struct CredentialEntry {
  std::string field;
  std::string value;
  std::string source;
};

// --credential values as entries. INVALID_ARGUMENT naming the position
// when one has no `=`.
absl::StatusOr<std::vector<CredentialEntry>> ParseCredentialFlags(
    const std::vector<std::string>& values);

// The text of a credentials file as entries: one FIELD=VALUE per line, the
// value everything after the first `=` (spaces kept, a final \r dropped);
// blank lines and lines starting with # are skipped. INVALID_ARGUMENT
// naming `path` and the line when a line has no `=`.
absl::StatusOr<std::vector<CredentialEntry>> ParseCredentialsFile(absl::string_view path,
                                                                  absl::string_view text);

// A field in display order with its value, if one was given.
struct FieldValue {
  ::mx::platform::v1::CredentialField field;
  absl::optional<std::string> value;
};

// Matches entries to `fields` by guid, or by field_name in any case. Flag
// entries win over file entries. INVALID_ARGUMENT when an entry names no
// field of `institution` or a source gives a field twice.
absl::StatusOr<std::vector<FieldValue>> MatchCredentials(
    const std::vector<::mx::platform::v1::CredentialField>& fields,
    const std::vector<CredentialEntry>& from_flags,
    const std::vector<CredentialEntry>& from_file, absl::string_view institution);

// Whether a challenge is answered by picking one of its choices (OPTIONS,
// IMAGE_OPTIONS, with at least one choice).
bool IsMenu(const ::mx::platform::v1::Challenge& challenge);

// The value to answer a menu challenge with when `typed` was given: a
// choice's number as shown (from 1) or a choice's value. nullopt when it is
// neither.
absl::optional<std::string> ChooseOption(const ::mx::platform::v1::Challenge& challenge,
                                         absl::string_view typed);

// "image/png, 70 bytes" for a base64 data URI; the size of the decoded
// data for bare base64; "N characters" for anything else.
std::string DescribeImage(absl::string_view image_data);

// What to show for a challenge, ending with the line to answer on: the
// label, then a numbered menu (menus) or a note that an image was sent
// (IMAGE_DATA).
std::string ChallengePrompt(const ::mx::platform::v1::Challenge& challenge);

// The status's name without its prefix ("CONNECTED"), or MX's raw value
// when mxgate did not know it.
std::string StatusName(::mx::platform::v1::ConnectionStatus status,
                       absl::string_view raw);

// The progress line: "CREATED  1.2s  /". `spinner` picks the spinner's
// frame; a negative one leaves the spinner out.
std::string ProgressText(absl::string_view status, absl::Duration elapsed, int spinner);

}  // namespace mxgate

#endif  // MXGATE_CLIENT_CONNECT_FLOW_H_
