#include "client/connect_flow.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "client/cli_args.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;

constexpr char kSpinner[] = "|/-\\";
// 10 redraws a second: the spinner visibly moves, the terminal barely works.
constexpr absl::Duration kRedrawPeriod = absl::Milliseconds(100);
// Credential fields are a handful; this only stops a pagination that never
// ends.
constexpr int kMaxCredentialPages = 20;

const google::protobuf::RepeatedPtrField<v1::ChallengeOption>& Choices(
    const v1::Challenge& challenge) {
  // Each menu type has its own list; take the other when MX filled only it.
  const bool image = challenge.type() == v1::CHALLENGE_TYPE_IMAGE_OPTIONS;
  const auto& own = image ? challenge.image_options() : challenge.options();
  const auto& other = image ? challenge.options() : challenge.image_options();
  return own.empty() ? other : own;
}

// Shows a member's status. On a live terminal one line is redrawn, by a
// thread while a watch runs, so that the clock and spinner move between
// messages; otherwise a line is printed whenever the status changes. While
// it ticks, only this object uses the terminal.
class Progress {
 public:
  explicit Progress(Terminal& terminal) : terminal_(terminal), live_(terminal.IsLive()) {}
  ~Progress() { StopTicking(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Elapsed times count from `start`.
  void Start(absl::Time start) { start_ = start; }

  // Shows `status` if it is new (live: redraws anyway). Thread-safe.
  void Update(const std::string& status) {
    absl::MutexLock lock(&mu_);
    if (live_) {
      status_ = status;
      Draw(frame_++);
      return;
    }
    if (status == status_) return;
    status_ = status;
    terminal_.PrintLine(ProgressText(status, absl::Now() - start_, -1));
  }

  void StartTicking() {
    if (live_ && !ticker_.joinable()) ticker_ = std::thread([this] { Tick(); });
  }

  // Stops the redraws; the last status stays on screen without the spinner.
  void StopTicking() {
    if (!ticker_.joinable()) return;
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    ticker_.join();
    absl::MutexLock lock(&mu_);
    stopping_ = false;
    Draw(-1);
  }

 private:
  void Tick() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      Draw(frame_++);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kRedrawPeriod);
    }
  }

  void Draw(int frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (status_.empty()) return;  // nothing known yet
    terminal_.ShowProgress(ProgressText(status_, absl::Now() - start_, frame));
  }

  Terminal& terminal_;
  const bool live_;
  absl::Time start_ = absl::Now();
  absl::Mutex mu_;
  std::string status_ ABSL_GUARDED_BY(mu_);  // the status shown last
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int frame_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread ticker_;
};

class ConnectFlow {
 public:
  ConnectFlow(const ConnectArgs& args, MemberApi& api, Terminal& terminal)
      : args_(args), api_(api), terminal_(terminal), progress_(terminal) {}

  int Run() {
    if (args_.user.empty()) return Usage("connect needs --user");
    if (args_.institution.empty()) return Usage("connect needs --institution");
    if (args_.oauth && (!args_.credentials.empty() || !args_.credentials_file.empty())) {
      return Usage(
          "--oauth takes no credentials: the person signs in at the institution");
    }
    CreateMemberArgs create;
    create.user = args_.user;
    create.institution = args_.institution;
    create.products = args_.products;
    create.member_id = args_.member_id;
    create.accept_version = args_.accept_version;
    if (args_.oauth) create.oauth = true;
    absl::StatusOr<v1::CreateMemberRequest> request = BuildCreateMemberRequest(create);
    if (!request.ok()) return Usage(request.status().message());
    if (!args_.oauth) {
      if (const int code = AddCredentials(*request); code != kExitOk) return code;
    }

    v1::CreateMemberResponse created;
    const grpc::Status status = api_.CreateMember(*request, &created, args_.call_timeout);
    if (!status.ok()) return RpcError(status);
    progress_.Start(absl::Now());
    member_ = created.member();
    // The guids work under every API version; ids only under v20250224.
    user_ = member_.user_guid().empty() ? args_.user : member_.user_guid();
    terminal_.PrintLine(
        absl::StrCat("Created member ", member_.guid(), " at ", InstitutionName(), "."));
    if (!member_.oauth_window_uri().empty()) {
      terminal_.PrintLine(absl::StrCat("Open this URL in a browser to sign in to ",
                                       InstitutionName(), " and allow access:"));
      terminal_.PrintLine(member_.oauth_window_uri());
    }
    progress_.Update(
        StatusName(member_.connection_status(), member_.connection_status_raw()));

    while (true) {
      v1::WatchMemberStatusResponse last;
      const grpc::Status watched = Watch(&last);
      if (!watched.ok()) return RpcError(watched);
      const std::string name = StatusName(last.status().connection_status(),
                                          last.status().connection_status_raw());
      switch (ExitCodeForWatchEnd(last)) {
        case kExitOk:
          terminal_.PrintLine(absl::StrCat("Connected: member ", member_.guid(), " at ",
                                           InstitutionName(), " is ", name, "."));
          return kExitOk;
        case kExitEndState:
          return EndState(name);
        case kExitChallenged:
          if (absl::optional<int> code = AnswerChallenges(last.status())) return *code;
          break;  // answered: watch again
        default:
          return RpcError(
              grpc::Status(grpc::StatusCode::UNKNOWN, kWatchEndedWithoutReason));
      }
    }
  }

 private:
  int Usage(absl::string_view problem) {
    terminal_.PrintError(UsageErrorText(problem));
    return kExitUsage;
  }

  int RpcError(const grpc::Status& status) {
    terminal_.PrintError(ErrorToJson(status));
    return kExitRpcError;
  }

  std::string InstitutionName() const {
    return member_.name().empty() ? args_.institution : member_.name();
  }

  // Asks mxgate for the institution's fields, takes each value from the
  // flags, the file or the person, and adds them to `request`. Returns
  // kExitOk, or the exit code when it cannot.
  int AddCredentials(v1::CreateMemberRequest& request) {
    std::vector<v1::CredentialField> fields;
    v1::ListInstitutionCredentialsRequest list;
    list.set_institution_code(args_.institution);
    list.set_accept_version(args_.accept_version);
    for (int page = 1; page <= kMaxCredentialPages; ++page) {
      list.set_page(page);
      v1::ListInstitutionCredentialsResponse response;
      const grpc::Status status =
          api_.ListInstitutionCredentials(list, &response, args_.call_timeout);
      if (!status.ok()) return RpcError(status);
      fields.insert(fields.end(), response.credentials().begin(),
                    response.credentials().end());
      if (page >= response.pagination().total_pages()) break;
    }
    if (fields.empty()) {
      return Usage(absl::StrCat(args_.institution,
                                " asks for no credentials: connect it with --oauth"));
    }

    absl::StatusOr<std::vector<CredentialEntry>> from_flags =
        ParseCredentialFlags(args_.credentials);
    if (!from_flags.ok()) return Usage(from_flags.status().message());
    std::vector<CredentialEntry> from_file;
    if (!args_.credentials_file.empty()) {
      std::ifstream in(args_.credentials_file);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) {
        return Usage(absl::StrCat("--credentials_file: cannot read \"",
                                  args_.credentials_file, "\""));
      }
      absl::StatusOr<std::vector<CredentialEntry>> parsed =
          ParseCredentialsFile(args_.credentials_file, text.str());
      if (!parsed.ok()) return Usage(parsed.status().message());
      from_file = *std::move(parsed);
    }
    absl::StatusOr<std::vector<FieldValue>> matched = MatchCredentials(
        InDisplayOrder(std::move(fields)), *from_flags, from_file, args_.institution);
    if (!matched.ok()) return Usage(matched.status().message());

    if (!terminal_.CanPrompt()) {
      std::vector<std::string> missing;
      for (const FieldValue& field : *matched) {
        if (!field.value.has_value()) missing.push_back(FieldDescription(field.field));
      }
      if (!missing.empty()) {
        return Usage(
            absl::StrCat("no value for ", absl::StrJoin(missing, ", "),
                         " and no terminal to ask on: give --credential=FIELD=VALUE or "
                         "--credentials-file"));
      }
    }
    for (FieldValue& field : *matched) {
      if (!field.value.has_value()) {
        const std::string label =
            field.field.label().empty() ? field.field.field_name() : field.field.label();
        field.value =
            terminal_.Prompt(absl::StrCat(label, ": "), IsSecretField(field.field));
        while (field.value.has_value() && field.value->empty()) {
          field.value = terminal_.Prompt(absl::StrCat(label, " (required): "),
                                         IsSecretField(field.field));
        }
        if (!field.value.has_value()) {
          return Usage(absl::StrCat("no value for ", FieldDescription(field.field),
                                    ": the input ended"));
        }
      }
      v1::Credential* credential = request.mutable_member()->add_credentials();
      credential->set_guid(field.field.guid());
      credential->set_value(*std::move(field.value));
    }
    return kExitOk;
  }

  static std::string FieldDescription(const v1::CredentialField& field) {
    return absl::StrCat(field.field_name().empty() ? field.guid() : field.field_name(),
                        " (\"", field.label(), "\")");
  }

  grpc::Status Watch(v1::WatchMemberStatusResponse* last) {
    v1::WatchMemberStatusRequest request;
    request.set_user_identifier(user_);
    request.set_member_identifier(member_.guid());
    request.set_accept_version(args_.accept_version);
    progress_.StartTicking();
    grpc::Status status = api_.WatchMemberStatus(
        request,
        [&](const v1::WatchMemberStatusResponse& message) {
          *last = message;
          progress_.Update(StatusName(message.status().connection_status(),
                                      message.status().connection_status_raw()));
        },
        args_.watch_timeout);
    progress_.StopTicking();
    return status;
  }

  int EndState(const std::string& status_name) {
    // Why is in the member's connection_status_message, not in its status.
    v1::GetMemberRequest request;
    request.set_user_identifier(user_);
    request.set_member_identifier(member_.guid());
    request.set_accept_version(args_.accept_version);
    v1::GetMemberResponse response;
    std::string why;
    if (api_.GetMember(request, &response, args_.call_timeout).ok()) {
      why = response.member().connection_status_message();
    }
    terminal_.PrintLine(absl::StrCat("Not connected: member ", member_.guid(), " at ",
                                     InstitutionName(), " is ", status_name,
                                     why.empty() ? "" : ": ", why));
    return kExitEndState;
  }

  // Answers the open questions and resumes the member. nullopt once
  // resumed (watch again); otherwise the exit code.
  absl::optional<int> AnswerChallenges(const v1::MemberStatus& status) {
    google::protobuf::RepeatedPtrField<v1::Challenge> challenges = status.challenges();
    if (challenges.empty()) {  // the watch's status should carry them; ask
      v1::GetMemberStatusRequest request;
      request.set_user_identifier(user_);
      request.set_member_identifier(member_.guid());
      request.set_accept_version(args_.accept_version);
      v1::GetMemberStatusResponse response;
      const grpc::Status got =
          api_.GetMemberStatus(request, &response, args_.call_timeout);
      if (!got.ok()) return RpcError(got);
      challenges = response.status().challenges();
    }
    if (challenges.empty()) return Unanswered(challenges);
    v1::ResumeMemberRequest resume;
    resume.set_user_identifier(user_);
    resume.set_member_identifier(member_.guid());
    resume.set_accept_version(args_.accept_version);
    for (const v1::Challenge& challenge : challenges) {
      absl::StatusOr<std::string> answer = NextAnswer(challenge);
      if (absl::IsInvalidArgument(answer.status()))
        return Usage(answer.status().message());
      if (!answer.ok()) return Unanswered(challenges);
      v1::ChallengeAnswer* out = resume.add_challenges();
      out->set_guid(challenge.guid());
      out->set_value(*std::move(answer));
    }
    v1::ResumeMemberResponse resumed;
    const grpc::Status status_of_resume =
        api_.ResumeMember(resume, &resumed, args_.call_timeout);
    if (!status_of_resume.ok()) return RpcError(status_of_resume);
    progress_.Update(StatusName(resumed.member().connection_status(),
                                resumed.member().connection_status_raw()));
    return absl::nullopt;
  }

  // The answer to `challenge`: the next --answer, else what the person
  // types. INVALID_ARGUMENT for an --answer that fits no choice of a menu;
  // FAILED_PRECONDITION when there is no answer to be had (no --answer
  // left and no terminal, or the input ended).
  absl::StatusOr<std::string> NextAnswer(const v1::Challenge& challenge) {
    const int choices = Choices(challenge).size();
    if (next_answer_ < args_.answers.size()) {
      const size_t position = ++next_answer_;
      const std::string& given = args_.answers[position - 1];
      terminal_.PrintLine(absl::StrCat("MFA question: ", challenge.label(),
                                       " (answered by --answer #", position, ")"));
      if (!IsMenu(challenge)) return given;
      if (absl::optional<std::string> value = ChooseOption(challenge, given))
        return *value;
      return absl::InvalidArgumentError(
          absl::StrCat("--answer #", position, " is neither a number from 1 to ", choices,
                       " nor the value of a choice of \"", challenge.label(), "\""));
    }
    if (!terminal_.CanPrompt()) return absl::FailedPreconditionError("no terminal");
    std::string prompt = ChallengePrompt(challenge);
    while (true) {
      absl::optional<std::string> typed = terminal_.Prompt(prompt, /*hide_input=*/false);
      if (!typed.has_value()) return absl::FailedPreconditionError("input ended");
      if (IsMenu(challenge)) {
        if (absl::optional<std::string> value = ChooseOption(challenge, *typed)) {
          return *value;
        }
        prompt = absl::StrCat("Type a number from 1 to ", choices, ": ");
      } else if (!typed->empty()) {
        return *typed;
      } else {
        prompt = "An answer is required: ";
      }
    }
  }

  // Says what is asked and how to answer later; kExitChallenged.
  int Unanswered(const google::protobuf::RepeatedPtrField<v1::Challenge>& challenges) {
    terminal_.PrintLine(absl::StrCat("Member ", member_.guid(),
                                     " waits for answers to its MFA questions:"));
    for (const v1::Challenge& challenge : challenges) {
      terminal_.PrintLine(absl::StrCat("  ", challenge.guid(), "  ", challenge.label()));
      if (!IsMenu(challenge)) continue;
      for (const v1::ChallengeOption& option : Choices(challenge)) {
        terminal_.PrintLine(
            absl::StrCat("      value ", option.value(), ": ", option.label()));
      }
    }
    terminal_.PrintLine(absl::StrCat("Answer with: mxgate-cli resume --user=", user_,
                                     " --member=", member_.guid(),
                                     " --answer=GUID=VALUE..."));
    return kExitChallenged;
  }

  const ConnectArgs& args_;
  MemberApi& api_;
  Terminal& terminal_;
  Progress progress_;
  v1::Member member_;
  std::string user_;
  size_t next_answer_ = 0;  // index into args_.answers
};

}  // namespace

int RunConnect(const ConnectArgs& args, MemberApi& api, Terminal& terminal) {
  return ConnectFlow(args, api, terminal).Run();
}

std::vector<v1::CredentialField> InDisplayOrder(std::vector<v1::CredentialField> fields) {
  std::stable_sort(fields.begin(), fields.end(),
                   [](const v1::CredentialField& a, const v1::CredentialField& b) {
                     return a.display_order() < b.display_order();
                   });
  return fields;
}

bool IsSecretField(const v1::CredentialField& field) {
  return absl::EqualsIgnoreCase(field.field_type(), "PASSWORD") ||
         absl::EqualsIgnoreCase(field.type(), "PASSWORD");
}

absl::StatusOr<std::vector<CredentialEntry>> ParseCredentialFlags(
    const std::vector<std::string>& values) {
  std::vector<CredentialEntry> entries;
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t equals = values[i].find('=');
    if (equals == std::string::npos) {
      // The value may be a secret: say which, not what.
      return absl::InvalidArgumentError(
          absl::StrCat("--credential #", i + 1,
                       ": expected FIELD=VALUE (FIELD a guid or a "
                       "field_name such as PASSWORD)"));
    }
    entries.push_back({values[i].substr(0, equals), values[i].substr(equals + 1),
                       absl::StrCat("--credential #", i + 1)});
  }
  return entries;
}

absl::StatusOr<std::vector<CredentialEntry>> ParseCredentialsFile(
    absl::string_view path, absl::string_view text) {
  std::vector<CredentialEntry> entries;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty() ||
        absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "#")) {
      continue;
    }
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--credentials_file ", path, " line ", number, ": expected FIELD=VALUE"));
    }
    entries.push_back({std::string(absl::StripAsciiWhitespace(line.substr(0, equals))),
                       std::string(line.substr(equals + 1)),
                       absl::StrCat(path, " line ", number)});
  }
  return entries;
}

absl::StatusOr<std::vector<FieldValue>> MatchCredentials(
    const std::vector<v1::CredentialField>& fields,
    const std::vector<CredentialEntry>& from_flags,
    const std::vector<CredentialEntry>& from_file, absl::string_view institution) {
  std::vector<FieldValue> matched;
  matched.reserve(fields.size());
  for (const v1::CredentialField& field : fields)
    matched.push_back({field, absl::nullopt});
  auto find = [&](const std::string& name) -> FieldValue* {
    for (FieldValue& field : matched) {
      if (field.field.guid() == name) return &field;
    }
    for (FieldValue& field : matched) {
      if (!field.field.field_name().empty() &&
          absl::EqualsIgnoreCase(field.field.field_name(), name)) {
        return &field;
      }
    }
    return nullptr;
  };
  // Flags first, so that their values stand; the file fills the rest.
  for (const std::vector<CredentialEntry>* entries : {&from_flags, &from_file}) {
    std::vector<const FieldValue*> seen;
    for (const CredentialEntry& entry : *entries) {
      FieldValue* field = find(entry.field);
      if (field == nullptr) {
        std::vector<std::string> names;
        names.reserve(matched.size());
        for (const FieldValue& known : matched) {
          names.push_back(known.field.field_name().empty() ? known.field.guid()
                                                           : known.field.field_name());
        }
        return absl::InvalidArgumentError(absl::StrCat(
            entry.source, ": ", institution, " has no credential field \"", entry.field,
            "\" (its fields: ", absl::StrJoin(names, ", "), ")"));
      }
      if (std::find(seen.begin(), seen.end(), field) != seen.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            entry.source, ": the field ", field->field.field_name(), " is given twice"));
      }
      seen.push_back(field);
      if (!field->value.has_value()) field->value = entry.value;
    }
  }
  return matched;
}

bool IsMenu(const v1::Challenge& challenge) {
  return (challenge.type() == v1::CHALLENGE_TYPE_OPTIONS ||
          challenge.type() == v1::CHALLENGE_TYPE_IMAGE_OPTIONS) &&
         !Choices(challenge).empty();
}

absl::optional<std::string> ChooseOption(const v1::Challenge& challenge,
                                         absl::string_view typed) {
  const auto& choices = Choices(challenge);
  const absl::string_view stripped = absl::StripAsciiWhitespace(typed);
  for (const v1::ChallengeOption& choice : choices) {
    if (choice.value() == typed) return choice.value();
  }
  int number;
  if (absl::SimpleAtoi(stripped, &number) && number >= 1 && number <= choices.size()) {
    return choices[number - 1].value();
  }
  return absl::nullopt;
}

std::string DescribeImage(absl::string_view image_data) {
  absl::string_view payload = image_data;
  std::string type;
  bool base64 = true;
  if (absl::ConsumePrefix(&payload, "data:")) {
    const size_t comma = payload.find(',');
    if (comma == absl::string_view::npos) {
      return absl::StrCat(image_data.size(), " characters");
    }
    const absl::string_view meta = payload.substr(0, comma);
    payload.remove_prefix(comma + 1);
    type = std::string(meta.substr(0, meta.find(';')));
    base64 = absl::EndsWith(meta, ";base64");
  }
  std::string decoded;
  if (!base64 || !absl::Base64Unescape(payload, &decoded)) {
    return type.empty() ? absl::StrCat(image_data.size(), " characters")
                        : absl::StrCat(type, ", ", payload.size(), " bytes");
  }
  if (type.empty()) {  // bare base64: the data's own signature says what
    if (absl::StartsWith(decoded, "\x89PNG")) type = "image/png";
    if (absl::StartsWith(decoded, "\xFF\xD8\xFF")) type = "image/jpeg";
    if (absl::StartsWith(decoded, "GIF8")) type = "image/gif";
  }
  return absl::StrCat(type.empty() ? "" : absl::StrCat(type, ", "), decoded.size(),
                      " bytes");
}

std::string ChallengePrompt(const v1::Challenge& challenge) {
  std::string text = absl::StrCat(challenge.label(), "\n");
  if (IsMenu(challenge)) {
    const auto& choices = Choices(challenge);
    for (int i = 0; i < choices.size(); ++i) {
      absl::StrAppend(&text, "  ", i + 1, ") ", choices[i].label());
      if (!choices[i].data_uri().empty()) {
        absl::StrAppend(&text, " [image: ", DescribeImage(choices[i].data_uri()), "]");
      }
      absl::StrAppend(&text, "\n");
    }
    absl::StrAppend(&text, "Choose 1-", choices.size(), ": ");
    return text;
  }
  if (!challenge.image_data().empty()) {
    absl::StrAppend(&text, "(An image came with the question: ",
                    DescribeImage(challenge.image_data()),
                    "; it cannot be shown here.)\n");
  }
  absl::StrAppend(&text, "Answer: ");
  return text;
}

std::string StatusName(v1::ConnectionStatus status, absl::string_view raw) {
  if (status == v1::CONNECTION_STATUS_UNSPECIFIED && !raw.empty())
    return std::string(raw);
  return std::string(
      absl::StripPrefix(v1::ConnectionStatus_Name(status), "CONNECTION_STATUS_"));
}

std::string ProgressText(absl::string_view status, absl::Duration elapsed, int spinner) {
  std::string text = absl::StrFormat("%s  %.1fs", status, absl::ToDoubleSeconds(elapsed));
  if (spinner >= 0) absl::StrAppend(&text, "  ", std::string(1, kSpinner[spinner % 4]));
  return text;
}

}  // namespace mxgate
