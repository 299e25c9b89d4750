// CurlTransport against an HTTPS upstream (cpp-httplib's SSLServer with a
// throwaway CA): MX's certificate is always verified, by the CA given or
// the system's, host name included, and a refused upstream gets nothing;
// new connections resume the TLS session another connection made. And
// against nginx offering HTTP/2 by ALPN: the transport speaks it and
// multiplexes calls on one connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "service/mx_transport.h"
#include "service/status_details.h"
#include "tests/integration/test_certs.h"
#include "tests/integration/test_process.h"

namespace mxgate {
namespace {

using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

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

// nginx (Debian's nginx-light, as at an API's edge) on a free loopback
// port, TLS with HTTP/2 offered by ALPN, answering every request with 202
// and a small JSON body. Its access log has one line per request:
// "PROTOCOL CONNECTION_NUMBER METHOD URI".
class NginxHttp2Upstream {
 public:
  static constexpr absl::string_view kBody = R"({"member":{"guid":"MBR-1"}})";

  explicit NginxHttp2Upstream(const testing::TestCerts& certs)
      : prefix_(certs.dir()), port_(FreePort()) {
    const std::string config = absl::StrCat(
        "master_process off;\n"  // one process: nothing outlives the test
        "error_log ",
        prefix_, "/nginx-error.log warn;\npid ", prefix_,
        "/nginx.pid;\n"
        "events {}\n"
        "http {\n"
        "  client_body_temp_path ",
        prefix_, "/body;\n  log_format calls '$server_protocol $connection ",
        "$request_method $request_uri';\n  access_log ", prefix_,
        "/access.log calls;\n  server {\n    listen 127.0.0.1:", port_,
        " ssl http2;\n    ssl_certificate ", certs.Path("server", "pem"),
        ";\n    ssl_certificate_key ", certs.Path("server", "key"),
        ";\n    default_type application/json;\n    location / { return 202 '", kBody,
        "'; }\n  }\n}\n");
    std::ofstream(absl::StrCat(prefix_, "/nginx.conf")) << config;
    nginx_ = std::make_unique<testing::ChildProcess>(std::vector<std::string>{
        "/usr/sbin/nginx", "-p", prefix_, "-c", absl::StrCat(prefix_, "/nginx.conf"),
        "-g", "daemon off;"});
    const absl::Time give_up = absl::Now() + kWait;
    while (!(listening_ = Accepts()) && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  bool listening() const { return listening_; }
  std::string errors() const { return nginx_->Stderr() + ReadFile("nginx-error.log"); }
  std::string url(absl::string_view path) const {
    return absl::StrCat("https://127.0.0.1:", port_, path);
  }

  // The access log's lines, once it has `count` (nginx writes a line after
  // the answer went out, so it may trail the client by a moment).
  std::vector<std::string> AccessLog(size_t count) const {
    const absl::Time give_up = absl::Now() + kWait;
    while (true) {
      std::vector<std::string> lines =
          absl::StrSplit(ReadFile("access.log"), '\n', absl::SkipEmpty());
      if (lines.size() >= count || absl::Now() >= give_up) return lines;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

 private:
  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      close(fd);
      return -1;
    }
    close(fd);
    return ntohs(address.sin_port);
  }

  bool Accepts() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool accepted =
        connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(fd);
    return accepted;
  }

  std::string ReadFile(absl::string_view name) const {
    std::ifstream in(absl::StrCat(prefix_, "/", name));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  const std::string prefix_;
  const int port_;
  std::unique_ptr<testing::ChildProcess> nginx_;
  bool listening_ = false;
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

// MX's edge may offer HTTP/2: libcurl negotiates it by ALPN, the answer
// reads the same (status, lower-cased headers, body), and calls in flight
// together share the one connection as HTTP/2 streams.
TEST_F(CurlTransportTlsTest, SpeaksHttp2WhereOfferedAndMultiplexesCallsOnOneConnection) {
  NginxHttp2Upstream upstream(certs_);
  ASSERT_TRUE(upstream.listening()) << upstream.errors();
  CurlTransport transport(Trusting(certs_.Path("ca", "pem")));

  const absl::StatusOr<HttpResponse> first =
      Await(transport, upstream.url("/users/u1/members"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status_code, 202);
  EXPECT_EQ(first->body, NginxHttp2Upstream::kBody);
  EXPECT_THAT(first->headers,
              ::testing::Contains(std::make_pair(std::string("content-type"),
                                                 std::string("application/json"))));
  constexpr int kTogether = 8;
  std::vector<std::shared_ptr<Outcome>> together;
  together.reserve(kTogether);
  for (int i = 0; i < kTogether; ++i) {
    together.push_back(
        Start(transport, upstream.url(absl::StrCat("/users/u", i, "/members"))));
  }
  for (const std::shared_ptr<Outcome>& outcome : together) {
    const absl::StatusOr<HttpResponse> result = Wait(*outcome);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status_code, 202);
    EXPECT_EQ(result->body, NginxHttp2Upstream::kBody);
  }

  const std::vector<std::string> lines = upstream.AccessLog(1 + kTogether);
  ASSERT_THAT(lines, SizeIs(1 + kTogether));
  EXPECT_THAT(lines, Each(StartsWith("HTTP/2.0 ")));
  std::set<std::string> connections;
  for (const std::string& line : lines) {
    const std::vector<std::string> fields = absl::StrSplit(line, ' ');
    connections.insert(fields.at(1));
  }
  EXPECT_THAT(connections, SizeIs(1));
  EXPECT_EQ(transport.connections_opened(), 1);
}

}  // namespace
}  // namespace mxgate
