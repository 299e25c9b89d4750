#include "service/access_log.h"

#include <openssl/sha.h>

#include <cstdio>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace mxgate {
namespace {

absl::string_view LevelName(AccessLog::Level level) {
  switch (level) {
    case AccessLog::Level::kInfo:
      return "info";
    case AccessLog::Level::kWarning:
      return "warning";
    case AccessLog::Level::kError:
      return "error";
    case AccessLog::Level::kOff:
      return "off";
  }
  return "error";
}

// `value` as a JSON string: quotes, backslashes and control characters
// escaped; other bytes (UTF-8) as they are.
void AppendJsonString(std::string& out, absl::string_view value) {
  out.push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void AppendField(std::string& out, absl::string_view key, absl::string_view value) {
  absl::StrAppend(&out, ",\"", key, "\":");
  AppendJsonString(out, value);
}

void WriteToStderr(absl::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

AccessLog::AccessLog(Level level, Sink sink, Clock clock)
    : level_(level),
      sink_(sink ? std::move(sink) : Sink(&WriteToStderr)),
      clock_(clock ? std::move(clock) : Clock([] { return absl::Now(); })) {}

void AccessLog::Record(const RpcLogEntry& entry) {
  const Level level = LevelFor(entry.code);
  if (level_ == Level::kOff || level < level_) return;
  const absl::Time now = clock_();
  std::string line = absl::StrCat(
      R"({"time":")", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()),
      "\"");
  AppendField(line, "level", LevelName(level));
  AppendField(line, "method", entry.method);
  AppendField(line, "code", absl::StatusCodeToString(entry.code));
  absl::StrAppendFormat(&line, ",\"duration_ms\":%.3f",
                        absl::ToDoubleMilliseconds(now - entry.start));
  if (entry.upstream_status != 0) {
    absl::StrAppend(&line, ",\"upstream_status\":", entry.upstream_status);
  }
  if (!entry.request_id.empty()) AppendField(line, "request_id", entry.request_id);
  if (!entry.trace_id.empty()) AppendField(line, "trace_id", entry.trace_id);
  if (!entry.user_identifier.empty()) {
    AppendField(line, "user", UserHash(entry.user_identifier));
  }
  if (!entry.member_guid.empty()) AppendField(line, "member", entry.member_guid);
  if (!entry.reason.empty()) AppendField(line, "reason", entry.reason);
  line += "}\n";
  absl::MutexLock lock(&mu_);
  sink_(line);
}

absl::optional<AccessLog::Level> ParseLogLevel(absl::string_view name) {
  for (AccessLog::Level level : {AccessLog::Level::kInfo, AccessLog::Level::kWarning,
                                 AccessLog::Level::kError, AccessLog::Level::kOff}) {
    if (name == LevelName(level)) return level;
  }
  return absl::nullopt;
}

AccessLog::Level LevelFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return AccessLog::Level::kInfo;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnimplemented:
      return AccessLog::Level::kError;
    default:
      return AccessLog::Level::kWarning;
  }
}

std::string UserHash(absl::string_view user_identifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(user_identifier.data()),
         user_identifier.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 8));
}

}  // namespace mxgate
