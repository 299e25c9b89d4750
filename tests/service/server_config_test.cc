#include "service/server_config.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/request_replay.h"

namespace mxgate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Distinctive enough that finding it in a message can only be a leak.
constexpr char kApiKey[] = "s3cr3t-api-key-value";

template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

// ---------------------------------------------------------------- loopback

struct LoopbackCase {
  const char* name;
  const char* host;
  bool loopback;
};
void PrintTo(const LoopbackCase& c, std::ostream* os) { *os << c.name; }

class IsLoopbackHostTest : public ::testing::TestWithParam<LoopbackCase> {};

TEST_P(IsLoopbackHostTest, RecognisesOnlyLoopbackHosts) {
  EXPECT_EQ(IsLoopbackHost(GetParam().host), GetParam().loopback) << GetParam().host;
}

INSTANTIATE_TEST_SUITE_P(
    Hosts, IsLoopbackHostTest,
    ::testing::Values(
        LoopbackCase{"Localhost", "localhost", true},
        LoopbackCase{"LocalhostAnyCase", "LocalHost", true},
        LoopbackCase{"Ipv4Loopback", "127.0.0.1", true},
        LoopbackCase{"AnyAddressIn127Slash8", "127.0.0.5", true},
        LoopbackCase{"TopOf127Slash8", "127.255.255.255", true},
        LoopbackCase{"BracketedIpv6Loopback", "[::1]", true},
        LoopbackCase{"BareIpv6Loopback", "::1", true}, LoopbackCase{"Empty", "", false},
        LoopbackCase{"PublicHost", "api.mx.com", false},
        LoopbackCase{"LocalhostSubdomainOfOtherHost", "localhost.example.com", false},
        LoopbackCase{"LoopbackPrefixOfOtherHost", "127.0.0.1.example.com", false},
        LoopbackCase{"Outside127Slash8", "128.0.0.1", false},
        LoopbackCase{"PrivateAddress", "10.0.0.1", false},
        LoopbackCase{"ThreeOctets", "127.0.1", false},
        LoopbackCase{"FiveOctets", "127.0.0.1.1", false},
        LoopbackCase{"OctetAbove255", "127.0.0.256", false},
        LoopbackCase{"SignedOctet", "127.0.0.+1", false},
        LoopbackCase{"EmptyOctet", "127..0.1", false},
        LoopbackCase{"LongOctet", "127.0.0.0001", false},
        LoopbackCase{"Ipv6Other", "[::2]", false},
        LoopbackCase{"Ipv4MappedIpv6", "[::ffff:127.0.0.1]", false}),
    CaseName<LoopbackCase>);

// ----------------------------------------------------------- mx_base_url

struct AcceptedUrlCase {
  const char* name;
  const char* url;
  const char* normalized;
};
void PrintTo(const AcceptedUrlCase& c, std::ostream* os) { *os << c.name; }

class CheckMxBaseUrlAccepts : public ::testing::TestWithParam<AcceptedUrlCase> {};

TEST_P(CheckMxBaseUrlAccepts, ReturnsUrlWithoutTrailingSlash) {
  const absl::StatusOr<std::string> checked = CheckMxBaseUrl(GetParam().url);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(*checked, GetParam().normalized);
}

INSTANTIATE_TEST_SUITE_P(
    Urls, CheckMxBaseUrlAccepts,
    ::testing::Values(
        AcceptedUrlCase{"HttpsAnyHost", "https://int-api.mx.com",
                        "https://int-api.mx.com"},
        AcceptedUrlCase{"HttpsWithPortAndPath", "https://api.mx.com:8443/base",
                        "https://api.mx.com:8443/base"},
        AcceptedUrlCase{"TrailingSlashStripped", "https://int-api.mx.com/",
                        "https://int-api.mx.com"},
        AcceptedUrlCase{"EveryTrailingSlashStripped", "https://api.mx.com/v1//",
                        "https://api.mx.com/v1"},
        AcceptedUrlCase{"HttpLocalhostWithPort", "http://localhost:8089",
                        "http://localhost:8089"},
        AcceptedUrlCase{"HttpAnyAddressIn127Slash8", "http://127.0.0.5",
                        "http://127.0.0.5"},
        AcceptedUrlCase{"HttpIpv6Loopback", "http://[::1]:80", "http://[::1]:80"},
        AcceptedUrlCase{"HttpBracketedIpv6WithoutPort", "http://[::1]/", "http://[::1]"},
        AcceptedUrlCase{"HighestPort", "https://api.mx.com:65535",
                        "https://api.mx.com:65535"}),
    CaseName<AcceptedUrlCase>);

struct RefusedUrlCase {
  const char* name;
  const char* url;
  const char* message_part;  // what the message must say
};
void PrintTo(const RefusedUrlCase& c, std::ostream* os) { *os << c.name; }

class CheckMxBaseUrlRefuses : public ::testing::TestWithParam<RefusedUrlCase> {};

TEST_P(CheckMxBaseUrlRefuses, WithInvalidArgumentNamingTheProblem) {
  const absl::StatusOr<std::string> checked = CheckMxBaseUrl(GetParam().url);
  EXPECT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument)
      << checked.status();
  EXPECT_THAT(checked.status().message(), HasSubstr(GetParam().message_part));
}

INSTANTIATE_TEST_SUITE_P(
    Urls, CheckMxBaseUrlRefuses,
    ::testing::Values(
        RefusedUrlCase{"HttpPublicHost", "http://api.mx.com", "non-loopback"},
        RefusedUrlCase{"HttpLoopbackLookalike", "http://127.0.0.1.nip.io",
                       "non-loopback"},
        RefusedUrlCase{"HttpUserinfoBeforePublicHost", "http://localhost@api.mx.com",
                       "must not hold credentials"},
        RefusedUrlCase{"HttpsUserinfo", "https://user:pw@api.mx.com",
                       "must not hold credentials"},
        RefusedUrlCase{"FtpScheme", "ftp://api.mx.com", "https://"},
        RefusedUrlCase{"NoScheme", "api.mx.com", "https://"},
        RefusedUrlCase{"UpperCaseScheme", "HTTPS://api.mx.com", "https://"},
        RefusedUrlCase{"Empty", "", "https://"},
        RefusedUrlCase{"Query", "https://api.mx.com/?debug=1", "query"},
        RefusedUrlCase{"Fragment", "https://api.mx.com/#top", "fragment"},
        RefusedUrlCase{"PortZero", "https://api.mx.com:0", "port"},
        RefusedUrlCase{"PortAbove65535", "https://api.mx.com:65536", "port"},
        RefusedUrlCase{"PortNotANumber", "https://api.mx.com:https", "port"},
        RefusedUrlCase{"PortEmpty", "https://api.mx.com:/", "port"},
        RefusedUrlCase{"PortNegative", "https://api.mx.com:-443", "port"},
        RefusedUrlCase{"PortWithSign", "https://api.mx.com:+443", "port"},
        RefusedUrlCase{"PortWithSpace", "https://api.mx.com: 443", "port"},
        RefusedUrlCase{"Ipv6Unclosed", "http://[::1:80", "IPv6"},
        RefusedUrlCase{"Ipv6JunkAfterBracket", "http://[::1]80", "port"},
        RefusedUrlCase{"EmptyHost", "https://", "no host"},
        RefusedUrlCase{"EmptyHostWithPath", "https:///users", "no host"},
        RefusedUrlCase{"EmptyHostWithPort", "http://:8089", "no host"}),
    CaseName<RefusedUrlCase>);

// ------------------------------------------------------------ credentials

// A file under the test's temporary directory, removed at the end.
class TempFile {
 public:
  explicit TempFile(absl::string_view content)
      : path_(absl::StrCat(::testing::TempDir(), "/mx_credentials_", getpid(), "_",
                           next_++)) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  static inline int next_ = 0;
  std::string path_;
};

void ExpectCredentials(const absl::StatusOr<MxCredentials>& loaded,
                       absl::string_view client_id, absl::string_view api_key) {
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->client_id, client_id);
  EXPECT_EQ(loaded->api_key, api_key);
}

TEST(LoadMxCredentials, ReadsTheEnvironmentWithoutAFile) {
  ExpectCredentials(LoadMxCredentials("", "client-1", kApiKey), "client-1", kApiKey);
}

TEST(LoadMxCredentials, ReadsTheFirstLineOfTheFile) {
  const TempFile file(absl::StrCat("client-1:", kApiKey, "\nignored:line\n"));
  ExpectCredentials(LoadMxCredentials(file.path(), nullptr, nullptr), "client-1",
                    kApiKey);
}

TEST(LoadMxCredentials, TrimsWhitespaceAndCarriageReturnAroundTheLine) {
  const TempFile file(absl::StrCat("  client-1:", kApiKey, " \r\n"));
  ExpectCredentials(LoadMxCredentials(file.path(), nullptr, nullptr), "client-1",
                    kApiKey);
}

TEST(LoadMxCredentials, SplitsAtTheFirstColonOnly) {
  const TempFile file("client-1:key:with:colons");
  ExpectCredentials(LoadMxCredentials(file.path(), nullptr, nullptr), "client-1",
                    "key:with:colons");
}

TEST(LoadMxCredentials, PrefersTheFileOverTheEnvironment) {
  const TempFile file(absl::StrCat("file-client:", kApiKey));
  ExpectCredentials(LoadMxCredentials(file.path(), "env-client", "env-api-key"),
                    "file-client", kApiKey);
}

TEST(LoadMxCredentials, ReturnsNotFoundNamingAMissingFile) {
  const std::string missing =
      absl::StrCat(::testing::TempDir(), "/no_such_credentials_file");
  const absl::StatusOr<MxCredentials> loaded =
      LoadMxCredentials(missing, "env-client", kApiKey);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr(missing));
  EXPECT_THAT(loaded.status().message(), Not(HasSubstr(kApiKey)));
}

struct RefusedCredentialsCase {
  const char* name;
  const char* file_content;  // nullptr: no file, read the environment
  const char* env_client_id;
  const char* env_api_key;
  const char* message_part;
};
void PrintTo(const RefusedCredentialsCase& c, std::ostream* os) { *os << c.name; }

class LoadMxCredentialsRefuses : public ::testing::TestWithParam<RefusedCredentialsCase> {
};

TEST_P(LoadMxCredentialsRefuses, WithFailedPreconditionNeverQuotingTheKey) {
  const RefusedCredentialsCase& param = GetParam();
  absl::optional<TempFile> file;
  if (param.file_content != nullptr) file.emplace(param.file_content);

  const absl::StatusOr<MxCredentials> loaded = LoadMxCredentials(
      file.has_value() ? file->path() : "", param.env_client_id, param.env_api_key);

  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition)
      << loaded.status();
  EXPECT_THAT(loaded.status().message(), HasSubstr(param.message_part));
  EXPECT_THAT(loaded.status().message(), Not(HasSubstr(kApiKey)));
}

INSTANTIATE_TEST_SUITE_P(
    Sources, LoadMxCredentialsRefuses,
    ::testing::Values(RefusedCredentialsCase{"NoSource", nullptr, nullptr, nullptr,
                                             "no MX credentials"},
                      RefusedCredentialsCase{"EnvWithoutApiKey", nullptr, "client-1",
                                             nullptr, "no MX credentials"},
                      RefusedCredentialsCase{"EnvWithoutClientId", nullptr, nullptr,
                                             kApiKey, "no MX credentials"},
                      RefusedCredentialsCase{"EnvWithEmptyClientId", nullptr, "", kApiKey,
                                             "no MX credentials"},
                      RefusedCredentialsCase{"EnvWithEmptyApiKey", nullptr, "client-1",
                                             "", "no MX credentials"},
                      // A line without a colon may be the bare key: never quote it.
                      RefusedCredentialsCase{"FileLineWithoutColon", kApiKey, nullptr,
                                             nullptr, "CLIENT_ID:API_KEY"},
                      RefusedCredentialsCase{"FileWithEmptyClientId",
                                             ":s3cr3t-api-key-value", nullptr, nullptr,
                                             "no MX credentials"},
                      RefusedCredentialsCase{"FileWithEmptyApiKey", "client-1:", nullptr,
                                             nullptr, "no MX credentials"},
                      RefusedCredentialsCase{"FileWithOnlyAColon", ":", nullptr, nullptr,
                                             "no MX credentials"},
                      // The environment is not a fallback for a bad file.
                      RefusedCredentialsCase{"BadFileDespiteGoodEnv", "client-1:",
                                             "env-id", kApiKey, "no MX credentials"}),
    CaseName<RefusedCredentialsCase>);

TEST(CheckMxBaseUrl, NeverRepeatsTheUrlItRefuses) {
  for (const char* url :
       {"ftp://u:topsecret@api.mx.com", "https://u:topsecret@api.mx.com",
        "http://u:topsecret@api.mx.com"}) {
    const absl::StatusOr<std::string> checked = CheckMxBaseUrl(url);
    ASSERT_FALSE(checked.ok()) << url;
    EXPECT_THAT(std::string(checked.status().message()),
                ::testing::Not(::testing::HasSubstr("topsecret")));
  }
}

// ------------------------------------------------------ request replay

TEST(CheckRequestReplayFlags, TurnsTheFlagsIntoTheCachesOptions) {
  const absl::StatusOr<RequestReplay::Options> defaults =
      CheckRequestReplayFlags(10000, 600);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->max_entries, 10000);
  EXPECT_EQ(defaults->ttl, absl::Minutes(10));
  // 0 entries is no error: it turns the cache off.
  const absl::StatusOr<RequestReplay::Options> off = CheckRequestReplayFlags(0, 1);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->max_entries, 0);
  EXPECT_EQ(off->ttl, absl::Seconds(1));
}

TEST(CheckRequestReplayFlags, RefusesNegativeEntriesAndANonPositiveTtlNamingTheFlag) {
  const absl::StatusOr<RequestReplay::Options> negative =
      CheckRequestReplayFlags(-1, 600);
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(negative.status().message()),
              HasSubstr("--request_replay_entries"));
  for (const int ttl_s : {0, -5}) {
    const absl::StatusOr<RequestReplay::Options> ttl = CheckRequestReplayFlags(10, ttl_s);
    EXPECT_EQ(ttl.status().code(), absl::StatusCode::kInvalidArgument) << ttl_s;
    EXPECT_THAT(std::string(ttl.status().message()), HasSubstr("--request_replay_ttl_s"));
  }
}

}  // namespace
}  // namespace mxgate
