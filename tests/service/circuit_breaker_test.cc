#include "service/circuit_breaker.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

using Outcome = CircuitBreaker::Outcome;
using State = CircuitBreaker::State;
using ::testing::ElementsAre;

const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreaker::Options Options() {
    CircuitBreaker::Options options;
    options.failure_threshold = 3;
    options.open_duration = absl::Seconds(5);
    return options;
  }

  // Lets one request through at `now` and records its outcome.
  void Request(Outcome outcome, absl::Time now = kStart) {
    ASSERT_TRUE(breaker_.Allow(now).ok());
    breaker_.Record(outcome, now);
  }

  std::vector<bool> changes_;
  CircuitBreaker breaker_{Options(), [this](bool open) { changes_.push_back(open); }};
};

TEST_F(CircuitBreakerTest, OpensAfterTheThresholdOfConsecutiveFailures) {
  Request(Outcome::kFailure);
  Request(Outcome::kFailure);
  EXPECT_EQ(breaker_.state(), State::kClosed);
  Request(Outcome::kFailure);
  EXPECT_EQ(breaker_.state(), State::kOpen);
  EXPECT_THAT(changes_, ElementsAre(true));
}

TEST_F(CircuitBreakerTest, ASuccessOrAnUnclearOutcomeDoesNotCountAsFailure) {
  Request(Outcome::kFailure);
  Request(Outcome::kFailure);
  Request(Outcome::kSuccess);  // restarts the count
  Request(Outcome::kFailure);
  Request(Outcome::kNeither);  // leaves it
  Request(Outcome::kFailure);
  EXPECT_EQ(breaker_.state(), State::kClosed);
  Request(Outcome::kFailure);
  EXPECT_EQ(breaker_.state(), State::kOpen);
}

TEST_F(CircuitBreakerTest, RefusesWhileOpenWithTheTimeLeft) {
  for (int i = 0; i < 3; ++i) Request(Outcome::kFailure);
  const absl::Status refused = breaker_.Allow(kStart + absl::Seconds(2));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(),
            "MX failed 3 times in a row; mxgate sends it nothing for 3s, then tries one "
            "request");
  EXPECT_EQ(GetErrorInfo(refused)->reason(), kReasonCircuitOpen);
  EXPECT_EQ(GetRetryInfo(refused)->retry_delay().seconds(), 3);
}

TEST_F(CircuitBreakerTest, LetsOneProbeThroughThenClosesOnItsSuccess) {
  for (int i = 0; i < 3; ++i) Request(Outcome::kFailure);
  const absl::Time later = kStart + absl::Seconds(5);
  ASSERT_TRUE(breaker_.Allow(later).ok());
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  EXPECT_FALSE(breaker_.Allow(later).ok()) << "a second probe at once";
  breaker_.Record(Outcome::kSuccess, later);
  EXPECT_EQ(breaker_.state(), State::kClosed);
  EXPECT_TRUE(breaker_.Allow(later).ok());
  EXPECT_THAT(changes_, ElementsAre(true, false));
}

TEST_F(CircuitBreakerTest, AFailedProbeOpensItForAnotherPeriod) {
  for (int i = 0; i < 3; ++i) Request(Outcome::kFailure);
  const absl::Time later = kStart + absl::Seconds(5);
  Request(Outcome::kFailure, later);
  EXPECT_EQ(breaker_.state(), State::kOpen);
  EXPECT_FALSE(breaker_.Allow(later + absl::Seconds(4)).ok());
  EXPECT_TRUE(breaker_.Allow(later + absl::Seconds(5)).ok());
  // Opened once: the failed probe kept it open.
  EXPECT_THAT(changes_, ElementsAre(true));
}

TEST_F(CircuitBreakerTest, AProbeWithoutAClearOutcomeLetsTheNextOneThrough) {
  for (int i = 0; i < 3; ++i) Request(Outcome::kFailure);
  const absl::Time later = kStart + absl::Seconds(5);
  Request(Outcome::kNeither, later);  // the caller cancelled the probe
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  Request(Outcome::kSuccess, later);
  EXPECT_EQ(breaker_.state(), State::kClosed);
}

TEST(CircuitBreaker, AThresholdOfZeroNeverOpens) {
  CircuitBreaker breaker({/*failure_threshold=*/0, absl::Seconds(5)});
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(breaker.Allow(kStart).ok());
    breaker.Record(Outcome::kFailure, kStart);
  }
  EXPECT_EQ(breaker.state(), State::kClosed);
}

TEST(CircuitBreaker, CountsOnlyServerFailuresAsFailures) {
  for (int status : {500, 502, 503, 504}) {
    EXPECT_TRUE(CircuitBreaker::IsFailureStatus(status)) << status;
  }
  for (int status : {200, 202, 400, 404, 409, 429, 501}) {
    EXPECT_FALSE(CircuitBreaker::IsFailureStatus(status)) << status;
  }
}

}  // namespace
}  // namespace mxgate
