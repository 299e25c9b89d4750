#include "service/mx_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/status_details.h"
#include "tests/integration/recording_upstream.h"

namespace mxgate {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;

// Every wait is bounded by this, generous enough for valgrind on 2 shared
// cores; a bug fails the test instead of hanging it.
constexpr absl::Duration kWait = absl::Seconds(30);
// An answer this slow outlives every short deadline and cancel below.
constexpr absl::Duration kSlowAnswer = absl::Seconds(3);
constexpr size_t kMaxResponseBytes = 64 << 10; /*64 KiB*/

// One transfer's callback, shared with the callback itself so that a late
// callback never writes into a finished test.
struct Outcome {
  HttpTransport::TransferId id = 0;
  absl::Notification done;
  absl::StatusOr<HttpResponse> result;
  std::thread::id thread;
};

absl::StatusOr<HttpResponse> Await(Outcome& outcome,
                                   absl::Time deadline = absl::Now() + kWait) {
  if (!outcome.done.WaitForNotificationWithDeadline(deadline)) {
    return absl::InternalError("test: the callback did not run in time");
  }
  return outcome.result;
}

void ExpectError(const absl::StatusOr<HttpResponse>& result, absl::StatusCode code,
                 absl::string_view reason) {
  ASSERT_FALSE(result.ok()) << "HTTP " << result->status_code;
  EXPECT_EQ(result.status().code(), code) << result.status();
  const absl::optional<google::rpc::ErrorInfo> info = GetErrorInfo(result.status());
  ASSERT_TRUE(info.has_value()) << result.status();
  EXPECT_EQ(info->domain(), "mxgate");
  EXPECT_EQ(info->reason(), reason);
}

// Polls `condition` until it holds or `kWait` passes.
bool Eventually(const std::function<bool()>& condition) {
  const absl::Time give_up = absl::Now() + kWait;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

testing::ScriptedResponse Answer(int status, std::string body = "",
                                 absl::Duration delay = absl::ZeroDuration()) {
  testing::ScriptedResponse response;
  response.status = status;
  response.body = std::move(body);
  response.delay = delay;
  return response;
}

testing::ScriptedResponse CloseWithoutAnswer() {
  testing::ScriptedResponse response;
  response.close_without_answer = true;
  return response;
}

// A loopback port nobody listens on: bound, then released.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ADD_FAILURE() << "ClosedPort: bind 127.0.0.1:0: " << std::strerror(errno);
  }
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

class CurlTransportTest : public ::testing::Test {
 protected:
  static CurlTransport::Options TransportOptions() {
    CurlTransport::Options options;
    options.max_response_bytes = kMaxResponseBytes;
    return options;
  }

  HttpRequest Request(absl::string_view method, absl::string_view path,
                      std::string body = "") const {
    HttpRequest request;
    request.method = std::string(method);
    request.url = absl::StrCat(upstream_.base_url(), path);
    request.body = std::move(body);
    request.deadline = absl::Now() + kWait;
    return request;
  }

  std::shared_ptr<Outcome> Send(HttpRequest request) {
    auto outcome = std::make_shared<Outcome>();
    outcome->id = transport_->Send(std::move(request),
                                   [outcome](absl::StatusOr<HttpResponse> result) {
                                     outcome->thread = std::this_thread::get_id();
                                     outcome->result = std::move(result);
                                     outcome->done.Notify();
                                   });
    return outcome;
  }

  // Sends a request the upstream answers only after kSlowAnswer, and
  // returns once the upstream holds it.
  std::shared_ptr<Outcome> SendSlowRequest() {
    upstream_.Enqueue(Answer(200, "late", kSlowAnswer));
    std::shared_ptr<Outcome> outcome = Send(Request("POST", "/slow", "{}"));
    EXPECT_TRUE(Eventually([&] { return upstream_.requests().size() == 1; }))
        << "the slow request never arrived";
    return outcome;
  }

  // Declared first, destroyed last: the transport may still talk to it.
  testing::RecordingUpstream upstream_;
  std::unique_ptr<CurlTransport> transport_ =
      std::make_unique<CurlTransport>(TransportOptions());
};

// ------------------------------------------------------------- answers

struct RoundTripCase {
  const char* method;
  const char* body;
  int status;
};
void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << c.method; }

class CurlTransportRoundTrip : public CurlTransportTest,
                               public ::testing::WithParamInterface<RoundTripCase> {};

TEST_P(CurlTransportRoundTrip, ReturnsStatusLowerCasedHeadersAndBody) {
  const RoundTripCase& param = GetParam();
  testing::ScriptedResponse answer = Answer(param.status, R"({"ok":true})");
  answer.headers = {{"X-Request-Id", "req-1"}, {"Content-Type", "application/json"}};
  upstream_.Enqueue(answer);

  const absl::StatusOr<HttpResponse> result =
      Await(*Send(Request(param.method, "/users/u%201/members?page=2", param.body)));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_code, param.status);
  EXPECT_THAT(result->headers, ElementsAre(Pair("x-request-id", "req-1"),
                                           Pair("content-type", "application/json"),
                                           Pair("content-length", "11")));
  EXPECT_EQ(result->body, R"({"ok":true})");
  const std::vector<testing::RecordedRequest> recorded = upstream_.requests();
  ASSERT_THAT(recorded, SizeIs(1));
  EXPECT_EQ(recorded[0].method, param.method);
  EXPECT_EQ(recorded[0].target, "/users/u%201/members?page=2");
  EXPECT_EQ(recorded[0].body, param.body);
}

INSTANTIATE_TEST_SUITE_P(Methods, CurlTransportRoundTrip,
                         ::testing::Values(RoundTripCase{"GET", "", 200},
                                           RoundTripCase{"POST", R"({"member":{}})",
                                                         202}),
                         [](const ::testing::TestParamInfo<RoundTripCase>& info) {
                           return std::string(info.param.method);
                         });

TEST_F(CurlTransportTest, SendsHeadersInOrderAndNoExpect) {
  HttpRequest request = Request("POST", "/members", std::string(4096, 'x'));
  request.headers = {{"Accept", "application/vnd.mx.api.v1+json"},
                     {"Accept-Version", "v20111101"},
                     {"Authorization", "Basic Y2xpZW50OmtleQ=="},
                     {"Content-Type", "application/json"},
                     {"X-CALLBACK-PAYLOAD", "eyJ1c2VyIjoxfQ=="}};
  const HttpHeaders sent = request.headers;

  ASSERT_TRUE(Await(*Send(std::move(request))).ok());

  const std::vector<testing::RecordedRequest> recorded = upstream_.requests();
  ASSERT_THAT(recorded, SizeIs(1));
  // libcurl adds Host and Content-Length; everything else is ours, in order.
  HttpHeaders ours;
  for (const auto& [name, value] : recorded[0].headers) {
    EXPECT_FALSE(absl::EqualsIgnoreCase(name, "Expect")) << name << ": " << value;
    if (absl::EqualsIgnoreCase(name, "Host")) continue;
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      EXPECT_EQ(value, "4096");
      continue;
    }
    ours.emplace_back(name, value);
  }
  EXPECT_EQ(ours, sent);
  EXPECT_EQ(recorded[0].body, std::string(4096, 'x'));
}

TEST_F(CurlTransportTest, ReturnsA404AnswerAsSuccess) {
  upstream_.Enqueue(Answer(404, R"({"error":{"message":"no such user"}})"));

  const absl::StatusOr<HttpResponse> result =
      Await(*Send(Request("POST", "/users/nobody/members", "{}")));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_code, 404);
  EXPECT_EQ(result->body, R"({"error":{"message":"no such user"}})");
}

TEST_F(CurlTransportTest, ReusesOneConnectionForSequentialRequests) {
  for (const char* path : {"/first", "/second"}) {
    const absl::StatusOr<HttpResponse> result = Await(*Send(Request("POST", path, "{}")));
    ASSERT_TRUE(result.ok()) << path << ": " << result.status();
    EXPECT_EQ(result->status_code, 200);
  }
  EXPECT_THAT(upstream_.requests(), SizeIs(2));
  EXPECT_EQ(upstream_.connections(), 1);
  EXPECT_EQ(transport_->connections_opened(), 1);
  EXPECT_EQ(transport_->open_connections(), 1);
}

// Easy handles are reused without curl_easy_reset: nothing of one
// transfer (method, body, headers) may carry over to the next.
TEST_F(CurlTransportTest, ReusedHandlesCarryNothingOverFromTheLastTransfer) {
  HttpRequest post = Request("POST", "/a", "first body");
  post.headers = {{"X-Only-First", "1"}};
  ASSERT_TRUE(Await(*Send(std::move(post))).ok());
  ASSERT_TRUE(Await(*Send(Request("GET", "/b"))).ok());
  ASSERT_TRUE(Await(*Send(Request("DELETE", "/c"))).ok());
  ASSERT_TRUE(Await(*Send(Request("PUT", "/d", "fourth"))).ok());

  const std::vector<testing::RecordedRequest> recorded = upstream_.requests();
  ASSERT_THAT(recorded, SizeIs(4));
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"POST", "first body"}, {"GET", ""}, {"DELETE", ""}, {"PUT", "fourth"}};
  for (size_t i = 0; i < recorded.size(); ++i) {
    EXPECT_EQ(recorded[i].method, expected[i].first) << i;
    EXPECT_EQ(recorded[i].body, expected[i].second) << i;
    for (const auto& [name, value] : recorded[i].headers) {
      if (i > 0) {
        EXPECT_FALSE(absl::EqualsIgnoreCase(name, "X-Only-First")) << i;
      }
      if (i == 1 || i == 2) {
        EXPECT_FALSE(absl::EqualsIgnoreCase(name, "Content-Length")) << i;
      }
    }
  }
  EXPECT_EQ(transport_->connections_opened(), 1);
}

TEST_F(CurlTransportTest, SendsNothingBeforeNotBefore) {
  HttpRequest request = Request("POST", "/later", "{}");
  const absl::Time not_before = absl::Now() + absl::Milliseconds(150);
  request.not_before = not_before;
  std::shared_ptr<Outcome> outcome = Send(std::move(request));
  const absl::StatusOr<HttpResponse> result = Await(*outcome);
  ASSERT_TRUE(result.ok()) << result.status();
  // A lower bound only: the answer cannot come before the request left.
  EXPECT_GE(absl::Now(), not_before);
  EXPECT_THAT(upstream_.requests(), SizeIs(1));
}

TEST_F(CurlTransportTest, CancelsAWaitingTransferWithoutSendingIt) {
  HttpRequest request = Request("POST", "/never", "{}");
  request.not_before = request.deadline - absl::Seconds(1);
  std::shared_ptr<Outcome> outcome = Send(std::move(request));
  transport_->Cancel(outcome->id);
  EXPECT_EQ(Await(*outcome).status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(upstream_.requests(), IsEmpty());
  EXPECT_EQ(transport_->connections_opened(), 0);
}

TEST_F(CurlTransportTest, TimesOutAWaitThatOutlastsTheDeadline) {
  HttpRequest request = Request("POST", "/too-late", "{}");
  request.deadline = absl::Now() + absl::Milliseconds(100);
  request.not_before = absl::Now() + absl::Seconds(30);
  const absl::StatusOr<HttpResponse> result = Await(*Send(std::move(request)));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(upstream_.requests(), IsEmpty());
}

TEST_F(CurlTransportTest, CountsAConnectionClosedByACancelledTransfer) {
  EXPECT_EQ(transport_->open_connections(), 0);
  std::shared_ptr<Outcome> slow = SendSlowRequest();
  EXPECT_EQ(transport_->open_connections(), 1);
  transport_->Cancel(slow->id);
  EXPECT_EQ(Await(*slow).status().code(), absl::StatusCode::kCancelled);
  // The aborted transfer's connection cannot be reused, so it is closed.
  EXPECT_TRUE(Eventually([&] { return transport_->open_connections() == 0; }));
  EXPECT_EQ(transport_->connections_opened(), 1);
}

TEST_F(CurlTransportTest, AcceptsAnAnswerOfExactlyTheSizeLimit) {
  upstream_.Enqueue(Answer(200, std::string(kMaxResponseBytes, 'a')));

  const absl::StatusOr<HttpResponse> result = Await(*Send(Request("GET", "/big")));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->body.size(), kMaxResponseBytes);
}

TEST_F(CurlTransportTest, RefusesAnAnswerLargerThanTheSizeLimit) {
  upstream_.Enqueue(Answer(200, std::string(kMaxResponseBytes + 1, 'a')));

  ExpectError(Await(*Send(Request("GET", "/too-big"))),
              absl::StatusCode::kResourceExhausted, kReasonUpstreamResponseTooLarge);
}

TEST_F(CurlTransportTest, RefusesAnswerHeadersLargerThan64KiB) {
  testing::ScriptedResponse answer = Answer(200, "{}");
  for (int i = 0; i < 80; ++i) {
    answer.headers.emplace_back(absl::StrCat("X-Filler-", i), std::string(1000, 'a'));
  }
  upstream_.Enqueue(answer);

  const absl::StatusOr<HttpResponse> result = Await(*Send(Request("GET", "/headers")));
  ExpectError(result, absl::StatusCode::kResourceExhausted,
              kReasonUpstreamResponseTooLarge);
  EXPECT_EQ(result.status().message(), "MX's answer headers exceeded 65536 bytes");
}

// ------------------------------------------------------------ failures

TEST_F(CurlTransportTest, SendsNothingWhenTheDeadlineHasAlreadyPassed) {
  HttpRequest late = Request("POST", "/late", "{}");
  late.deadline = absl::Now() - absl::Seconds(1);

  ExpectError(Await(*Send(std::move(late))), absl::StatusCode::kDeadlineExceeded,
              kReasonUpstreamTimeout);

  // A request sent afterwards on the same loop is the only one to arrive.
  ASSERT_TRUE(Await(*Send(Request("GET", "/after"))).ok());
  const std::vector<testing::RecordedRequest> recorded = upstream_.requests();
  ASSERT_THAT(recorded, SizeIs(1));
  EXPECT_EQ(recorded[0].target, "/after");
}

TEST_F(CurlTransportTest, TimesOutAnAnswerSlowerThanTheDeadline) {
  upstream_.Enqueue(Answer(200, "late", kSlowAnswer));
  HttpRequest request = Request("POST", "/slow", "{}");
  request.deadline = absl::Now() + absl::Milliseconds(200);

  ExpectError(Await(*Send(std::move(request))), absl::StatusCode::kDeadlineExceeded,
              kReasonUpstreamTimeout);
}

TEST_F(CurlTransportTest, ReportsAClosedPortAsUnreachable) {
  HttpRequest request = Request("POST", "/members", "{}");
  request.url = absl::StrCat("http://127.0.0.1:", ClosedPort(), "/members");

  ExpectError(Await(*Send(std::move(request))), absl::StatusCode::kUnavailable,
              kReasonUpstreamUnreachable);
}

struct DroppedConnectionCase {
  const char* name;
  // Whether a first request leaves a kept-alive connection for the POST.
  bool reused_connection;
};
void PrintTo(const DroppedConnectionCase& c, std::ostream* os) { *os << c.name; }

class CurlTransportDroppedConnection
    : public CurlTransportTest,
      public ::testing::WithParamInterface<DroppedConnectionCase> {};

// MX may have created the member before the connection dropped: re-sending
// the POST could create it twice.
TEST_P(CurlTransportDroppedConnection, ReportsOutcomeUnknownAndNeverResends) {
  std::vector<std::string> expected_targets;
  if (GetParam().reused_connection) upstream_.Enqueue(Answer(200));
  upstream_.Enqueue(CloseWithoutAnswer());  // then for every later request
  if (GetParam().reused_connection) {
    ASSERT_TRUE(Await(*Send(Request("GET", "/warm-up"))).ok());
    expected_targets.emplace_back("/warm-up");
  }

  ExpectError(Await(*Send(Request("POST", "/users/u1/members", "{}"))),
              absl::StatusCode::kUnknown, kReasonUpstreamOutcomeUnknown);

  expected_targets.emplace_back("/users/u1/members");
  std::vector<std::string> targets;
  for (const testing::RecordedRequest& request : upstream_.requests()) {
    targets.push_back(request.target);
  }
  EXPECT_EQ(targets, expected_targets);
}

INSTANTIATE_TEST_SUITE_P(
    Connections, CurlTransportDroppedConnection,
    ::testing::Values(DroppedConnectionCase{"FreshConnection", false},
                      DroppedConnectionCase{"ReusedConnection", true}),
    [](const ::testing::TestParamInfo<DroppedConnectionCase>& info) {
      return std::string(info.param.name);
    });

// ------------------------------------------------------------ retries

TEST_F(CurlTransportTest, SendsAnIdempotentRequestAgainAfterAnUnknownOutcome) {
  upstream_.Enqueue(CloseWithoutAnswer());
  upstream_.Enqueue(Answer(409, "exists"));
  HttpRequest request = Request("POST", "/users/u1/members", R"({"member":{"id":"m1"}})");
  request.idempotent = true;

  const absl::StatusOr<HttpResponse> result = Await(*Send(std::move(request)));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status_code, 409);
  ASSERT_THAT(upstream_.requests(), SizeIs(2));
  EXPECT_EQ(upstream_.requests()[1].body, R"({"member":{"id":"m1"}})");
  EXPECT_EQ(transport_->retries(), 1);
}

// libcurl re-sends a read whose reused connection died on a fresh one; that
// copy counts against max_attempts like the transport's own retries.
TEST_F(CurlTransportTest, SendsAReadWhoseConnectionsKeepDyingMaxAttemptsTimes) {
  upstream_.Enqueue(Answer(200));
  upstream_.Enqueue(CloseWithoutAnswer());  // then for every later request
  ASSERT_TRUE(Await(*Send(Request("GET", "/warm-up"))).ok());

  ExpectError(Await(*Send(Request("GET", "/users/u1/members/m1/status"))),
              absl::StatusCode::kUnavailable, kReasonUpstreamUnreachable);

  std::vector<std::string> targets;
  for (const testing::RecordedRequest& request : upstream_.requests()) {
    targets.push_back(request.target);
  }
  const std::string status = "/users/u1/members/m1/status";
  EXPECT_EQ(targets, std::vector<std::string>({"/warm-up", status, status, status}));
  EXPECT_EQ(RetryOptions().max_attempts, 3);
}

TEST_F(CurlTransportTest, RetriesAnUnreachableUpstreamUpToMaxAttempts) {
  HttpRequest request = Request("POST", "/members", "{}");
  request.url = absl::StrCat("http://127.0.0.1:", ClosedPort(), "/members");

  ExpectError(Await(*Send(std::move(request))), absl::StatusCode::kUnavailable,
              kReasonUpstreamUnreachable);
  EXPECT_EQ(transport_->retries(), RetryOptions().max_attempts - 1);
}

TEST(CurlTransportConnections, QueuesTransfersBeyondTheConnectionCap) {
  testing::RecordingUpstream upstream;
  upstream.Enqueue(Answer(200, "first", absl::Milliseconds(200)));
  upstream.Enqueue(Answer(200, "second"));
  CurlTransport::Options options;
  options.max_host_connections = 1;
  CurlTransport transport(options);
  std::vector<absl::StatusOr<HttpResponse>> results(2, absl::UnknownError("none"));
  absl::Notification done[2];
  for (int i = 0; i < 2; ++i) {
    HttpRequest request;
    request.method = "GET";
    request.url = absl::StrCat(upstream.base_url(), "/", i);
    request.deadline = absl::Now() + kWait;
    transport.Send(std::move(request),
                   [&results, &done, i](absl::StatusOr<HttpResponse> r) {
                     results[i] = std::move(r);
                     done[i].Notify();
                   });
  }
  for (auto& notification : done)
    ASSERT_TRUE(notification.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(results[0].ok() && results[1].ok());
  // One connection, the second request sent on it after the first answer.
  EXPECT_EQ(upstream.connections(), 1);
  EXPECT_EQ(transport.connections_opened(), 1);
  EXPECT_EQ(results[0]->body, "first");
  EXPECT_EQ(results[1]->body, "second");
}

TEST_F(CurlTransportTest, KeepsAConnectionPerCallInFlightForTheNextCalls) {
  // More calls in flight than libcurl's default cache of connections: each
  // ends while the others are open, and must not close its connection.
  constexpr int kInFlight = 80;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kInFlight; ++i) {
      upstream_.Enqueue(Answer(200, "ok", absl::Milliseconds(100)));
    }
    std::vector<std::shared_ptr<Outcome>> outcomes;
    outcomes.reserve(kInFlight);
    for (int i = 0; i < kInFlight; ++i)
      outcomes.push_back(Send(Request("GET", "/member")));
    for (const auto& outcome : outcomes) ASSERT_TRUE(Await(*outcome).ok());
  }
  EXPECT_EQ(transport_->connections_opened(), kInFlight);
  EXPECT_EQ(upstream_.connections(), kInFlight);
}

TEST(CurlTransportRetries, NoRetryWhoseBackoffWouldPassTheDeadline) {
  CurlTransport::Options options;
  options.retry.initial_backoff = absl::Seconds(60);
  options.retry.max_backoff = absl::Seconds(60);
  CurlTransport transport(options);
  HttpRequest request;
  request.method = "GET";
  request.url = absl::StrCat("http://127.0.0.1:", ClosedPort(), "/members");
  request.deadline = absl::Now() + absl::Milliseconds(300);
  absl::Notification done;
  absl::StatusOr<HttpResponse> result;
  transport.Send(std::move(request), [&](absl::StatusOr<HttpResponse> r) {
    result = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  // Either no retry fit before the deadline, or the jitter drew a short
  // one; never a wait past the deadline.
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LE(transport.retries(), 2);
}

TEST(RetryBudget, AllowsBurstThenEarnsRetriesFromRequestsAndTime) {
  RetryOptions options;
  options.budget_ratio = 0.5;
  options.budget_per_second = 2;
  RetryBudget budget(options);
  const absl::Time start = absl::FromUnixSeconds(1000);
  // Two saved up at the start (the per-second rate is also the cap).
  EXPECT_TRUE(budget.TryWithdraw(start));
  EXPECT_TRUE(budget.TryWithdraw(start));
  EXPECT_FALSE(budget.TryWithdraw(start));
  // Two requests earn one retry.
  budget.Deposit();
  budget.Deposit();
  EXPECT_TRUE(budget.TryWithdraw(start));
  EXPECT_FALSE(budget.TryWithdraw(start));
  // Half a second earns one more.
  EXPECT_TRUE(budget.TryWithdraw(start + absl::Milliseconds(500)));
  EXPECT_FALSE(budget.TryWithdraw(start + absl::Milliseconds(500)));
}

// ------------------------------------------------------ cancel, shutdown

TEST_F(CurlTransportTest, CancelsASlowTransferAtOnceAndClosesItsConnection) {
  const std::shared_ptr<Outcome> outcome = SendSlowRequest();
  const absl::Time cancelled_at = absl::Now();

  transport_->Cancel(outcome->id);

  ExpectError(Await(*outcome), absl::StatusCode::kCancelled, kReasonCancelled);
  EXPECT_LT(absl::Now() - cancelled_at, kSlowAnswer / 2);
  EXPECT_TRUE(Eventually([&] { return upstream_.aborted() == 1; }))
      << "the upstream never saw the connection close";
}

TEST_F(CurlTransportTest, IgnoresCancelOfAFinishedTransfer) {
  const std::shared_ptr<Outcome> first = Send(Request("GET", "/first"));
  ASSERT_TRUE(Await(*first).ok());

  transport_->Cancel(first->id);

  const absl::StatusOr<HttpResponse> second = Await(*Send(Request("GET", "/second")));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status_code, 200);
}

TEST_F(CurlTransportTest, CancelsTransfersInFlightWhenDestroyed) {
  const std::shared_ptr<Outcome> outcome = SendSlowRequest();
  const absl::Time destroyed_at = absl::Now();

  transport_.reset();

  EXPECT_LT(absl::Now() - destroyed_at, kSlowAnswer / 2);
  ASSERT_TRUE(outcome->done.HasBeenNotified())
      << "the destructor returned before the callback ran";
  ExpectError(outcome->result, absl::StatusCode::kCancelled, kReasonCancelled);
}

// ------------------------------------------------------------ concurrency

TEST_F(CurlTransportTest, RunsManyConcurrentTransfersOnOneThread) {
  constexpr int kTransfers = 200;
  upstream_.Enqueue(Answer(200, "ok", absl::Milliseconds(100)));

  std::vector<std::shared_ptr<Outcome>> outcomes;
  outcomes.reserve(kTransfers);
  for (int i = 0; i < kTransfers; ++i) {
    outcomes.push_back(Send(Request("GET", absl::StrCat("/concurrent/", i))));
  }

  const absl::Time give_up = absl::Now() + kWait;
  std::set<std::thread::id> threads;
  for (const std::shared_ptr<Outcome>& outcome : outcomes) {
    const absl::StatusOr<HttpResponse> result = Await(*outcome, give_up);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status_code, 200);
    threads.insert(outcome->thread);
  }
  EXPECT_THAT(threads, SizeIs(1));
  EXPECT_NE(*threads.begin(), std::this_thread::get_id());
  EXPECT_THAT(upstream_.requests(), SizeIs(kTransfers));
}

}  // namespace
}  // namespace mxgate
