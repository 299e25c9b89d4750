#include "service/access_log.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <time.h>

#include <cstdint>
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

// `time` as "2026-01-02T03:04:05.678Z": UTC, milliseconds truncated, the
// text absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ") writes, without its
// time-zone machinery (this runs once per call).
void AppendTimestamp(std::string& out, absl::Time time) {
  const int64_t millis = absl::ToUnixMillis(time);
  int64_t seconds = millis / 1000;
  int64_t fraction = millis % 1000;
  if (fraction < 0) {  // before 1970: floor, as FormatTime does
    fraction += 1000;
    --seconds;
  }
  const time_t whole = static_cast<time_t>(seconds);
  tm utc{};
  gmtime_r(&whole, &utc);
  absl::StrAppend(&out, absl::Dec(utc.tm_year + 1900, absl::kZeroPad4), "-",
                  absl::Dec(utc.tm_mon + 1, absl::kZeroPad2), "-",
                  absl::Dec(utc.tm_mday, absl::kZeroPad2), "T",
                  absl::Dec(utc.tm_hour, absl::kZeroPad2), ":",
                  absl::Dec(utc.tm_min, absl::kZeroPad2), ":",
                  absl::Dec(utc.tm_sec, absl::kZeroPad2), ".",
                  absl::Dec(fraction, absl::kZeroPad3), "Z");
}

// `duration` in milliseconds with 3 decimals, rounded to the microsecond:
// "12.345", "0.000", "-0.002".
void AppendMilliseconds(std::string& out, absl::Duration duration) {
  if (duration < absl::ZeroDuration()) {
    out.push_back('-');
    duration = -duration;
  }
  const int64_t micros = absl::ToInt64Microseconds(duration + absl::Nanoseconds(500));
  absl::StrAppend(&out, micros / 1000, ".", absl::Dec(micros % 1000, absl::kZeroPad3));
}

// OpenSSL 3 looks SHA-256 up in its provider tables on every one-shot
// SHA256(); fetched once, a digest costs a quarter (118 vs 433 ns).
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
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
  std::string line;
  line.reserve(320);
  line += R"({"time":")";
  AppendTimestamp(line, now);
  line += '"';
  AppendField(line, "level", LevelName(level));
  AppendField(line, "method", entry.method);
  AppendField(line, "code", absl::StatusCodeToString(entry.code));
  line += R"(,"duration_ms":)";
  AppendMilliseconds(line, now - entry.start);
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
  unsigned int size = 0;
  EVP_Digest(user_identifier.data(), user_identifier.size(), digest, &size, Sha256(),
             nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 8));
}

}  // namespace mxgate
