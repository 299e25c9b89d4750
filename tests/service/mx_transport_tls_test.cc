// CurlTransport against an HTTPS upstream (cpp-httplib's SSLServer with a
// throwaway CA): MX's certificate is always verified, by the CA given or
// the system's, host name included, and a refused upstream gets nothing;
// new connections resume the TLS session another connection made.
#include <openssl/ssl.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "service/mx_transport.h"
#include "service/status_details.h"
#include "tests/integration/test_certs.h"

namespace mxgate {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);
constexpr absl::Duration kSlowAnswer = absl::Milliseconds(500);

// An HTTPS server on a free loopback port answering every POST /members
// with 200 "ok", one request per connection.
class TlsUpstream {
 public:
  TlsUpstream(const std::string& cert_file, const std::string& key_file,
              std::string host = "127.0.0.1")
      : server_(cert_file.c_str(), key_file.c_str()), host_(std::move(host)) {
    server_.set_keep_alive_max_count(1);  // each request on a new connection
    server_.Post("/members",
                 [this](const httplib::Request&, httplib::Response& response) {
                   requests_.fetch_add(1);
                   response.set_content("ok", "text/plain");
                 });
    // Answers after kSlowAnswer, holding its connection (and its handle).
    server_.Post("/slow", [this](const httplib::Request&, httplib::Response& response) {
      requests_.fetch_add(1);
      absl::SleepFor(kSlowAnswer);
      response.set_content("late", "text/plain");
    });
    port_ = server_.bind_to_any_port(host_);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~TlsUpstream() {
    server_.stop();
    thread_.join();
  }

  std::string url(absl::string_view path = "/members") const {
    return absl::StrCat("https://", host_, ":", port_, path);
  }
  int requests() const { return requests_.load(); }
  // Handshakes that resumed an earlier session (OpenSSL's count).
  long resumed_sessions() { return SSL_CTX_sess_hits(server_.ssl_context()); }
  long full_handshakes() {
    return SSL_CTX_sess_accept_good(server_.ssl_context()) - resumed_sessions();
  }

 private:
  httplib::SSLServer server_;
  const std::string host_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

class CurlTransportTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.ok()) << certs_.Log(); }

  struct Outcome {
    absl::StatusOr<HttpResponse> result = absl::UnknownError("no answer");
    absl::Notification done;
  };

  // Sends a POST to `url` and returns at once.
  static std::shared_ptr<Outcome> Start(CurlTransport& transport, std::string url) {
    auto outcome = std::make_shared<Outcome>();
    HttpRequest request;
    request.method = "POST";
    request.url = std::move(url);
    request.body = "{}";
    request.deadline = absl::Now() + kWait;
    transport.Send(std::move(request), [outcome](absl::StatusOr<HttpResponse> result) {
      outcome->result = std::move(result);
      outcome->done.Notify();
    });
    return outcome;
  }

  static absl::StatusOr<HttpResponse> Wait(Outcome& outcome) {
    outcome.done.WaitForNotificationWithTimeout(kWait);
    return outcome.result;
  }

  static absl::StatusOr<HttpResponse> Await(CurlTransport& transport, std::string url) {
    return Wait(*Start(transport, std::move(url)));
  }

  static CurlTransport::Options Trusting(const std::string& ca_file) {
    CurlTransport::Options options;
    options.ca_file = ca_file;
    options.retry.max_attempts = 1;
    return options;
  }

  testing::TestCerts certs_;
};

TEST_F(CurlTransportTlsTest, TalksToAnUpstreamWhoseCertificateTheGivenCaSigned) {
  TlsUpstream upstream(certs_.Path("server", "pem"), certs_.Path("server", "key"));
  CurlTransport transport(Trusting(certs_.Path("ca", "pem")));

  const absl::StatusOr<HttpResponse> result = Await(transport, upstream.url());

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_code, 200);
  EXPECT_EQ(result->body, "ok");
  EXPECT_EQ(upstream.requests(), 1);
}

TEST_F(CurlTransportTlsTest, RefusesAnUpstreamTheSystemCasDoNotVouchFor) {
  TlsUpstream upstream(certs_.Path("server", "pem"), certs_.Path("server", "key"));
  CurlTransport transport(Trusting(""));  // the system's CAs only

  const absl::StatusOr<HttpResponse> result = Await(transport, upstream.url());

  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetErrorInfo(result.status())->reason(), kReasonUpstreamUnreachable);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("certificate"));
  EXPECT_EQ(upstream.requests(), 0);
}

// The server's certificate names 127.0.0.1 and localhost; served on
// 127.0.0.2 (loopback too), the chain verifies and the name does not.
TEST_F(CurlTransportTlsTest, RefusesACertificateForAnotherHost) {
  TlsUpstream upstream(certs_.Path("server", "pem"), certs_.Path("server", "key"),
                       "127.0.0.2");
  CurlTransport transport(Trusting(certs_.Path("ca", "pem")));

  const absl::StatusOr<HttpResponse> result = Await(transport, upstream.url());

  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("127.0.0.2"));
  EXPECT_EQ(upstream.requests(), 0);
}

// Every request here opens a connection (the upstream closes each after
// one request). The first makes a TLS session on the transport's only
// handle; the second, slow, keeps that handle busy on a new connection
// (resuming its own session); so the third needs a new handle, which
// resumes a session only because the cache is shared: unshared, it does a
// full handshake (2 full, 1 resumed; checked).
TEST_F(CurlTransportTlsTest, ANewHandleResumesASessionAnotherHandleMade) {
  TlsUpstream upstream(certs_.Path("server", "pem"), certs_.Path("server", "key"));
  CurlTransport transport(Trusting(certs_.Path("ca", "pem")));

  ASSERT_TRUE(Await(transport, upstream.url()).ok());
  std::shared_ptr<Outcome> slow = Start(transport, upstream.url("/slow"));
  const absl::Time give_up = absl::Now() + kWait;
  while (upstream.requests() < 2 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(upstream.requests(), 2) << "the slow request never arrived";
  const absl::StatusOr<HttpResponse> third = Await(transport, upstream.url());
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_TRUE(Wait(*slow).ok()) << slow->result.status();

  EXPECT_EQ(upstream.requests(), 3);
  EXPECT_EQ(transport.connections_opened(), 3);
  EXPECT_EQ(upstream.full_handshakes(), 1);
  EXPECT_EQ(upstream.resumed_sessions(), 2);
}

}  // namespace
}  // namespace mxgate
