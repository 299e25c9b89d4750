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

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
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

using ::mx::platform::v1::ConnectionStatus;
using ::mx::platform::v1::CreateMemberRequest;
using ::mx::platform::v1::CreateMemberResponse;
using ::mx::platform::v1::DeleteMemberRequest;
using ::mx::platform::v1::DeleteMemberResponse;
using ::mx::platform::v1::GetMemberRequest;
using ::mx::platform::v1::GetMemberResponse;
using ::mx::platform::v1::GetMemberStatusRequest;
using ::mx::platform::v1::GetMemberStatusResponse;
using ::mx::platform::v1::MemberService;
using ::mx::platform::v1::ResumeMemberRequest;
using ::mx::platform::v1::ResumeMemberResponse;
using ::mx::platform::v1::WatchMemberStatusRequest;
using ::mx::platform::v1::WatchMemberStatusResponse;

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
  static void SetUpTestSuite() { StartProcesses({}); }
  // The suite's sandbox, with `sandbox_flags`, and its gateway.
  static void StartProcesses(const std::vector<std::string>& sandbox_flags) {
    sandbox_ = new Sandbox(sandbox_flags);
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

  // The figures docs/RELIABILITY.md quotes; `extra` goes at the end.
  void Report(const std::string& fault, const grpc::Status& status, absl::Duration took,
              const std::string& extra = "") {
    std::printf("FAULT %-40s code=%d reason=%s created=%d injected=%d took=%.0fms%s\n",
                fault.c_str(), static_cast<int>(status.error_code()),
                ReasonOf(status).c_str(), Created(), Injected(),
                absl::ToDoubleMilliseconds(took), extra.c_str());
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
  grpc::Status Get(GetMemberResponse* response, absl::Duration* took) {
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
  const grpc::Status status = Get(&response, &took);
  Report("reset_before_request x1, GetMember", status, took);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.member().guid(), guid_);
  EXPECT_EQ(Injected(), 1);
  EXPECT_LT(took, kCallBound);
}

// A read is re-sent whenever its connection broke: libcurl's re-send on a
// fresh connection saves the first reset, the gateway's retry the second.
TEST_F(ReadFault, TwoResetsOfAReadAreRetriedByTheGateway) {
  CreateMemberResponse created;
  absl::Duration took;
  ASSERT_TRUE(Create("", &created, &took).ok());
  guid_ = created.member().guid();
  SetFaults(R"([{"fault":"reset_before_request","method":"GET","count":2}])");
  GetMemberResponse response;
  const grpc::Status status = Get(&response, &took);
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

// Eight creates at once, each answered with a body that never ends, as
// fast as loopback carries it (about 1 GB/s here): without the cap the
// gateway would hold gigabytes before --mx_timeout_ms. Each call may hold
// its 8 MiB body in a buffer grown by doubling (16 MiB of capacity), so its
// resident set may grow by 8 x 16 MiB plus allocator slack, never more.
TEST_F(FaultSuite, EndlessBodiesOnEveryCreateKeepTheGatewaysMemoryBounded) {
  SetFaults(CreateFault("endless_body", R"("chunk_bytes":65536,"interval_ms":0)"));
  constexpr int kCalls = 8;
  constexpr long kBoundKib = (kCalls * 16L + 32) * 1024;
  const ChildProcess& gateway = gateway_->process();
  const long before_kib = gateway.ResidentKib();
  ASSERT_GT(before_kib, 0);
  std::atomic<long> peak_kib{before_kib};
  std::atomic<bool> calling{true};
  std::thread sampler([&] {
    while (calling.load()) {
      peak_kib.store(std::max(peak_kib.load(), gateway.ResidentKib()));
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<absl::Duration> took(kCalls);
  const absl::Time start = absl::Now();
  {
    std::vector<std::thread> callers;
    callers.reserve(kCalls);
    for (int i = 0; i < kCalls; ++i) {
      callers.emplace_back([&, i] {
        CreateMemberResponse response;
        statuses[i] = Create(NewRequestId(), &response, &took[i]);
      });
    }
    for (std::thread& caller : callers) caller.join();
  }
  calling.store(false);
  sampler.join();
  const long growth_kib = peak_kib.load() - before_kib;
  Report("endless_body on 8 creates at once", statuses[0], absl::Now() - start,
         absl::StrCat(" rss_before=", before_kib / 1024, "MiB growth=", growth_kib / 1024,
                      "MiB"));
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << statuses[i].error_message();
    EXPECT_EQ(ReasonOf(statuses[i]), "UPSTREAM_RESPONSE_TOO_LARGE");
    EXPECT_LT(took[i], kCallBound);
  }
  EXPECT_EQ(Created(), kCalls);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // A sanitizer's gateway keeps freed memory in quarantine and adds shadow
  // memory (196 MiB of growth under ASan): its resident set is no measure.
  (void)kBoundKib;
#else
  EXPECT_LT(growth_kib, kBoundKib);
#endif
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

// ---- ResumeMember, DeleteMember and WatchMemberStatus's polls ----------------
//
// What mxgate sends twice on its own (service/mx_transport.cc,
// IsSafeToResend): reads only. A watch's poll (GET .../status) whose
// connection breaks is re-sent. PUT .../resume is not, although HTTP calls
// PUT idempotent: a second copy of an MFA answer meets a member no longer
// CHALLENGED (405). Nor is DELETE: a second copy after the first took
// effect is 404. A lost answer to either is UNKNOWN, as for a create
// without an id (README, Errors: "connection lost after the request was
// sent").

// A watch's second poll comes this long after its first message: the
// gateway's --watch_initial_poll_ms (default).
constexpr absl::Duration kSecondPoll = absl::Milliseconds(500);
// Far beyond any watch here: one that runs into it hangs.
constexpr absl::Duration kWatchDeadline = absl::Seconds(20);

struct Watched {
  std::vector<WatchMemberStatusResponse> messages;
  grpc::Status status;
  absl::Duration took;
};

class MemberCallFault : public FaultSuite {
 protected:
  // Aggregation steps of 20 ms: a challenge is there at once, and an
  // authorized OAuth member connects long before a watch's next poll.
  static void SetUpTestSuite() { StartProcesses({"--step_ms=20"}); }

  // Handled(), StatusPolls() and Deleted() count from here.
  void StartCounting() {
    handled_before_ = sandbox_->Stat("requests");
    polls_before_ = sandbox_->Stat("status_requests");
    deleted_before_ = sandbox_->Stat("members_deleted");
  }
  // Requests MX (the Sandbox) handled: all that reached the sandbox but
  // those an http_error or reset_before_request fault refused first (those
  // are in Injected() only).
  int Handled() const { return sandbox_->Stat("requests") - handled_before_; }
  // The handled ones that were status polls.
  int StatusPolls() const { return sandbox_->Stat("status_requests") - polls_before_; }
  int Deleted() const { return sandbox_->Stat("members_deleted") - deleted_before_; }
  // The end of the FAULT line.
  std::string Counts() const {
    return absl::StrCat(" handled=", Handled(), " polls=", StatusPolls(),
                        " deleted=", Deleted());
  }

  static std::string MemberPath(const std::string& guid) {
    return absl::StrCat("/users/", sandbox::kDemoUserId, "/members/", guid);
  }
  // One fault rule: `fields` (the fault and its settings) on `method`
  // requests whose path starts with `path`.
  static std::string Rule(const std::string& method, const std::string& path,
                          const std::string& fields) {
    return absl::StrCat(R"({"method":")", method, R"(","path_prefix":")", path, R"(",)",
                        fields, "}");
  }
  // The rules for a watch of `guid` whose second poll gets `fields`: the
  // first poll passes (a 1 ms latency, the least a rule can do), so the
  // fault hits a stream that has already sent a message.
  static std::string SecondPollFault(const std::string& guid, const std::string& fields) {
    const std::string polls = absl::StrCat(MemberPath(guid), "/status");
    return absl::StrCat(
        "[", Rule("GET", polls, R"("fault":"latency","latency_ms":1,"count":1)"), ",",
        Rule("GET", polls, fields), "]");
  }

  // An mxbank member of demo-user with `password`; its guid.
  static std::string NewMxBankMember(const std::string& password) {
    CreateMemberResponse response;
    const grpc::Status status =
        gateway_->CreateMember(MxBankRequest(sandbox::kDemoUserId, password), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.member().guid();
  }

  // An OAuth member: PENDING until its oauth_window_uri is fetched, so a
  // watch of it polls on until then.
  static CreateMemberResponse NewPendingOAuthMember() {
    CreateMemberRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.mutable_member()->set_institution_code(sandbox::kMxBankOauthCode);
    request.mutable_member()->set_is_oauth(true);
    CreateMemberResponse response;
    const grpc::Status status = gateway_->CreateMember(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Member `guid`'s status as MX has it; UNSPECIFIED when the read failed.
  static ConnectionStatus StatusOf(const std::string& guid,
                                   GetMemberStatusResponse* response) {
    GetMemberStatusRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.set_member_identifier(guid);
    if (!gateway_->Call(&MemberService::Stub::GetMemberStatus, request, response).ok()) {
      return ::mx::platform::v1::CONNECTION_STATUS_UNSPECIFIED;
    }
    return response->status().connection_status();
  }
  static ConnectionStatus StatusOf(const std::string& guid) {
    GetMemberStatusResponse response;
    return StatusOf(guid, &response);
  }

  // The guid of the challenge of member `guid` (password `challenge`),
  // once MX asks it; "" when it never does.
  static std::string ChallengeOf(const std::string& guid) {
    const absl::Time give_up = absl::Now() + kCallBound;
    GetMemberStatusResponse response;
    while (absl::Now() < give_up) {
      if (StatusOf(guid, &response) == ::mx::platform::v1::CONNECTION_STATUS_CHALLENGED &&
          response.status().challenges_size() == 1) {
        return response.status().challenges(0).guid();
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << "member " << guid << " was never CHALLENGED";
    return "";
  }

  // Answers `challenge` of member `guid` with `correct`, timed.
  static grpc::Status Resume(const std::string& guid, const std::string& challenge,
                             ResumeMemberResponse* response, absl::Duration* took) {
    ResumeMemberRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.set_member_identifier(guid);
    ::mx::platform::v1::ChallengeAnswer* answer = request.add_challenges();
    answer->set_guid(challenge);
    answer->set_value("correct");
    const absl::Time start = absl::Now();
    grpc::Status status =
        gateway_->Call(&MemberService::Stub::ResumeMember, request, response);
    *took = absl::Now() - start;
    return status;
  }

  static grpc::Status Delete(const std::string& guid, absl::Duration* took) {
    DeleteMemberRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.set_member_identifier(guid);
    DeleteMemberResponse response;
    const absl::Time start = absl::Now();
    grpc::Status status =
        gateway_->Call(&MemberService::Stub::DeleteMember, request, &response);
    *took = absl::Now() - start;
    return status;
  }

  static WatchMemberStatusRequest WatchOf(const std::string& guid) {
    WatchMemberStatusRequest request;
    request.set_user_identifier(sandbox::kDemoUserId);
    request.set_member_identifier(guid);
    return request;
  }

  // A whole watch of member `guid`, timed, with kWatchDeadline.
  static Watched Watch(const std::string& guid) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWatchDeadline));
    Watched watched;
    const absl::Time start = absl::Now();
    auto reader = gateway_->stub().WatchMemberStatus(&context, WatchOf(guid));
    WatchMemberStatusResponse message;
    while (reader->Read(&message)) watched.messages.push_back(message);
    watched.status = reader->Finish();
    watched.took = absl::Now() - start;
    return watched;
  }

  // The watch sent one message, PENDING and not final, then ended with
  // `code` and `reason` instead of a final status.
  static void ExpectEndedAfterOnePendingWith(const Watched& watched,
                                             grpc::StatusCode code,
                                             const std::string& reason) {
    ASSERT_EQ(watched.messages.size(), 1u);
    EXPECT_EQ(watched.messages[0].status().connection_status(),
              ::mx::platform::v1::CONNECTION_STATUS_PENDING);
    EXPECT_FALSE(watched.messages[0].final());
    EXPECT_EQ(watched.status.error_code(), code) << watched.status.error_message();
    EXPECT_EQ(ReasonOf(watched.status), reason);
  }

  int handled_before_ = 0;
  int polls_before_ = 0;
  int deleted_before_ = 0;
};

TEST_F(MemberCallFault, ResumeResetAfterRequestIsUnknownAndNotResent) {
  const std::string guid = NewMxBankMember("challenge");
  const std::string challenge = ChallengeOf(guid);
  ASSERT_FALSE(challenge.empty());
  SetFaults(absl::StrCat(
      "[", Rule("PUT", MemberPath(guid), R"("fault":"reset_after_request","count":1)"),
      "]"));
  StartCounting();
  ResumeMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Resume(guid, challenge, &response, &took);
  Report("reset_after_request, ResumeMember", status, took, Counts());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
  EXPECT_EQ(Handled(), 1);  // one copy: neither libcurl nor mxgate re-sent it
  EXPECT_EQ(Injected(), 1);
  EXPECT_LT(took, kCallBound);
  // MX took the answer, so a copy sent again is refused: what a blind
  // re-send would have turned the caller's success into.
  EXPECT_NE(StatusOf(guid), ::mx::platform::v1::CONNECTION_STATUS_CHALLENGED);
  const grpc::Status again = Resume(guid, challenge, &response, &took);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(again), "UPSTREAM_CONSTRAINT_NOT_MET");
}

TEST_F(MemberCallFault, ResumeAnswered503IsUnavailableAndACallerRetryResumes) {
  const std::string guid = NewMxBankMember("challenge");
  const std::string challenge = ChallengeOf(guid);
  ASSERT_FALSE(challenge.empty());
  SetFaults(absl::StrCat("[",
                         Rule("PUT", MemberPath(guid),
                              R"("fault":"http_error","status":503,"retry_after_s":2,)"
                              R"("count":1)"),
                         "]"));
  StartCounting();
  ResumeMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Resume(guid, challenge, &response, &took);
  Report("http_error 503, ResumeMember", status, took, Counts());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_UNAVAILABLE");
  const absl::optional<google::rpc::RetryInfo> retry =
      FindDetail<google::rpc::RetryInfo>(status);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->retry_delay().seconds(), 2);
  EXPECT_EQ(Injected(), 1);  // one request, not re-sent
  EXPECT_EQ(Handled(), 0);   // and MX never saw it
  EXPECT_LT(took, kCallBound);
  EXPECT_EQ(StatusOf(guid), ::mx::platform::v1::CONNECTION_STATUS_CHALLENGED);
  const grpc::Status again = Resume(guid, challenge, &response, &took);
  ASSERT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(response.http_status(), 202);
  EXPECT_EQ(response.member().connection_status(),
            ::mx::platform::v1::CONNECTION_STATUS_RESUMED);
}

TEST_F(MemberCallFault, ResumeBeyondTheTimeoutIsDeadlineExceededAndNotResent) {
  const std::string guid = NewMxBankMember("challenge");
  const std::string challenge = ChallengeOf(guid);
  ASSERT_FALSE(challenge.empty());
  SetFaults(absl::StrCat(
      "[",
      Rule("PUT", MemberPath(guid), R"("fault":"latency","latency_ms":2500,"count":1)"),
      "]"));
  StartCounting();
  ResumeMemberResponse response;
  absl::Duration took;
  const grpc::Status status = Resume(guid, challenge, &response, &took);
  Report("latency 2500 ms > --mx_timeout_ms, ResumeMember", status, took, Counts());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_TIMEOUT");
  EXPECT_GE(took, kTimedOut);
  EXPECT_LT(took, kCallBound);
  EXPECT_EQ(Handled(), 1);
  EXPECT_EQ(Injected(), 1);
  // MX acted; only its answer was late.
  EXPECT_NE(StatusOf(guid), ::mx::platform::v1::CONNECTION_STATUS_CHALLENGED);
  const grpc::Status again = Resume(guid, challenge, &response, &took);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(again), "UPSTREAM_CONSTRAINT_NOT_MET");
}

TEST_F(MemberCallFault, DeleteResetAfterRequestIsUnknownAndNotResent) {
  const std::string guid = NewMxBankMember(kPassword);
  SetFaults(absl::StrCat(
      "[", Rule("DELETE", MemberPath(guid), R"("fault":"reset_after_request","count":1)"),
      "]"));
  StartCounting();
  absl::Duration took;
  const grpc::Status status = Delete(guid, &took);
  Report("reset_after_request, DeleteMember", status, took, Counts());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
  EXPECT_EQ(Handled(), 1);  // not re-sent: a second copy would meet 404
  EXPECT_EQ(Deleted(), 1);
  EXPECT_EQ(Injected(), 1);
  EXPECT_LT(took, kCallBound);
  // The caller's own retry: MX no longer knows the member the lost call
  // deleted.
  const grpc::Status again = Delete(guid, &took);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(again), "UPSTREAM_NOT_FOUND");
  EXPECT_EQ(Deleted(), 1);
}

TEST_F(MemberCallFault, DeleteResetBeforeRequestIsUnknownAndACallerRetryDeletes) {
  const std::string guid = NewMxBankMember(kPassword);
  SetFaults(absl::StrCat(
      "[",
      Rule("DELETE", MemberPath(guid), R"("fault":"reset_before_request","count":1)"),
      "]"));
  StartCounting();
  absl::Duration took;
  const grpc::Status status = Delete(guid, &took);
  Report("reset_before_request, DeleteMember", status, took, Counts());
  // The request had left: mxgate cannot tell this from the case above.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_OUTCOME_UNKNOWN");
  EXPECT_EQ(Handled(), 0);
  EXPECT_EQ(Deleted(), 0);
  EXPECT_EQ(Injected(), 1);  // one copy: libcurl's fresh-connect re-send was refused
  EXPECT_LT(took, kCallBound);
  const grpc::Status again = Delete(guid, &took);
  ASSERT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(Deleted(), 1);
}

TEST_F(MemberCallFault, DeleteAnswered500IsInternalAndNotResent) {
  const std::string guid = NewMxBankMember(kPassword);
  SetFaults(absl::StrCat(
      "[", Rule("DELETE", MemberPath(guid), R"("fault":"http_error","status":500)"),
      "]"));
  StartCounting();
  absl::Duration took;
  const grpc::Status status = Delete(guid, &took);
  Report("http_error 500, DeleteMember", status, took, Counts());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "UPSTREAM_INTERNAL_ERROR");
  const absl::optional<google::rpc::ErrorInfo> info =
      FindDetail<google::rpc::ErrorInfo>(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("http_status"), "500");
  EXPECT_EQ(Injected(), 1);  // the rule has no count: a re-send would show here
  EXPECT_EQ(Handled(), 0);
  EXPECT_EQ(Deleted(), 0);
  EXPECT_LT(took, kCallBound);
}

TEST_F(MemberCallFault, WatchPollAnswered503EndsTheStreamWithUnavailable) {
  const std::string guid = NewPendingOAuthMember().member().guid();
  SetFaults(SecondPollFault(
      guid, R"("fault":"http_error","status":503,"retry_after_s":2,"count":1)"));
  StartCounting();
  const Watched watched = Watch(guid);
  Report("http_error 503 on a watch's 2nd poll", watched.status, watched.took, Counts());
  ExpectEndedAfterOnePendingWith(watched, grpc::StatusCode::UNAVAILABLE,
                                 "UPSTREAM_UNAVAILABLE");
  const absl::optional<google::rpc::RetryInfo> retry =
      FindDetail<google::rpc::RetryInfo>(watched.status);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->retry_delay().seconds(), 2);
  EXPECT_EQ(StatusPolls(), 1);  // the first; the 503 was answered before MX
  EXPECT_EQ(Injected(), 2);     // the first (passed) and the 503: not re-sent
  // Ended at the second poll, not at the caller's deadline.
  EXPECT_GE(watched.took, kSecondPoll);
  EXPECT_LT(watched.took, kSecondPoll + kCallBound);
}

TEST_F(MemberCallFault, WatchPollMalformedBodyEndsTheStreamWithInternal) {
  const std::string guid = NewPendingOAuthMember().member().guid();
  SetFaults(SecondPollFault(guid, R"("fault":"malformed_body","count":1)"));
  StartCounting();
  const Watched watched = Watch(guid);
  Report("malformed_body (200) on a watch's 2nd poll", watched.status, watched.took,
         Counts());
  ExpectEndedAfterOnePendingWith(watched, grpc::StatusCode::INTERNAL,
                                 "UPSTREAM_RESPONSE_MALFORMED");
  const absl::optional<google::rpc::ErrorInfo> info =
      FindDetail<google::rpc::ErrorInfo>(watched.status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("http_status"), "200");
  EXPECT_EQ(StatusPolls(), 2);  // not re-sent
  EXPECT_EQ(Injected(), 2);
  EXPECT_GE(watched.took, kSecondPoll);
  EXPECT_LT(watched.took, kSecondPoll + kCallBound);
}

TEST_F(MemberCallFault, WatchPollBeyondTheTimeoutEndsTheStreamWithDeadlineExceeded) {
  const std::string guid = NewPendingOAuthMember().member().guid();
  SetFaults(SecondPollFault(guid, R"("fault":"latency","latency_ms":2500,"count":1)"));
  StartCounting();
  const Watched watched = Watch(guid);
  Report("latency 2500 ms on a watch's 2nd poll", watched.status, watched.took, Counts());
  // --mx_timeout_ms bounds each poll: the stream ends long before the
  // caller's own deadline (kWatchDeadline), with the poll's error.
  ExpectEndedAfterOnePendingWith(watched, grpc::StatusCode::DEADLINE_EXCEEDED,
                                 "UPSTREAM_TIMEOUT");
  EXPECT_EQ(StatusPolls(), 2);  // not re-sent
  EXPECT_EQ(Injected(), 2);
  EXPECT_GE(watched.took, kSecondPoll + kTimedOut);
  EXPECT_LT(watched.took, kSecondPoll + kCallBound);
}

TEST_F(MemberCallFault, WatchPollResetOnEveryAttemptEndsTheStreamWithUnavailable) {
  const std::string guid = NewPendingOAuthMember().member().guid();
  SetFaults(SecondPollFault(guid, R"("fault":"reset_after_request")"));
  StartCounting();
  const Watched watched = Watch(guid);
  Report("reset_after_request on a watch's 2nd poll, always", watched.status,
         watched.took, Counts());
  ExpectEndedAfterOnePendingWith(watched, grpc::StatusCode::UNAVAILABLE,
                                 "UPSTREAM_UNREACHABLE");
  // The first poll, then the second's copies, each reset: 3 in all
  // (RetryOptions::max_attempts), libcurl's own re-send on a fresh
  // connection counted among them.
  EXPECT_EQ(StatusPolls(), 1 + 3);
  EXPECT_EQ(Injected(), StatusPolls());
  EXPECT_GE(watched.took, kSecondPoll);
  EXPECT_LT(watched.took, kSecondPoll + kCallBound);
}

TEST_F(MemberCallFault, WatchPollResetOnceIsResentAndTheStreamEndsConnected) {
  const CreateMemberResponse created = NewPendingOAuthMember();
  const std::string guid = created.member().guid();
  SetFaults(SecondPollFault(guid, R"("fault":"reset_after_request","count":1)"));
  StartCounting();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWatchDeadline));
  Watched watched;
  const absl::Time start = absl::Now();
  auto reader = gateway_->stub().WatchMemberStatus(&context, WatchOf(guid));
  WatchMemberStatusResponse message;
  ASSERT_TRUE(reader->Read(&message));
  watched.messages.push_back(message);
  // The second poll is reset, and the gateway sends it again at once: the
  // watch's own next poll would come a second later (the interval doubles
  // after an unchanged status).
  const absl::Time give_up = absl::Now() + kSecondPoll + kCallBound;
  while (Injected() < 2 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(Injected(), 2);
  const absl::Time reset = absl::Now();
  while (StatusPolls() < 3 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const absl::Duration resent = absl::Now() - reset;
  EXPECT_EQ(StatusPolls(), 3);  // the first, the reset one and its re-send
  EXPECT_LT(resent, absl::Milliseconds(800));
  // Now the member connects (one 20 ms step after the authorization), and
  // the watch's next poll sees it.
  EXPECT_THAT(HttpGet(created.member().oauth_window_uri()),
              ::testing::HasSubstr("Authorized"));
  while (reader->Read(&message)) watched.messages.push_back(message);
  watched.status = reader->Finish();
  watched.took = absl::Now() - start;
  Report("reset_after_request x1 on a watch's 2nd poll", watched.status, watched.took,
         Counts());
  ASSERT_TRUE(watched.status.ok()) << watched.status.error_message();
  ASSERT_EQ(watched.messages.size(), 2u);
  EXPECT_EQ(watched.messages[0].status().connection_status(),
            ::mx::platform::v1::CONNECTION_STATUS_PENDING);
  EXPECT_FALSE(watched.messages[0].final());
  EXPECT_EQ(watched.messages[1].status().connection_status(),
            ::mx::platform::v1::CONNECTION_STATUS_CONNECTED);
  EXPECT_TRUE(watched.messages[1].final());
  EXPECT_EQ(watched.messages[1].end_reason(),
            ::mx::platform::v1::WATCH_END_REASON_CONNECTED);
  EXPECT_EQ(StatusPolls(), 4);  // and the one that saw CONNECTED
  EXPECT_EQ(Injected(), 2);
  // The third poll comes 0.5 s + 1 s after the first message.
  EXPECT_LT(watched.took, 3 * kSecondPoll + kCallBound);
}

}  // namespace
}  // namespace mxgate::testing
