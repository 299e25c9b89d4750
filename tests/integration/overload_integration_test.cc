// The overload test: the real mxgate, its unary calls capped by
// --max_unary_calls_in_flight, in front of the real mx-sandbox answering
// every create 200 ms late (its `latency` fault), offered ten times what it
// can serve for five seconds by an open-loop gRPC client (calls start on a
// fixed schedule, never waiting for answers). It asserts that
// - every call is answered before its deadline, and only with OK or
//   UNAVAILABLE + ErrorInfo OVERLOADED + RetryInfo + grpc-retry-pushback-ms;
// - the limit holds (mxgate_calls_in_flight, sampled, never above it) and
//   the load really overloaded the gateway (most calls refused);
// - goodput, OK calls per second over the measured stretch, is at least
//   90% of the capacity: the limit over the sandbox's own time per create
//   (from its log), not a constant, so time lost anywhere else in the
//   gateway (a queue for connections, a slot freed late) counts against it;
// - the sandbox created exactly one member per OK call, and saw no other
//   create (nothing refused reached MX, nothing was sent twice);
// - readiness stays SERVING throughout;
// - refusals come at once (below);
// - right after the load, no slot is left taken and new calls succeed.
//
// Timing. Performance is measured by benchmarks, not asserted in timed
// tests, and CI machines are noisy: so the bound asserted on a refusal's
// latency (client side, from send to status) is the one that tells
// "refused at once" from "queued behind MX" with a wide margin on a loaded
// 2-core machine (p99 under 50 ms, every one under MX's 200 ms), not the
// issue's 5 ms target. The measured p50/p99/p99.9, goodput and capacity are
// printed on one `OVERLOAD ...` line and recorded as test properties, for
// docs/RELIABILITY.md to quote.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "tests/integration/gateway_process.h"
#include "tests/integration/test_process.h"

namespace mxgate::testing {
namespace {

namespace v1 = ::mx::platform::v1;
using ::grpc::health::v1::HealthCheckResponse;
using Clock = std::chrono::steady_clock;

// Small numbers keep the test cheap on 2 cores: a capacity of 20 / 0.2 s =
// 100 creates/s, offered 1,000 calls/s.
constexpr int kLimit = 20;          // --max_unary_calls_in_flight
constexpr int kMxLatencyMs = 200;   // the sandbox's latency on every create
constexpr int kRetryDelayMs = 250;  // --overload_retry_delay_ms
constexpr int kOverload = 10;       // calls offered per call the gateway can serve
constexpr double kRatePerSecond = kOverload * kLimit * 1000.0 / kMxLatencyMs;
// The slots fill in the warm-up; goodput is counted over the calls meant to
// start in the measured stretch after it.
const absl::Duration kWarmup = absl::Seconds(1);
const absl::Duration kMeasured = absl::Seconds(4);
// Each call's deadline: far beyond any answer a working gateway gives.
const absl::Duration kCallDeadline = absl::Seconds(5);
// How often readiness and the in-flight gauge are read during the load.
const absl::Duration kMonitorInterval = absl::Milliseconds(100);

constexpr char kReadiness[] = "mx.platform.v1.MemberService";
constexpr char kPushbackKey[] = "grpc-retry-pushback-ms";

// The sum of the samples of metric `name` in Prometheus text whose labels
// hold `label` ("": all of them); 0 when there are none.
double MetricSum(const std::string& text, absl::string_view name,
                 absl::string_view label = "") {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, absl::StrCat(name, "{")) &&
        !absl::StartsWith(line, absl::StrCat(name, " "))) {
      continue;
    }
    double value = 0;
    if (absl::StrContains(line, label) &&
        absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
      sum += value;
    }
  }
  return sum;
}

// The value at `percentile` (0-100) of `sorted`, nearest rank; zero when empty.
absl::Duration Percentile(const std::vector<absl::Duration>& sorted, double percentile) {
  if (sorted.empty()) return absl::ZeroDuration();
  const size_t rank = static_cast<size_t>(
      std::ceil(percentile / 100 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// The mean time the sandbox took per request that its latency fault hit,
// from its log lines `POST /users/.../members 202 200.3ms fault=latency`.
absl::Duration MeanFaultedRequestTime(const std::string& log) {
  absl::Duration total;
  int count = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::EndsWith(line, " fault=latency")) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    double millis = 0;
    if (fields.size() == 5 && absl::ConsumeSuffix(&fields[3], "ms") &&
        absl::SimpleAtod(fields[3], &millis)) {
      total += absl::Milliseconds(millis);
      ++count;
    }
  }
  return count == 0 ? absl::ZeroDuration() : total / count;
}

// The codes this test expects by name, any other by number.
std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    default:
      return absl::StrCat("code ", static_cast<int>(code));
  }
}

double Millis(absl::Duration duration) { return absl::ToDoubleMilliseconds(duration); }

// What one call of the load saw.
struct Outcome {
  absl::Duration intended;  // when the schedule meant to start it, from the load's start
  absl::Duration latency;   // from being sent to its status
  absl::Duration send_lag;  // how late the client sent it
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string reason;       // ErrorInfo's
  std::string pushback_ms;  // the grpc-retry-pushback-ms trailer, "" when absent
  absl::optional<absl::Duration> retry_delay;  // RetryInfo's
};

// CreateMember calls started on a fixed schedule (open loop): a slow or
// refusing gateway cannot slow the load down. Each answer is kept whole.
class OpenLoopLoad {
 public:
  OpenLoopLoad(v1::MemberService::Stub& stub, int calls)
      : stub_(stub), request_(MxBankRequest()), outcomes_(calls) {}

  // Calls still open hold pointers to this: wait for them (each has a
  // deadline, so this ends).
  ~OpenLoopLoad() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &OpenLoopLoad::AllAnswered));
  }

  // Sends every call at `rate_per_second` from now; returns after the last
  // is sent.
  void Run(double rate_per_second) {
    const Clock::time_point start = Clock::now();
    for (size_t i = 0; i < outcomes_.size(); ++i) {
      const absl::Duration intended =
          absl::Seconds(static_cast<double>(i) / rate_per_second);
      std::this_thread::sleep_until(start + absl::ToChronoNanoseconds(intended));
      auto* call = new Call{{}, {}, i, Clock::now()};
      call->context.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
      {
        absl::MutexLock lock(&mu_);
        outcomes_[i].intended = intended;
        outcomes_[i].send_lag = absl::FromChrono(call->sent - start) - intended;
      }
      stub_.async()->CreateMember(&call->context, &request_, &call->response,
                                  [this, call](const grpc::Status& status) {
                                    Finish(*call, status);
                                    delete call;
                                  });
    }
  }

  // Waits at most `timeout` for every answer; true when all came.
  bool WaitForAll(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(this, &OpenLoopLoad::AllAnswered),
                                timeout);
  }

  // Every call's outcome, in the order they were sent.
  std::vector<Outcome> outcomes() const {
    absl::MutexLock lock(&mu_);
    return outcomes_;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::CreateMemberResponse response;
    size_t index;
    Clock::time_point sent;
  };

  void Finish(const Call& call, const grpc::Status& status) {
    const absl::Duration latency = absl::FromChrono(Clock::now() - call.sent);
    const auto& trailers = call.context.GetServerTrailingMetadata();
    const auto pushback = trailers.find(kPushbackKey);
    const absl::optional<google::rpc::RetryInfo> retry_info =
        FindDetail<google::rpc::RetryInfo>(status);
    absl::MutexLock lock(&mu_);
    Outcome& outcome = outcomes_[call.index];
    outcome.latency = latency;
    outcome.code = status.error_code();
    outcome.reason = ReasonOf(status);
    if (pushback != trailers.end()) {
      outcome.pushback_ms.assign(pushback->second.data(), pushback->second.size());
    }
    if (retry_info.has_value()) {
      outcome.retry_delay = absl::Seconds(retry_info->retry_delay().seconds()) +
                            absl::Nanoseconds(retry_info->retry_delay().nanos());
    }
    ++answered_;
  }

  bool AllAnswered() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return answered_ == outcomes_.size();
  }

  v1::MemberService::Stub& stub_;
  const v1::CreateMemberRequest request_;
  mutable absl::Mutex mu_;
  std::vector<Outcome> outcomes_ ABSL_GUARDED_BY(mu_);
  size_t answered_ ABSL_GUARDED_BY(mu_) = 0;
};

// While the load runs: readiness over a connection of its own (as a
// kubelet or a balancer probes), and the gateway's mxgate_calls_in_flight.
class Monitor {
 public:
  Monitor(const std::string& address, std::string metrics_url)
      : health_(grpc::health::v1::Health::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))),
        metrics_url_(std::move(metrics_url)),
        thread_([this] { Loop(); }) {}

  ~Monitor() { Stop(); }

  void Stop() {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    if (thread_.joinable()) thread_.join();
  }

  // What it saw; read them after Stop().
  int checks = 0;
  int serving = 0;  // checks answered SERVING
  absl::Duration slowest_check;
  int in_flight_samples = 0;
  int max_in_flight = -1;

 private:
  void Loop() {
    do {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
      grpc::health::v1::HealthCheckRequest request;
      request.set_service(kReadiness);
      HealthCheckResponse response;
      const absl::Time start = absl::Now();
      const grpc::Status status = health_->Check(&context, request, &response);
      slowest_check = std::max(slowest_check, absl::Now() - start);
      ++checks;
      if (status.ok() && response.status() == HealthCheckResponse::SERVING) ++serving;
      const std::string text = HttpGet(metrics_url_);
      if (absl::StrContains(text, "mxgate_calls_in_flight ")) {
        ++in_flight_samples;
        max_in_flight = std::max(
            max_in_flight, static_cast<int>(MetricSum(text, "mxgate_calls_in_flight")));
      }
    } while (!stop_.WaitForNotificationWithTimeout(kMonitorInterval));
  }

  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  const std::string metrics_url_;
  absl::Notification stop_;
  std::thread thread_;  // last: starts once the rest is built
};

TEST(GatewayOverload, TenTimesCapacityIsShedAtOnceWhileGoodputHoldsAndCallsRecover) {
  Sandbox sandbox(
      {absl::StrCat(R"(--faults=[{"fault":"latency","method":"POST",)",
                    R"("path_prefix":"/users/","latency_ms":)", kMxLatencyMs, "}]")});
  ASSERT_FALSE(sandbox.url().empty()) << sandbox.process().Stderr();
  // --log_level=off: the access log would write a line per refusal; the
  // test counts them itself.
  Gateway gateway(sandbox.url(),
                  {absl::StrCat("--max_unary_calls_in_flight=", kLimit),
                   absl::StrCat("--overload_retry_delay_ms=", kRetryDelayMs),
                   "--metrics_listen=127.0.0.1:0", "--log_level=off"});
  ASSERT_FALSE(gateway.metrics_address().empty());
  const std::string metrics_url = "http://" + gateway.metrics_address() + "/metrics";

  // One create before the load: the path works, and its time is MX's
  // latency unloaded.
  v1::CreateMemberResponse response;
  const absl::Time first_start = absl::Now();
  ASSERT_TRUE(gateway.CreateMember(MxBankRequest(), &response).ok());
  const absl::Duration unloaded = absl::Now() - first_start;
  int ok_calls = 1;
  const std::string before = HttpGet(metrics_url);

  // ---- The overload.
  const int calls = static_cast<int>(
      std::lround(kRatePerSecond * absl::ToDoubleSeconds(kWarmup + kMeasured)));
  OpenLoopLoad load(gateway.stub(), calls);
  Monitor monitor(gateway.address(), metrics_url);
  load.Run(kRatePerSecond);
  const bool all_answered = load.WaitForAll(kCallDeadline + absl::Seconds(2));
  monitor.Stop();
  ASSERT_TRUE(all_answered) << "calls lost: no answer within their deadline";
  const absl::Time load_done = absl::Now();

  // Every slot is free again at once (a call counts until gRPC is done
  // with it, just after the client has its status).
  std::string after = HttpGet(metrics_url);
  while (MetricSum(after, "mxgate_calls_in_flight") != 0 &&
         absl::Now() - load_done < absl::Seconds(1)) {
    absl::SleepFor(absl::Milliseconds(5));
    after = HttpGet(metrics_url);
  }
  const absl::Duration slots_free_after = absl::Now() - load_done;
  EXPECT_EQ(MetricSum(after, "mxgate_calls_in_flight"), 0) << "a slot was never released";

  // ---- Every answer, one by one.
  const std::vector<Outcome> outcomes = load.outcomes();
  std::map<std::string, int> by_code_and_reason;
  std::vector<absl::Duration> refusal_latencies;  // of well-formed refusals only
  std::vector<absl::Duration> ok_latencies;
  int measured_ok = 0;
  int unexpected = 0;
  absl::Duration max_send_lag;
  for (const Outcome& outcome : outcomes) {
    ++by_code_and_reason[absl::StrCat(CodeName(outcome.code),
                                      outcome.reason.empty() ? "" : " ", outcome.reason)];
    max_send_lag = std::max(max_send_lag, outcome.send_lag);
    const bool measured =
        outcome.intended >= kWarmup && outcome.intended < kWarmup + kMeasured;
    if (outcome.code == grpc::StatusCode::OK) {
      ++ok_calls;
      ok_latencies.push_back(outcome.latency);
      if (measured) ++measured_ok;
      continue;
    }
    const bool well_formed = outcome.code == grpc::StatusCode::UNAVAILABLE &&
                             outcome.reason == "OVERLOADED" &&
                             outcome.pushback_ms == absl::StrCat(kRetryDelayMs) &&
                             outcome.retry_delay == absl::Milliseconds(kRetryDelayMs);
    if (well_formed) {
      refusal_latencies.push_back(outcome.latency);
    } else if (++unexpected <= 5) {
      ADD_FAILURE() << "call at " << outcome.intended << ": " << CodeName(outcome.code)
                    << " reason '" << outcome.reason << "' pushback '"
                    << outcome.pushback_ms << "' RetryInfo "
                    << (outcome.retry_delay.has_value()
                            ? absl::FormatDuration(*outcome.retry_delay)
                            : "none");
    }
  }
  EXPECT_EQ(unexpected, 0)
      << "answers other than OK or UNAVAILABLE OVERLOADED with RetryInfo and "
      << kPushbackKey << " " << kRetryDelayMs;

  // The load was an overload, and the limit held.
  const int refused = static_cast<int>(refusal_latencies.size());
  EXPECT_GT(refused, calls / 2) << "offered " << kOverload << "x capacity, few refused";
  EXPECT_GE(monitor.in_flight_samples, 10);
  EXPECT_LE(monitor.max_in_flight, kLimit);

  // Goodput against the capacity the sandbox's real latency allows. The
  // gateway's own measure of its MX requests is printed beside it.
  const absl::Duration mx_latency = MeanFaultedRequestTime(sandbox.process().Stderr());
  ASSERT_GT(mx_latency, absl::ZeroDuration()) << "no create in the sandbox's log";
  const double capacity = kLimit / absl::ToDoubleSeconds(mx_latency);
  const double goodput = measured_ok / absl::ToDoubleSeconds(kMeasured);
  EXPECT_GE(goodput, 0.9 * capacity)
      << "capacity " << capacity << "/s = " << kLimit << " / " << mx_latency;
  const double upstream_count =
      MetricSum(after, "mxgate_upstream_request_seconds_count") -
      MetricSum(before, "mxgate_upstream_request_seconds_count");
  const absl::Duration upstream_latency =
      upstream_count == 0
          ? absl::ZeroDuration()
          : absl::Seconds((MetricSum(after, "mxgate_upstream_request_seconds_sum") -
                           MetricSum(before, "mxgate_upstream_request_seconds_sum")) /
                          upstream_count);

  // Refused at once: answered well before a slot could have freed up.
  std::sort(refusal_latencies.begin(), refusal_latencies.end());
  const absl::Duration p50 = Percentile(refusal_latencies, 50);
  const absl::Duration p99 = Percentile(refusal_latencies, 99);
  const absl::Duration p999 = Percentile(refusal_latencies, 99.9);
  const absl::Duration max = Percentile(refusal_latencies, 100);
  EXPECT_LT(p99, absl::Milliseconds(50));
  EXPECT_LT(max, absl::Milliseconds(kMxLatencyMs));

  // Readiness answered SERVING all along.
  EXPECT_GE(monitor.checks, 10);
  EXPECT_EQ(monitor.serving, monitor.checks);

  // ---- Recovery: half the limit's worth of calls at once, all OK.
  OpenLoopLoad recovery(gateway.stub(), kLimit / 2);
  recovery.Run(/*rate_per_second=*/1e6);
  ASSERT_TRUE(recovery.WaitForAll(kCallDeadline + absl::Seconds(2)));
  absl::Duration slowest_recovery;
  for (const Outcome& outcome : recovery.outcomes()) {
    EXPECT_EQ(outcome.code, grpc::StatusCode::OK) << outcome.reason;
    if (outcome.code == grpc::StatusCode::OK) ++ok_calls;
    slowest_recovery = std::max(slowest_recovery, outcome.latency);
  }
  const absl::Duration recovered_after = absl::Now() - load_done;

  // MX created one member per OK call, and saw no other create.
  EXPECT_EQ(sandbox.Stat("members_created"), ok_calls);
  const std::string faults = HttpGet(sandbox.url() + "/_sandbox/faults");
  EXPECT_TRUE(absl::StrContains(faults, absl::StrCat("\"injected\":", ok_calls)))
      << faults << ": creates that reached MX, " << ok_calls << " OK calls";

  // ---- The figures of the run, printed and recorded for docs/RELIABILITY.md.
  std::sort(ok_latencies.begin(), ok_latencies.end());
  std::string codes;
  for (const auto& [name, count] : by_code_and_reason) {
    absl::StrAppend(&codes, codes.empty() ? "" : ", ", name, ": ", count);
  }
  // Refusals' time in the gateway (grpc_server_handling_seconds): every
  // create it answered within 100 ms was a refusal, since MX takes 200 ms.
  auto handled_within = [&](const char* le) {
    const std::string label = absl::StrCat("le=\"", le, "\"");
    return MetricSum(after, "grpc_server_handling_seconds_bucket", label) -
           MetricSum(before, "grpc_server_handling_seconds_bucket", label);
  };
  const double server_0_5ms = handled_within("0.0005");
  const double server_5ms = handled_within("0.005");
  const std::vector<std::pair<std::string, std::string>> figures = {
      {"offered_per_s", absl::StrFormat("%.0f", kRatePerSecond)},
      {"calls", absl::StrCat(calls)},
      {"answers", codes},
      {"unloaded_create_ms", absl::StrFormat("%.1f", Millis(unloaded))},
      {"mx_latency_ms", absl::StrFormat("%.1f", Millis(mx_latency))},
      {"gateway_upstream_latency_ms", absl::StrFormat("%.1f", Millis(upstream_latency))},
      {"capacity_per_s", absl::StrFormat("%.1f", capacity)},
      {"goodput_per_s", absl::StrFormat("%.1f", goodput)},
      {"goodput_of_capacity", absl::StrFormat("%.1f%%", 100 * goodput / capacity)},
      {"refusal_p50_ms", absl::StrFormat("%.2f", Millis(p50))},
      {"refusal_p99_ms", absl::StrFormat("%.2f", Millis(p99))},
      {"refusal_p99_9_ms", absl::StrFormat("%.2f", Millis(p999))},
      {"refusal_max_ms", absl::StrFormat("%.2f", Millis(max))},
      {"refusals_server_le_0_5ms",
       absl::StrFormat("%.1f%%", refused ? 100 * server_0_5ms / refused : 0)},
      {"refusals_server_le_5ms",
       absl::StrFormat("%.1f%%", refused ? 100 * server_5ms / refused : 0)},
      {"ok_p50_ms", absl::StrFormat("%.1f", Millis(Percentile(ok_latencies, 50)))},
      {"ok_p99_ms", absl::StrFormat("%.1f", Millis(Percentile(ok_latencies, 99)))},
      {"ok_max_ms", absl::StrFormat("%.1f", Millis(Percentile(ok_latencies, 100)))},
      {"max_send_lag_ms", absl::StrFormat("%.1f", Millis(max_send_lag))},
      {"max_in_flight_seen", absl::StrCat(monitor.max_in_flight)},
      {"health_checks_serving", absl::StrCat(monitor.serving, "/", monitor.checks)},
      {"slowest_health_check_ms", absl::StrFormat("%.1f", Millis(monitor.slowest_check))},
      {"slots_free_after_ms", absl::StrFormat("%.1f", Millis(slots_free_after))},
      {"recovery_slowest_ms", absl::StrFormat("%.1f", Millis(slowest_recovery))},
      {"recovered_after_ms", absl::StrFormat("%.1f", Millis(recovered_after))},
      {"members_created", absl::StrCat(sandbox.Stat("members_created"))},
  };
  std::string line = "OVERLOAD";
  for (const auto& [name, value] : figures) {
    RecordProperty(name, value);
    absl::StrAppend(&line, " ", name, "=", absl::StrContains(value, ' ') ? "{" : "",
                    value, absl::StrContains(value, ' ') ? "}" : "");
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace
}  // namespace mxgate::testing
