// The fault suite: the real mxgate against the real mx-sandbox, with each
// fault of sandbox/fault_injection.h injected through POST /_sandbox/faults.
// Every test asserts the gRPC code and ErrorInfo reason the caller gets (the
// README's Errors tables), how many members MX really created
// (/_sandbox/stats' members_created: never a duplicate), and an upper bound
// on the call's time. Each test prints one `FAULT ...` line with what it
// measured; docs/RELIABILITY.md quotes them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "tests/integration/gateway_process.h"
#include "tests/integration/test_process.h"

namespace mxgate::testing {
namespace {

using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::CreateMemberResponse;
using ::mx::platform::v1::GetMemberRequest;
using ::mx::platform::v1::GetMemberResponse;
using ::mx::platform::v1::MemberService;

// The gateway's bound on each MX call in this suite: short, so the timeout
// faults end quickly.
constexpr int kMxTimeoutMs = 1000;
// What any call may take beyond that bound: generous, never to flake on a
// loaded 2-core machine.
constexpr absl::Duration kSlack = absl::Seconds(2);
const absl::Duration kCallBound = absl::Milliseconds(kMxTimeoutMs) + kSlack;
// A call that timed out took about kMxTimeoutMs (libcurl's timer may fire
// a millisecond early by our clock): at least this, so an early failure is
// not taken for a timeout.
const absl::Duration kTimedOut = absl::Milliseconds(kMxTimeoutMs - 100);

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
};

// One HTTP/1.1 request to the sandbox's control endpoint
// (http://127.0.0.1:PORT/path), Connection: close.
HttpAnswer HttpCall(const std::string& method, const std::string& url,
                    const std::string& body = "") {
  absl::string_view rest(url);
  HttpAnswer answer;
  if (!absl::ConsumePrefix(&rest, "http://")) return answer;
  const size_t slash = rest.find('/');
  const std::string authority(rest.substr(0, slash));
  const std::string path(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port =
      htons(static_cast<uint16_t>(std::atoi(authority.c_str() + colon + 1)));
  inet_pton(AF_INET, authority.substr(0, colon).c_str(), &address.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request =
        absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", authority,
                     "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "Content-Length: ",
                     body.size(), "\r\n\r\n", body);
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char chunk[4096];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0) response.append(chunk, n);
  }
  close(fd);
  if (response.size() > 12) answer.status = std::atoi(response.c_str() + 9);
  const size_t at = response.find("\r\n\r\n");
  if (at != std::string::npos) answer.body = response.substr(at + 4);
  return answer;
}

// A request_id no other test uses (the sandbox refuses a reused member id).
std::string NewRequestId() {
  static std::atomic<int> next{0};
  return absl::StrCat("fault-", absl::ToUnixMicros(absl::Now()), "-", next++);
}

class FaultSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sandbox_ = new Sandbox();
    ASSERT_FALSE(sandbox_->url().empty()) << sandbox_->process().Stderr();
    // No circuit breaker: these tests fail MX on purpose, many times in a
    // row; CircuitBreakerOpensUnderAFault turns it on.
    gateway_ =
        new Gateway(sandbox_->url(), {"--circuit_failure_threshold=0",
                                      absl::StrCat("--mx_timeout_ms=", kMxTimeoutMs)});
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete sandbox_;
  }

  void SetUp() override {
    ASSERT_EQ(HttpCall("DELETE", sandbox_->url() + "/_sandbox/faults").status, 200);
    created_before_ = sandbox_->Stat("members_created");
    injected_before_ = FaultsInjected();
  }
  void TearDown() override { HttpCall("DELETE", sandbox_->url() + "/_sandbox/faults"); }

  static void SetFaults(const std::string& rules) {
    const HttpAnswer answer =
        HttpCall("POST", sandbox_->url() + "/_sandbox/faults", rules);
    ASSERT_EQ(answer.status, 200) << answer.body;
  }

  // Members MX really created since SetUp.
  int Created() const { return sandbox_->Stat("members_created") - created_before_; }
  // Faults the sandbox injected since SetUp (each one a request that reached it).
  int Injected() const { return FaultsInjected() - injected_before_; }

  static int FaultsInjected() {
    const std::string body = HttpCall("GET", sandbox_->url() + "/_sandbox/faults").body;
    const size_t at = body.find("\"injected\":");
    return at == std::string::npos ? -1 : std::atoi(body.c_str() + at + 11);
  }

  // A create through the gateway, timed; `request_id` "" for none.
  grpc::Status Create(const std::string& request_id, CreateMemberResponse* response,
                      absl::Duration* took, Gateway* gateway = nullptr) {
    CreateMemberRequest request = MxBankRequest();
    request.set_request_id(request_id);
    const absl::Time start = absl::Now();
    grpc::Status status =
        (gateway != nullptr ? gateway : gateway_)->CreateMember(request, response);
    *took = absl::Now() - start;
    return status;
  }

  // The figures docs/RELIABILITY.md quotes.
  void Report(const std::string& fault, const grpc::Status& status, absl::Duration took) {
    std::printf("FAULT %-40s code=%d reason=%s created=%d injected=%d took=%.0fms\n",
                fault.c_str(), static_cast<int>(status.error_code()),
                ReasonOf(status).c_str(), Created(), Injected(),
                absl::ToDoubleMilliseconds(took));
    std::fflush(stdout);
  }

  static Sandbox* sandbox_;
  static Gateway* gateway_;
  int created_before_ = 0;
  int injected_before_ = 0;
};

Sandbox* FaultSuite::sandbox_ = nullptr;
Gateway* FaultSuite::gateway_ = nullptr;

constexpr char kCreateRule[] = R"("method":"POST","path_prefix":"/users/")";

std::string CreateFault(const std::string& fault, const std::string& extra = "") {
  return absl::StrCat(R"([{"fault":")", fault, R"(",)", kCreateRule,
                      extra.empty() ? "" : ",", extra, "}]");
}

// ---- Connection resets ------------------------------------------------------

TEST_F(FaultSuite, ResetAfterRequestWithRequestIdRetriesAndAnswersTheFirstMember) {
  SetFaults(CreateFault("reset_after_request", R"("count":1)"));
  const std::string request_id = NewRequestId();
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(request_id, &response, &took);
  Report("reset_after_request, request_id", status, took);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.outcome(),
            ::mx::platform::v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  EXPECT_EQ(response.member().id(), request_id);
  EXPECT_EQ(Created(), 1);  // the first copy; the re-send met 409
  EXPECT_EQ(Injected(), 1);
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, ResetAfterRequestWithoutAnyIdIsUnknownAndNotResent) {
  SetFaults(CreateFault("reset_after_request", R"("count":1)"));
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create("", &response, &took);
  Report("reset_after_request, no id", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
  // One copy reached MX and created the member; neither libcurl nor mxgate
  // sent a second.
  EXPECT_EQ(Created(), 1);
  EXPECT_EQ(sandbox_->Stat("members_created") - created_before_, 1);
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, ResetAfterRequestOnAKeptAliveConnectionIsNotResentByLibcurl) {
  // A first create leaves a kept-alive connection in the gateway's pool;
  // the reset then hits a reused connection, where libcurl would retry a
  // fresh connect on its own.
  CreateMemberResponse response;
  absl::Duration took;
  ASSERT_TRUE(Create("", &response, &took).ok());
  SetFaults(CreateFault("reset_after_request", R"("count":1)"));
  const grpc::Status status = Create("", &response, &took);
  Report("reset_after_request, reused connection, no id", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
  EXPECT_EQ(Created(), 2);  // the warm-up and the lost one; no third
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, ResetBeforeRequestWithRequestIdRetriesAndCreatesOnce) {
  SetFaults(CreateFault("reset_before_request", R"("count":1)"));
  const std::string request_id = NewRequestId();
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(request_id, &response, &took);
  Report("reset_before_request, request_id", status, took);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // MX never read the first copy, so the re-send is the one that creates.
  EXPECT_EQ(response.outcome(),
            ::mx::platform::v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  EXPECT_EQ(response.member().id(), request_id);
  EXPECT_EQ(Created(), 1);
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, ResetBeforeRequestWithoutAnyIdIsUnknownAndCreatesNothing) {
  SetFaults(CreateFault("reset_before_request", R"("count":1)"));
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create("", &response, &took);
  Report("reset_before_request, no id", status, took);
  // The request had left: mxgate cannot know MX did not read it.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
  EXPECT_EQ(Created(), 0);
  EXPECT_LT(took, kCallBound);
}

// The member's own id makes a re-send safe as a request_id does, but only
// request_id lets mxgate re-send by itself: the caller gets UNAVAILABLE.
TEST_F(FaultSuite, ResetAfterRequestWithAMemberIdIsUnavailable) {
  SetFaults(CreateFault("reset_after_request", R"("count":1)"));
  CreateMemberRequest request = MxBankRequest();
  request.mutable_member()->set_id(NewRequestId());
  CreateMemberResponse response;
  const absl::Time start = absl::Now();
  const grpc::Status status = gateway_->CreateMember(request, &response);
  const absl::Duration took = absl::Now() - start;
  Report("reset_after_request, member.id", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
  EXPECT_EQ(Created(), 1);
  EXPECT_EQ(Injected(), 1);
  EXPECT_LT(took, kCallBound);
  // The caller's retry meets 409: ALREADY_EXISTS (no request_id, so no
  // read-back), and still one member.
  const grpc::Status retried = gateway_->CreateMember(request, &response);
  EXPECT_EQ(retried.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Created(), 1);
}

class ReadFault : public FaultSuite {
 protected:
  // GetMember of guid_ through the gateway, timed.
  grpc::Status Resume(GetMemberResponse* response, absl::Duration* took) {
    GetMemberRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.set_member_identifier(guid_);
    const absl::Time start = absl::Now();
    grpc::Status status =
        gateway_->Call(&MemberService::Stub::GetMember, request, response);
    *took = absl::Now() - start;
    return status;
  }
  std::string guid_;
};

TEST_F(ReadFault, OneResetOfAReadOnAReusedConnectionIsResent) {
  CreateMemberResponse created;
  absl::Duration took;
  ASSERT_TRUE(Create("", &created, &took).ok());
  guid_ = created.member().guid();
  SetFaults(R"([{"fault":"reset_before_request","method":"GET","count":1}])");
  GetMemberResponse response;
  const grpc::Status status = Resume(&response, &took);
  Report("reset_before_request x1, GetMember", status, took);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.member().guid(), guid_);
  EXPECT_EQ(Injected(), 1);
  EXPECT_LT(took, kCallBound);
}

// FINDING (docs/RELIABILITY.md): a read whose connection breaks after the
// request left is answered UNKNOWN / UPSTREAM_OUTCOME_UNKNOWN ("MX may have
// acted on it") and mxgate does not retry it, although a GET is safe to
// re-send: only libcurl's own fresh-connect re-send (on a reused
// connection) saves the first reset. Enable once service/ retries reads.
TEST_F(ReadFault, TwoResetsOfAReadAreRetriedByTheGateway) {
  CreateMemberResponse created;
  absl::Duration took;
  ASSERT_TRUE(Create("", &created, &took).ok());
  guid_ = created.member().guid();
  SetFaults(R"([{"fault":"reset_before_request","method":"GET","count":2}])");
  GetMemberResponse response;
  const grpc::Status status = Resume(&response, &took);
  Report("reset_before_request x2, GetMember", status, took);
  ASSERT_TRUE(status.ok()) << ReasonOf(status) << " " << status.error_message();
  EXPECT_EQ(response.member().guid(), guid_);
  EXPECT_EQ(Injected(), 2);
  EXPECT_LT(took, kCallBound);
}

// ---- HTTP errors (a limiter or proxy answers; MX does not act) -------------

struct HttpErrorRow {
  int status;
  bool request_id;
  grpc::StatusCode code;
  const char* reason;
  int retry_after_s;  // -1: no RetryInfo expected
};

void PrintTo(const HttpErrorRow& row, std::ostream* os) {
  *os << row.status << (row.request_id ? " with request_id" : " without id");
}

class HttpErrorFault : public FaultSuite,
                       public ::testing::WithParamInterface<HttpErrorRow> {};

TEST_P(HttpErrorFault, MapsToTheDocumentedCodeAndIsNotResent) {
  const HttpErrorRow& row = GetParam();
  SetFaults(CreateFault(
      "http_error",
      absl::StrCat(R"("status":)", row.status,
                   row.retry_after_s >= 0
                       ? absl::StrCat(R"(,"retry_after_s":)", row.retry_after_s)
                       : "")));
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status =
      Create(row.request_id ? NewRequestId() : "", &response, &took);
  Report(absl::StrCat("http_error ", row.status,
                      row.request_id ? ", request_id" : ", no id"),
         status, took);
  EXPECT_EQ(status.error_code(), row.code) << status.error_message();
  EXPECT_EQ(ReasonOf(status), row.reason);
  const absl::optional<google::rpc::ErrorInfo> info =
      FindDetail<google::rpc::ErrorInfo>(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("http_status"), absl::StrCat(row.status));
  const absl::optional<google::rpc::RetryInfo> retry =
      FindDetail<google::rpc::RetryInfo>(status);
  if (row.retry_after_s >= 0) {
    ASSERT_TRUE(retry.has_value());
    EXPECT_EQ(retry->retry_delay().seconds(), row.retry_after_s);
  } else {
    EXPECT_FALSE(retry.has_value());
  }
  EXPECT_EQ(Injected(), 1);  // mxgate re-sent nothing
  EXPECT_EQ(Created(), 0);
  EXPECT_LT(took, kCallBound);
}

INSTANTIATE_TEST_SUITE_P(
    EveryStatus, HttpErrorFault,
    ::testing::Values(HttpErrorRow{429, true, grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "UPSTREAM_RATE_LIMITED", 3},
                      HttpErrorRow{500, true, grpc::StatusCode::INTERNAL,
                                   "UPSTREAM_INTERNAL_ERROR", -1},
                      HttpErrorRow{502, false, grpc::StatusCode::UNKNOWN,
                                   "UPSTREAM_BAD_GATEWAY", -1},
                      HttpErrorRow{502, true, grpc::StatusCode::UNAVAILABLE,
                                   "UPSTREAM_BAD_GATEWAY", -1},
                      HttpErrorRow{503, false, grpc::StatusCode::UNAVAILABLE,
                                   "UPSTREAM_UNAVAILABLE", 2},
                      HttpErrorRow{504, true, grpc::StatusCode::DEADLINE_EXCEEDED,
                                   "UPSTREAM_GATEWAY_TIMEOUT", -1}));

// ---- Bodies (MX acted; its answer is mangled) -------------------------------

TEST_F(FaultSuite, TruncatedBodyWithoutAnyIdIsUnknown) {
  SetFaults(CreateFault("truncated_body", R"("count":1)"));
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create("", &response, &took);
  Report("truncated_body, no id", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
  EXPECT_EQ(Created(), 1);
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, TruncatedBodyWithRequestIdRetriesAndAnswersTheFirstMember) {
  SetFaults(CreateFault("truncated_body", R"("count":1)"));
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(NewRequestId(), &response, &took);
  Report("truncated_body, request_id", status, took);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.outcome(),
            ::mx::platform::v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  EXPECT_EQ(Created(), 1);
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, MalformedBodyIsInternalAndACallerRetryFindsTheMember) {
  SetFaults(CreateFault("malformed_body", R"("count":1)"));
  const std::string request_id = NewRequestId();
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(request_id, &response, &took);
  Report("malformed_body (202), request_id", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_RESPONSE_MALFORMED");
  EXPECT_EQ(Created(), 1);
  EXPECT_LT(took, kCallBound);
  // MX did create it: the caller's retry with the same request_id gets it.
  const grpc::Status retried = Create(request_id, &response, &took);
  ASSERT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(response.outcome(),
            ::mx::platform::v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  EXPECT_EQ(Created(), 1);
}

TEST_F(FaultSuite, OversizedBodyIsResourceExhausted) {
  SetFaults(CreateFault("oversized_body", R"("count":1)"));  // 9 MiB
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(NewRequestId(), &response, &took);
  Report("oversized_body (9 MiB)", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_RESPONSE_TOO_LARGE");
  EXPECT_EQ(Created(), 1);
  EXPECT_EQ(Injected(), 1);
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, FastEndlessBodyIsCutAtTheSizeCap) {
  SetFaults(
      CreateFault("endless_body", R"("count":1,"chunk_bytes":65536,"interval_ms":0)"));
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(NewRequestId(), &response, &took);
  Report("endless_body, as fast as it goes", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_RESPONSE_TOO_LARGE");
  EXPECT_EQ(Created(), 1);
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, SlowEndlessBodyTimesOutAtMxTimeout) {
  SetFaults(CreateFault("endless_body", R"("count":1)"));  // 1 KiB per 10 ms
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(NewRequestId(), &response, &took);
  Report("endless_body, 1 KiB per 10 ms", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_TIMEOUT");
  EXPECT_EQ(Created(), 1);
  EXPECT_GE(took, kTimedOut);
  EXPECT_LT(took, kCallBound);
}

TEST_F(FaultSuite, SlowDripBodyTimesOutAtMxTimeout) {
  SetFaults(CreateFault("slow_body", R"("count":1)"));  // 4 bytes per 100 ms
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(NewRequestId(), &response, &took);
  Report("slow_body, 4 bytes per 100 ms", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_TIMEOUT");
  EXPECT_EQ(Created(), 1);
  EXPECT_GE(took, kTimedOut);
  EXPECT_LT(took, kCallBound);
}

// ---- Latency and idle connections -------------------------------------------

TEST_F(FaultSuite, LatencyBelowTheTimeoutIsOnlySlower) {
  SetFaults(CreateFault("latency", R"("count":1,"latency_ms":300)"));
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(NewRequestId(), &response, &took);
  Report("latency 300 ms", status, took);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.outcome(),
            ::mx::platform::v1::CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED);
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Milliseconds(300) + kSlack);
  EXPECT_EQ(Created(), 1);
}

TEST_F(FaultSuite, LatencyBeyondTheTimeoutIsDeadlineExceededAndNotResent) {
  SetFaults(CreateFault("latency", R"("count":1,"latency_ms":2500)"));
  const std::string request_id = NewRequestId();
  CreateMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Create(request_id, &response, &took);
  Report("latency 2500 ms > --mx_timeout_ms", status, took);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_TIMEOUT");
  EXPECT_GE(took, kTimedOut);
  EXPECT_LT(took, kCallBound);
  EXPECT_EQ(Created(), 1);  // MX acted; the answer came too late
  EXPECT_EQ(Injected(), 1);
  const grpc::Status retried = Create(request_id, &response, &took);
  ASSERT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(response.outcome(),
            ::mx::platform::v1::CREATE_MEMBER_OUTCOME_ALREADY_CREATED);
  EXPECT_EQ(Created(), 1);
}

TEST_F(FaultSuite, IdleConnectionsClosedEarlyAreReplacedWithoutErrors) {
  SetFaults(CreateFault("close_after_response"));  // every create
  const absl::Time start = absl::Now();
  for (int i = 0; i < 10; ++i) {
    CreateMemberResponse response;
    absl::Duration took;
    const grpc::Status status = Create("", &response, &took);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    // The pool's connection died while idle; the next create must not
    // fail (nor be sent twice) for it.
    absl::SleepFor(absl::Milliseconds(20));
  }
  Report("close_after_response x10, no id", grpc::Status::OK, absl::Now() - start);
  EXPECT_EQ(Created(), 10);
}

// ---- Fractions: no duplicates under a mix ------------------------------------

TEST_F(FaultSuite, HalfOfCreatesResetAfterRequestStillCreateEachMemberOnce) {
  SetFaults(CreateFault("reset_after_request", R"("fraction":0.5)"));
  constexpr int kCalls = 20;
  int ok = 0, unavailable = 0;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kCalls; ++i) {
    CreateMemberResponse response;
    absl::Duration took;
    const grpc::Status status = Create(NewRequestId(), &response, &took);
    if (status.ok()) {
      ++ok;
    } else {
      // Every attempt was reset: a retry by the caller is safe.
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
          << status.error_message();
      EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
      ++unavailable;
    }
    EXPECT_LT(took, kCallBound);
  }
  std::printf(
      "FAULT reset_after_request 50%%, 20 calls: ok=%d unavailable=%d "
      "created=%d injected=%d took=%.0fms\n",
      ok, unavailable, Created(), Injected(),
      absl::ToDoubleMilliseconds(absl::Now() - start));
  EXPECT_EQ(ok + unavailable, kCalls);
  // Each call's first copy created its member (the fault acts after MX);
  // every re-send met 409: exactly one member per call.
  EXPECT_EQ(Created(), kCalls);
}

TEST_F(FaultSuite, HalfOfCreatesRefusedWith503CreateOnlyTheAnsweredOnes) {
  SetFaults(CreateFault("http_error", R"("status":503,"fraction":0.5)"));
  constexpr int kCalls = 20;
  int ok = 0, unavailable = 0;
  for (int i = 0; i < kCalls; ++i) {
    CreateMemberResponse response;
    absl::Duration took;
    const grpc::Status status = Create("", &response, &took);
    if (status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
      EXPECT_EQ(ReasonOf(status), "UPSTREAM_UNAVAILABLE");
      ++unavailable;
    }
  }
  std::printf(
      "FAULT http_error 503 50%%, 20 calls: ok=%d unavailable=%d created=%d "
      "injected=%d\n",
      ok, unavailable, Created(), Injected());
  EXPECT_EQ(ok + unavailable, kCalls);
  EXPECT_EQ(Created(), ok);
  EXPECT_EQ(Injected(), unavailable);
}

// ---- Circuit breaker ---------------------------------------------------------

TEST_F(FaultSuite, CircuitBreakerOpensUnderAFaultAndFailsFast) {
  Gateway guarded(sandbox_->url(),
                  {"--circuit_failure_threshold=3", "--circuit_open_ms=60000",
                   absl::StrCat("--mx_timeout_ms=", kMxTimeoutMs)});
  SetFaults(CreateFault("http_error", R"("status":503)"));
  CreateMemberResponse response;
  absl::Duration took;
  for (int i = 0; i < 3; ++i) {
    const grpc::Status status = Create("", &response, &took, &guarded);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << i;
    EXPECT_EQ(ReasonOf(status), "UPSTREAM_UNAVAILABLE") << i;
  }
  const grpc::Status open = Create("", &response, &took, &guarded);
  Report("http_error 503 x3, then circuit open", open, took);
  EXPECT_EQ(open.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(open), "UPSTREAM_CIRCUIT_OPEN");
  EXPECT_TRUE(FindDetail<google::rpc::RetryInfo>(open).has_value());
  EXPECT_EQ(Injected(), 3);  // the fourth call never reached MX
  EXPECT_LT(took, absl::Milliseconds(500));
  EXPECT_EQ(Created(), 0);
}

}  // namespace
}  // namespace mxgate::testing
