#include "sandbox/fault_injection.h"

#include <random>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace mxgate {
namespace sandbox {
namespace {

struct FaultInfo {
  FaultKind fault;
  const char* name;
  FaultPhase phase;
  bool mx_acts_first;
  // The keys this fault takes besides the common ones.
  std::set<std::string> keys;
};

const std::vector<FaultInfo>& Faults() {
  static const auto* faults = new std::vector<FaultInfo>{
      {FaultKind::kLatency, "latency", FaultPhase::kAfterRequest, true, {"latency_ms"}},
      {FaultKind::kHttpError,
       "http_error",
       FaultPhase::kAfterRequest,
       false,
       {"status", "retry_after_s"}},
      {FaultKind::kResetBeforeRequest,
       "reset_before_request",
       FaultPhase::kBeforeRequest,
       false,
       {}},
      {FaultKind::kResetAfterRequest,
       "reset_after_request",
       FaultPhase::kAfterRequest,
       true,
       {}},
      {FaultKind::kTruncatedBody, "truncated_body", FaultPhase::kAfterRequest, true, {}},
      {FaultKind::kMalformedBody, "malformed_body", FaultPhase::kAfterRequest, true, {}},
      {FaultKind::kOversizedBody,
       "oversized_body",
       FaultPhase::kAfterRequest,
       true,
       {"body_bytes"}},
      {FaultKind::kEndlessBody,
       "endless_body",
       FaultPhase::kAfterRequest,
       true,
       {"chunk_bytes", "interval_ms"}},
      {FaultKind::kSlowBody,
       "slow_body",
       FaultPhase::kAfterRequest,
       true,
       {"chunk_bytes", "interval_ms"}},
      {FaultKind::kCloseAfterResponse,
       "close_after_response",
       FaultPhase::kAfterRequest,
       true,
       {}},
  };
  return *faults;
}

const FaultInfo& InfoOf(FaultKind fault) {
  for (const FaultInfo& info : Faults()) {
    if (info.fault == fault) return info;
  }
  return Faults().front();
}

// Limits of the numeric fields: wide enough for any test, small enough
// that a typo cannot hang the sandbox for hours or exhaust its memory.
constexpr int kMaxLatencyMs = 120000;                        /*2 min*/
constexpr int kMaxRetryAfterS = 3600;                        /*1 h*/
constexpr int64_t kMaxBodyBytes = int64_t{64} << 20;         /*64 MiB*/
constexpr int64_t kDefaultOversizedBytes = int64_t{9} << 20; /*9 MiB*/
constexpr int64_t kMaxChunkBytes = int64_t{1} << 20;         /*1 MiB*/
constexpr int kMaxIntervalMs = 10000;                        /*10 s*/

absl::Status Bad(size_t index, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("rule ", index, ": ", why));
}

// An integer member `key` in [low, high] into *value; *value is left as
// it was when the key is absent.
absl::Status ReadInt(const rapidjson::Value& rule, size_t index, const char* key,
                     int64_t low, int64_t high, int64_t* value) {
  auto it = rule.FindMember(key);
  if (it == rule.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsInt64() || it->value.GetInt64() < low || it->value.GetInt64() > high) {
    return Bad(index, absl::StrCat(key, " must be an integer from ", low, " to ", high));
  }
  *value = it->value.GetInt64();
  return absl::OkStatus();
}

absl::StatusOr<FaultRule> ParseRule(const rapidjson::Value& json, size_t index) {
  if (!json.IsObject()) return Bad(index, "not an object");
  auto fault = json.FindMember("fault");
  if (fault == json.MemberEnd() || !fault->value.IsString()) {
    return Bad(index, "\"fault\" (a string) is required");
  }
  const FaultInfo* info = nullptr;
  for (const FaultInfo& candidate : Faults()) {
    if (fault->value.GetString() == std::string(candidate.name)) {
      info = &candidate;
    }
  }
  if (info == nullptr) {
    return Bad(index, absl::StrCat("unknown fault \"", fault->value.GetString(), "\""));
  }
  static const std::set<std::string> kCommon = {"fault", "method", "path_prefix", "count",
                                                "fraction"};
  for (auto it = json.MemberBegin(); it != json.MemberEnd(); ++it) {
    const std::string key = it->name.GetString();
    if (kCommon.count(key) == 0 && info->keys.count(key) == 0) {
      return Bad(index, absl::StrCat("unknown key \"", key, "\" for ", info->name));
    }
  }

  FaultRule rule;
  rule.fault = info->fault;
  if (auto it = json.FindMember("method"); it != json.MemberEnd()) {
    if (!it->value.IsString() || it->value.GetStringLength() == 0) {
      return Bad(index, "method must be a non-empty string");
    }
    rule.method = it->value.GetString();
    for (char c : rule.method) {
      if (!absl::ascii_isupper(c)) {
        return Bad(index, "method must be upper case, e.g. POST");
      }
    }
  }
  if (auto it = json.FindMember("path_prefix"); it != json.MemberEnd()) {
    if (!it->value.IsString() || !absl::StartsWith(it->value.GetString(), "/")) {
      return Bad(index, "path_prefix must be a string starting with /");
    }
    rule.path_prefix = it->value.GetString();
  }
  if (absl::Status s = ReadInt(json, index, "count", 1, INT64_MAX, &rule.count);
      !s.ok()) {
    return s;
  }
  if (auto it = json.FindMember("fraction"); it != json.MemberEnd()) {
    if (!it->value.IsNumber() || !(it->value.GetDouble() > 0) ||
        it->value.GetDouble() > 1) {
      return Bad(index, "fraction must be a number in (0, 1]");
    }
    rule.fraction = it->value.GetDouble();
  }

  int64_t value = 0;
  switch (rule.fault) {
    case FaultKind::kLatency:
      if (!json.HasMember("latency_ms")) {
        return Bad(index, "latency needs latency_ms");
      }
      if (absl::Status s = ReadInt(json, index, "latency_ms", 1, kMaxLatencyMs, &value);
          !s.ok()) {
        return s;
      }
      rule.latency_ms = static_cast<int>(value);
      break;
    case FaultKind::kHttpError: {
      if (absl::Status s = ReadInt(json, index, "status", 0, 999, &value); !s.ok()) {
        return s;
      }
      if (value != 429 && value != 500 && value != 502 && value != 503 && value != 504) {
        return Bad(index, "http_error needs status 429, 500, 502, 503 or 504");
      }
      rule.status = static_cast<int>(value);
      const bool may_retry_after = value == 429 || value == 503;
      if (json.HasMember("retry_after_s") && !may_retry_after) {
        return Bad(index, "retry_after_s is for status 429 and 503 only");
      }
      value = may_retry_after ? 1 : -1;
      if (absl::Status s =
              ReadInt(json, index, "retry_after_s", -1, kMaxRetryAfterS, &value);
          !s.ok()) {
        return s;
      }
      rule.retry_after_s = static_cast<int>(value);
      break;
    }
    case FaultKind::kOversizedBody:
      value = kDefaultOversizedBytes;
      if (absl::Status s = ReadInt(json, index, "body_bytes", 1, kMaxBodyBytes, &value);
          !s.ok()) {
        return s;
      }
      rule.body_bytes = static_cast<size_t>(value);
      break;
    case FaultKind::kEndlessBody:
    case FaultKind::kSlowBody: {
      const bool endless = rule.fault == FaultKind::kEndlessBody;
      value = endless ? 1024 : 4;
      if (absl::Status s = ReadInt(json, index, "chunk_bytes", 1, kMaxChunkBytes, &value);
          !s.ok()) {
        return s;
      }
      rule.chunk_bytes = static_cast<size_t>(value);
      value = endless ? 10 : 100;
      if (absl::Status s = ReadInt(json, index, "interval_ms", 0, kMaxIntervalMs, &value);
          !s.ok()) {
        return s;
      }
      rule.interval_ms = static_cast<int>(value);
      break;
    }
    default:
      break;
  }
  return rule;
}

}  // namespace

absl::string_view FaultName(FaultKind fault) { return InfoOf(fault).name; }

FaultPhase PhaseOf(FaultKind fault) { return InfoOf(fault).phase; }

bool MxActsFirst(FaultKind fault) { return InfoOf(fault).mx_acts_first; }

absl::StatusOr<std::vector<FaultRule>> ParseFaultRules(absl::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return absl::InvalidArgumentError(
        "expected a JSON array of rules, e.g. "
        "[{\"fault\":\"http_error\",\"status\":503}]");
  }
  std::vector<FaultRule> rules;
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    absl::StatusOr<FaultRule> rule = ParseRule(doc[i], i);
    if (!rule.ok()) return rule.status();
    rules.push_back(*std::move(rule));
  }
  return rules;
}

std::string MxErrorBody(int status) {
  const char* message = "An error occurred.";
  switch (status) {
    case 429:
      message = "Too many requests. Please retry later.";
      break;
    case 500:
      message = "An unexpected error occurred.";
      break;
    case 502:
      message = "Bad gateway.";
      break;
    case 503:
      message = "The service is temporarily unavailable.";
      break;
    case 504:
      message = "Gateway timeout.";
      break;
  }
  return absl::StrCat(R"({"error":{"message":")", message, R"("}})");
}

std::string PadJsonObject(absl::string_view body, size_t size) {
  // {"padding":"xxx...", + the rest of the object after its '{'.
  constexpr absl::string_view kHead = R"({"padding":")";
  constexpr absl::string_view kTail = R"(",)";
  const size_t fixed = kHead.size() + kTail.size() + body.size() - 1;
  if (body.empty() || body.front() != '{' || size <= fixed) {
    return std::string(body);
  }
  std::string padded;
  padded.reserve(size);
  absl::StrAppend(&padded, kHead);
  padded.append(size - fixed, 'x');
  absl::StrAppend(&padded, kTail, body.substr(1));
  return padded;
}

FaultInjector::FaultInjector(std::function<double()> uniform)
    : uniform_(std::move(uniform)) {
  if (!uniform_) {
    uniform_ = [engine = std::make_shared<std::mt19937_64>(std::random_device{}())]() {
      return std::uniform_real_distribution<double>(0, 1)(*engine);
    };
  }
}

void FaultInjector::Set(std::vector<FaultRule> rules) {
  absl::MutexLock lock(&mu_);
  rules_ = std::move(rules);
}

void FaultInjector::Clear() { Set({}); }

absl::optional<FaultRule> FaultInjector::Pick(FaultPhase phase, absl::string_view method,
                                              absl::string_view path) {
  absl::MutexLock lock(&mu_);
  for (FaultRule& rule : rules_) {
    if (PhaseOf(rule.fault) != phase || rule.count == 0) continue;
    if (!rule.method.empty() && rule.method != method) continue;
    if (!absl::StartsWith(path, rule.path_prefix)) continue;
    if (rule.fraction < 1 && !(uniform_() < rule.fraction)) continue;
    if (rule.count > 0) --rule.count;
    ++injected_;
    return rule;
  }
  return absl::nullopt;
}

std::string FaultInjector::StatsJson() const {
  absl::MutexLock lock(&mu_);
  int64_t live = 0;
  for (const FaultRule& rule : rules_) {
    if (rule.count != 0) ++live;
  }
  return absl::StrCat(R"({"rules":)", live, R"(,"injected":)", injected_, "}");
}

}  // namespace sandbox
}  // namespace mxgate
