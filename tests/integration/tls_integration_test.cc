// The real mxgate binary serving TLS and mTLS with certificates made at test
// time (a throwaway CA, tests/integration/test_certs.h): a client trusting
// the CA gets through, a plaintext client does not; with
// --tls_client_ca_file only a client with a certificate from that CA gets
// through; --max_receive_message_bytes refuses a larger request; bad TLS
// flags refuse to start (exit 2) without printing key material.
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "tests/integration/gateway_process.h"
#include "tests/integration/recording_upstream.h"
#include "tests/integration/test_certs.h"
#include "tests/integration/test_process.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::mxgate::testing::BinPath;
using ::mxgate::testing::ChildProcess;
using ::mxgate::testing::Gateway;
using ::mxgate::testing::kApiKey;
using ::mxgate::testing::kClientId;
using ::mxgate::testing::RecordingUpstream;
using ::mxgate::testing::TestCerts;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMemberBody[] =
    R"({"member":{"guid":"MBR-1","user_guid":"USR-1","institution_code":"mx_bank_oauth",)"
    R"("connection_status":"PENDING","is_being_aggregated":false}})";

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(certs_.ok()) << certs_.Log();
    upstream_.Enqueue({200, {}, kMemberBody});
  }

  std::vector<std::string> TlsFlags() const {
    return {"--tls_cert_file=" + certs_.Path("server", "pem"),
            "--tls_key_file=" + certs_.Path("server", "key")};
  }
  std::vector<std::string> MutualTlsFlags() const {
    std::vector<std::string> flags = TlsFlags();
    flags.push_back("--tls_client_ca_file=" + certs_.Path("ca", "pem"));
    return flags;
  }

  // A TLS channel trusting the test CA, presenting the client certificate
  // when `with_client_cert`.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address,
                                            bool with_client_cert) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs_.Read("ca.pem");
    if (with_client_cert) {
      ssl.pem_private_key = certs_.Read("client.key");
      ssl.pem_cert_chain = certs_.Read("client.pem");
    }
    return grpc::CreateChannel(address, grpc::SslCredentials(ssl));
  }

  // An OAuth CreateMember (no credentials) padded to about `size` bytes.
  static v1::CreateMemberRequest Request(size_t size = 0) {
    v1::CreateMemberRequest request;
    request.set_user_identifier("demo-user");
    request.mutable_member()->set_institution_code("mx_bank_oauth");
    request.mutable_member()->set_is_oauth(true);
    if (size > 0) request.mutable_member()->set_name(std::string(size, 'x'));
    return request;
  }

  static grpc::Status CreateMember(const std::shared_ptr<grpc::Channel>& channel,
                                   const v1::CreateMemberRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::CreateMemberResponse response;
    return v1::MemberService::NewStub(channel)->CreateMember(&context, request,
                                                             &response);
  }

  static grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    HealthCheckRequest request;
    HealthCheckResponse response;
    return grpc::health::v1::Health::NewStub(channel)->Check(&context, request,
                                                             &response);
  }

  // Starts mxgate with `flags`, expecting it to refuse: returns its stderr
  // after checking exit code 2, at most two lines, and no key material.
  std::string ExpectRefusal(std::vector<std::string> flags) const {
    std::vector<std::string> argv = {BinPath("mxgate"), "--listen=127.0.0.1:0",
                                     "--mx_base_url=" + upstream_.base_url()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ChildProcess process(argv, {{"MX_CLIENT_ID", kClientId}, {"MX_API_KEY", kApiKey}});
    EXPECT_EQ(process.WaitForExit(absl::Seconds(10)), 2);
    std::string log = process.Stderr();
    EXPECT_LE(std::count(log.begin(), log.end(), '\n'), 2) << log;
    EXPECT_THAT(log, Not(HasSubstr("PRIVATE KEY")));
    EXPECT_THAT(log, Not(HasSubstr("top-secret-key-material")));
    return log;
  }

  TestCerts certs_;
  RecordingUpstream upstream_;
};

TEST_F(TlsTest, ClientTrustingTheCaCallsOkAndPlaintextClientIsUnavailable) {
  Gateway gateway(upstream_.base_url(), TlsFlags());
  ASSERT_FALSE(gateway.address().empty());
  const auto tls = TlsChannel(gateway.address(), /*with_client_cert=*/false);
  const grpc::Status created = CreateMember(tls, Request());
  EXPECT_TRUE(created.ok()) << created.error_message();
  EXPECT_TRUE(HealthCheck(tls).ok());
  EXPECT_EQ(upstream_.requests().size(), 1u);

  // Gateway's own channel is plaintext.
  EXPECT_EQ(HealthCheck(gateway.channel()).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(CreateMember(gateway.channel(), Request()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(upstream_.requests().size(), 1u) << "a plaintext call reached MX";
}

TEST_F(TlsTest, MutualTlsAcceptsOnlyAClientWithACertificateFromTheCa) {
  Gateway gateway(upstream_.base_url(), MutualTlsFlags());
  ASSERT_FALSE(gateway.address().empty());

  EXPECT_EQ(CreateMember(TlsChannel(gateway.address(), false), Request()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(upstream_.requests().size(), 0u) << "a call without certificate reached MX";

  const grpc::Status created =
      CreateMember(TlsChannel(gateway.address(), true), Request());
  EXPECT_TRUE(created.ok()) << created.error_message();
  EXPECT_EQ(upstream_.requests().size(), 1u);
}

TEST_F(TlsTest, RequestLargerThanMaxReceiveMessageBytesIsResourceExhausted) {
  std::vector<std::string> flags = TlsFlags();
  flags.emplace_back("--max_receive_message_bytes=4096");
  Gateway gateway(upstream_.base_url(), flags);
  ASSERT_FALSE(gateway.address().empty());
  const auto tls = TlsChannel(gateway.address(), false);

  EXPECT_EQ(CreateMember(tls, Request(8192)).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(upstream_.requests().size(), 0u);
  const grpc::Status small = CreateMember(tls, Request(1024));
  EXPECT_TRUE(small.ok()) << small.error_message();
}

TEST_F(TlsTest, PlaintextOnANonLoopbackAddressWarnsButServes) {
  ChildProcess process(
      {BinPath("mxgate"), "--listen=0.0.0.0:0", "--mx_base_url=" + upstream_.base_url()},
      {{"MX_CLIENT_ID", kClientId}, {"MX_API_KEY", kApiKey}});
  ASSERT_FALSE(process.WaitForListening().empty()) << process.Stderr();
  EXPECT_EQ(process.Terminate(), 0);
  EXPECT_THAT(process.Stderr(),
              HasSubstr("warning: plaintext gRPC on non-loopback 0.0.0.0"));
}

TEST_F(TlsTest, TlsOnANonLoopbackAddressDoesNotWarn) {
  std::vector<std::string> argv = {BinPath("mxgate"), "--listen=0.0.0.0:0",
                                   "--mx_base_url=" + upstream_.base_url()};
  for (const std::string& flag : TlsFlags()) argv.push_back(flag);
  ChildProcess process(argv, {{"MX_CLIENT_ID", kClientId}, {"MX_API_KEY", kApiKey}});
  ASSERT_FALSE(process.WaitForListening().empty()) << process.Stderr();
  EXPECT_EQ(process.Terminate(), 0);
  EXPECT_THAT(process.Stderr(), Not(HasSubstr("warning")));
}

TEST_F(TlsTest, BadTlsFlagsRefuseToStartWithoutPrintingTheKey) {
  const std::string cert = "--tls_cert_file=" + certs_.Path("server", "pem");
  const std::string key = "--tls_key_file=" + certs_.Path("server", "key");
  const std::string client_ca = "--tls_client_ca_file=" + certs_.Path("ca", "pem");

  EXPECT_THAT(ExpectRefusal({cert}), HasSubstr("give both or neither"));
  EXPECT_THAT(ExpectRefusal({key}), HasSubstr("give both or neither"));
  EXPECT_THAT(ExpectRefusal({client_ca}), HasSubstr("--tls_client_ca_file needs"));
  EXPECT_THAT(ExpectRefusal({cert, "--tls_key_file=" + certs_.dir() + "/missing.key"}),
              HasSubstr("cannot read --tls_key_file"));
  // Running as root, a chmod 000 file stays readable: a directory cannot be.
  EXPECT_THAT(ExpectRefusal({cert, "--tls_key_file=" + certs_.dir()}),
              HasSubstr("cannot read --tls_key_file"));
  const std::string garbage = certs_.dir() + "/garbage.key";
  std::ofstream(garbage) << "top-secret-key-material\n";
  EXPECT_THAT(ExpectRefusal({cert, "--tls_key_file=" + garbage}),
              HasSubstr("not an unencrypted PEM private key"));
  EXPECT_THAT(ExpectRefusal({cert, "--tls_key_file=" + certs_.Path("client", "key")}),
              HasSubstr("does not match the certificate"));
  EXPECT_THAT(ExpectRefusal({cert, key, "--max_receive_message_bytes=0"}),
              HasSubstr("--max_receive_message_bytes must be positive"));
}

}  // namespace
}  // namespace mxgate
