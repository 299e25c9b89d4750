#include "service/listener_config.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/grpc.h"
#include "gtest/gtest.h"
#include "tests/integration/test_certs.h"

namespace mxgate {
namespace {

using ::mxgate::testing::TestCerts;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class LoadServerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new TestCerts(); }
  static void TearDownTestSuite() { delete certs_; }
  void SetUp() override { ASSERT_TRUE(certs_->ok()) << certs_->Log(); }

  // A file in the certificate directory holding `content`.
  static std::string Write(const std::string& name, const std::string& content) {
    std::string path = absl::StrCat(certs_->dir(), "/", name);
    std::ofstream(path) << content;
    return path;
  }

  static TestCerts* certs_;
};
TestCerts* LoadServerTlsTest::certs_ = nullptr;

TEST_F(LoadServerTlsTest, NoFlagsMeansPlaintext) {
  absl::StatusOr<std::optional<ServerTls>> tls = LoadServerTls("", "", "");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_FALSE(tls->has_value());
}

TEST_F(LoadServerTlsTest, ReadsCertificateAndKeyWithoutClientCa) {
  absl::StatusOr<std::optional<ServerTls>> tls =
      LoadServerTls(certs_->Path("server", "pem"), certs_->Path("server", "key"), "");
  ASSERT_TRUE(tls.ok()) << tls.status();
  ASSERT_TRUE(tls->has_value());
  EXPECT_EQ((*tls)->cert_chain_pem, certs_->Read("server.pem"));
  EXPECT_EQ((*tls)->private_key_pem, certs_->Read("server.key"));
  EXPECT_EQ((*tls)->client_ca_pem, "");
}

TEST_F(LoadServerTlsTest, ReadsTheClientCaForMutualTls) {
  absl::StatusOr<std::optional<ServerTls>> tls =
      LoadServerTls(certs_->Path("server", "pem"), certs_->Path("server", "key"),
                    certs_->Path("ca", "pem"));
  ASSERT_TRUE(tls.ok()) << tls.status();
  ASSERT_TRUE(tls->has_value());
  EXPECT_EQ((*tls)->client_ca_pem, certs_->Read("ca.pem"));
}

TEST_F(LoadServerTlsTest, RefusesACertificateWithoutKeyAndTheReverse) {
  for (const auto& [cert, key] : std::map<std::string, std::string>{
           {certs_->Path("server", "pem"), ""}, {"", certs_->Path("server", "key")}}) {
    absl::StatusOr<std::optional<ServerTls>> tls = LoadServerTls(cert, key, "");
    EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(tls.status().message(), HasSubstr("give both or neither"));
  }
}

TEST_F(LoadServerTlsTest, RefusesAClientCaWithoutServerCertificate) {
  absl::StatusOr<std::optional<ServerTls>> tls =
      LoadServerTls("", "", certs_->Path("ca", "pem"));
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tls.status().message(), HasSubstr("--tls_client_ca_file needs"));
}

TEST_F(LoadServerTlsTest, MissingFileIsNotFoundNamingFlagAndPath) {
  const std::string missing = certs_->dir() + "/missing.key";
  absl::StatusOr<std::optional<ServerTls>> tls =
      LoadServerTls(certs_->Path("server", "pem"), missing, "");
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(tls.status().message(), "cannot read --tls_key_file " + missing);
}

TEST_F(LoadServerTlsTest, KeyThatIsNotPemIsRefusedWithoutQuotingIt) {
  const std::string key = Write("garbage.key", "top-secret-key-material\n");
  absl::StatusOr<std::optional<ServerTls>> tls =
      LoadServerTls(certs_->Path("server", "pem"), key, "");
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tls.status().message(), HasSubstr("not an unencrypted PEM private key"));
  EXPECT_THAT(tls.status().message(), Not(HasSubstr("top-secret")));
}

TEST_F(LoadServerTlsTest, KeyOfAnotherCertificateIsRefused) {
  absl::StatusOr<std::optional<ServerTls>> tls =
      LoadServerTls(certs_->Path("server", "pem"), certs_->Path("client", "key"), "");
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tls.status().message(), HasSubstr("does not match the certificate"));
  EXPECT_THAT(tls.status().message(), Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(LoadServerTlsTest, CertificateFileHoldingAKeyIsRefused) {
  absl::StatusOr<std::optional<ServerTls>> tls =
      LoadServerTls(certs_->Path("server", "key"), certs_->Path("server", "key"), "");
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tls.status().message(), HasSubstr("not a PEM certificate chain"));
  EXPECT_THAT(tls.status().message(), Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(LoadServerTlsTest, ClientCaWithoutCertificateIsRefused) {
  absl::StatusOr<std::optional<ServerTls>> tls =
      LoadServerTls(certs_->Path("server", "pem"), certs_->Path("server", "key"),
                    Write("empty-ca.pem", "no certificate here\n"));
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tls.status().message(), HasSubstr("not a PEM certificate bundle"));
}

TEST(ListenerLimits, DefaultsAreValid) {
  EXPECT_TRUE(CheckListenerLimits(ListenerLimits{}).ok());
}

TEST(ListenerLimits, RefusesOutOfRangeValuesNamingTheFlag) {
  ListenerLimits zero_size;
  zero_size.max_receive_message_bytes = 0;
  EXPECT_EQ(CheckListenerLimits(zero_size),
            absl::InvalidArgumentError("--max_receive_message_bytes must be positive"));
  ListenerLimits zero_timeout;
  zero_timeout.keepalive_timeout_ms = 0;
  EXPECT_EQ(CheckListenerLimits(zero_timeout),
            absl::InvalidArgumentError("--keepalive_timeout_ms must be positive"));
  ListenerLimits negative_age;
  negative_age.max_connection_age_ms = -1;
  EXPECT_EQ(CheckListenerLimits(negative_age),
            absl::InvalidArgumentError("--max_connection_age_ms must not be negative"));
}

TEST(ListenerChannelArgs, DefaultsSetSizesAndKeepaliveButNoConnectionAge) {
  EXPECT_THAT(
      ListenerChannelArgs(ListenerLimits{}),
      UnorderedElementsAre(
          Pair(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 1 << 20),
          Pair(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, 4 << 20),
          Pair(GRPC_ARG_KEEPALIVE_TIME_MS, 2 * 60 * 60 * 1000),
          Pair(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000),
          Pair(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5 * 60 * 1000),
          Pair(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0)));
}

TEST(ListenerChannelArgs, ConnectionAgeComesWithItsGrace) {
  ListenerLimits limits;
  limits.max_connection_age_ms = 60000;
  limits.max_connection_age_grace_ms = 5000;
  limits.keepalive_permit_without_calls = true;
  const auto args = ListenerChannelArgs(limits);
  EXPECT_THAT(args, ::testing::Contains(Pair(GRPC_ARG_MAX_CONNECTION_AGE_MS, 60000)));
  EXPECT_THAT(args,
              ::testing::Contains(Pair(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 5000)));
  EXPECT_THAT(args,
              ::testing::Contains(Pair(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1)));
}

}  // namespace
}  // namespace mxgate
