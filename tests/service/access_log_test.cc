#include "service/access_log.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgate {
namespace {

using ::testing::ElementsAre;

// 2026-01-02T03:04:05.678Z
const absl::Time kStart = absl::FromUnixMillis(1767323045678);

// A log whose lines land in `lines` and whose clock the test sets.
class AccessLogTest : public ::testing::Test {
 protected:
  AccessLog MakeLog(AccessLog::Level level) {
    return AccessLog(
        level, [this](absl::string_view line) { lines_.emplace_back(line); },
        [this] { return now_; });
  }

  std::vector<std::string> lines_;
  absl::Time now_ = kStart;
};

TEST_F(AccessLogTest, WritesASuccessfulCallWithEveryField) {
  AccessLog log = MakeLog(AccessLog::Level::kInfo);
  RpcLogEntry entry;
  entry.method = "CreateMember";
  entry.start = log.Now();
  entry.upstream_status = 202;
  entry.request_id = "req-1";
  entry.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  entry.user_identifier = "user 1 \xC3\xBC";
  entry.member_guid = "MBR-1";
  now_ += absl::Microseconds(12345);
  log.Record(entry);
  // user: the first 16 hex digits of SHA-256("user 1 ü").
  EXPECT_THAT(lines_,
              ElementsAre(R"({"time":"2026-01-02T03:04:05.690Z","level":"info",)"
                          R"("method":"CreateMember","code":"OK","duration_ms":12.345,)"
                          R"("upstream_status":202,"request_id":"req-1",)"
                          R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
                          R"("user":"866d05364ba629a4","member":"MBR-1"})"
                          "\n"));
}

TEST_F(AccessLogTest, WritesAnErrorWithItsReasonAndNoUnknownFields) {
  AccessLog log = MakeLog(AccessLog::Level::kInfo);
  RpcLogEntry entry;
  entry.method = "ListInstitutionCredentials";
  entry.start = log.Now();
  entry.code = absl::StatusCode::kUnavailable;
  entry.reason = "UPSTREAM_UNREACHABLE";
  entry.request_id = "req-2";
  log.Record(entry);
  EXPECT_THAT(lines_,
              ElementsAre(R"({"time":"2026-01-02T03:04:05.678Z","level":"error",)"
                          R"("method":"ListInstitutionCredentials","code":"UNAVAILABLE",)"
                          R"("duration_ms":0.000,"request_id":"req-2",)"
                          R"("reason":"UPSTREAM_UNREACHABLE"})"
                          "\n"));
}

// The time and duration fields are written by hand, not by FormatTime and
// printf: the same text at the edges (a year's last millisecond, a leap
// day, the epoch, rounding to the microsecond).
TEST_F(AccessLogTest, WritesTimesAsFormatTimeAndDurationsRoundedToTheMicrosecond) {
  struct Case {
    absl::Time now;
    absl::Duration took;
    const char* duration_ms;
  };
  const Case cases[] = {
      {absl::FromUnixMillis(0), absl::ZeroDuration(), "0.000"},
      {absl::FromUnixMillis(946684799999), absl::Nanoseconds(499), "0.000"},
      {absl::FromUnixMillis(1709164800000), absl::Nanoseconds(500), "0.001"},
      {absl::FromUnixMillis(1767323045678) + absl::Microseconds(999),
       absl::Microseconds(12345) + absl::Nanoseconds(501), "12.346"},
      {absl::FromUnixMillis(4102444800001), absl::Seconds(65), "65000.000"},
      {absl::FromUnixMillis(1767323045678), -absl::Microseconds(2), "-0.002"},
  };
  AccessLog log = MakeLog(AccessLog::Level::kInfo);
  for (const Case& c : cases) {
    lines_.clear();
    now_ = c.now;
    RpcLogEntry entry;
    entry.method = "GetMember";
    entry.start = c.now - c.took;
    log.Record(entry);
    const std::string time =
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", c.now, absl::UTCTimeZone());
    EXPECT_THAT(lines_,
                ElementsAre(absl::StrCat(
                    R"({"time":")", time, R"(","level":"info","method":"GetMember",)",
                    R"("code":"OK","duration_ms":)", c.duration_ms, "}\n")))
        << time;
  }
}

TEST_F(AccessLogTest, EscapesStringsAsJson) {
  AccessLog log = MakeLog(AccessLog::Level::kInfo);
  RpcLogEntry entry;
  entry.method = "GetMember";
  entry.start = log.Now();
  entry.member_guid = "MBR-\"q\"\\\n\x01\xC3\xBC";
  log.Record(entry);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], ::testing::HasSubstr(R"("member":"MBR-\"q\"\\\n\u0001)"
                                              "\xC3\xBC"
                                              R"("})"));
}

TEST_F(AccessLogTest, WritesOnlyLinesAtOrAboveItsLevel) {
  for (const auto& [level, written] :
       std::vector<std::pair<AccessLog::Level, int>>{{AccessLog::Level::kInfo, 3},
                                                     {AccessLog::Level::kWarning, 2},
                                                     {AccessLog::Level::kError, 1},
                                                     {AccessLog::Level::kOff, 0}}) {
    lines_.clear();
    AccessLog log = MakeLog(level);
    for (absl::StatusCode code : {absl::StatusCode::kOk, absl::StatusCode::kNotFound,
                                  absl::StatusCode::kInternal}) {
      RpcLogEntry entry;
      entry.method = "GetMember";
      entry.start = log.Now();
      entry.code = code;
      log.Record(entry);
    }
    EXPECT_EQ(lines_.size(), static_cast<size_t>(written));
  }
}

TEST(LevelFor, SplitsCallerProblemsFromServerProblems) {
  EXPECT_EQ(LevelFor(absl::StatusCode::kOk), AccessLog::Level::kInfo);
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kAlreadyExists, absl::StatusCode::kPermissionDenied,
        absl::StatusCode::kUnauthenticated, absl::StatusCode::kFailedPrecondition,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kCancelled}) {
    EXPECT_EQ(LevelFor(code), AccessLog::Level::kWarning) << code;
  }
  for (absl::StatusCode code :
       {absl::StatusCode::kInternal, absl::StatusCode::kUnknown,
        absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded}) {
    EXPECT_EQ(LevelFor(code), AccessLog::Level::kError) << code;
  }
}

TEST(ParseLogLevel, AcceptsTheFourNamesOnly) {
  EXPECT_EQ(ParseLogLevel("info"), AccessLog::Level::kInfo);
  EXPECT_EQ(ParseLogLevel("warning"), AccessLog::Level::kWarning);
  EXPECT_EQ(ParseLogLevel("error"), AccessLog::Level::kError);
  EXPECT_EQ(ParseLogLevel("off"), AccessLog::Level::kOff);
  EXPECT_EQ(ParseLogLevel("INFO"), absl::nullopt);
  EXPECT_EQ(ParseLogLevel("debug"), absl::nullopt);
  EXPECT_EQ(ParseLogLevel(""), absl::nullopt);
}

TEST(UserHash, IsTheSha256PrefixInLowerCaseHex) {
  // echo -n "" | sha256sum: e3b0c44298fc1c149afbf4c8996fb924...
  EXPECT_EQ(UserHash(""), "e3b0c44298fc1c14");
  // echo -n "abc" | sha256sum: ba7816bf8f01cfea414140de5dae2223...
  EXPECT_EQ(UserHash("abc"), "ba7816bf8f01cfea");
}

}  // namespace
}  // namespace mxgate
