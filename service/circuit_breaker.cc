#include "service/circuit_breaker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/status_details.h"

namespace mxgate {

CircuitBreaker::CircuitBreaker(Options options, std::function<void(bool)> on_change)
    : options_(options), on_change_(std::move(on_change)) {}

absl::Status CircuitBreaker::Allow(absl::Time now) {
  if (options_.failure_threshold <= 0) return absl::OkStatus();
  absl::Duration left;
  {
    absl::MutexLock lock(&mu_);
    if (state_ == State::kClosed) return absl::OkStatus();
    if (state_ == State::kOpen && now >= open_until_) state_ = State::kHalfOpen;
    if (state_ == State::kHalfOpen && !probe_in_flight_) {
      probe_in_flight_ = true;
      return absl::OkStatus();
    }
    left = std::max(open_until_ - now, absl::ZeroDuration());
  }
  absl::Status status = MakeError(
      absl::StatusCode::kUnavailable,
      absl::StrCat("MX failed ", options_.failure_threshold,
                   " times in a row; mxgate sends it nothing for ",
                   absl::FormatDuration(absl::Trunc(left, absl::Milliseconds(1))),
                   ", then tries one request"),
      kReasonCircuitOpen);
  AttachRetryInfo(status, left);
  return status;
}

void CircuitBreaker::Record(Outcome outcome, absl::Time now) {
  if (options_.failure_threshold <= 0) return;
  bool opened = false;
  bool closed = false;
  {
    absl::MutexLock lock(&mu_);
    const bool was_probe = state_ == State::kHalfOpen && probe_in_flight_;
    if (was_probe) probe_in_flight_ = false;
    if (outcome == Outcome::kNeither) return;  // a later request probes
    if (outcome == Outcome::kSuccess) {
      consecutive_failures_ = 0;
      if (state_ != State::kClosed) {
        state_ = State::kClosed;
        closed = true;
      }
    } else if (was_probe || (state_ == State::kClosed &&
                             ++consecutive_failures_ >= options_.failure_threshold)) {
      opened = state_ == State::kClosed;
      state_ = State::kOpen;
      open_until_ = now + options_.open_duration;
    }
  }
  if (on_change_ != nullptr && (opened || closed)) on_change_(opened);
}

CircuitBreaker::State CircuitBreaker::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool CircuitBreaker::IsFailureStatus(int http_status) {
  return http_status == 500 || http_status == 502 || http_status == 503 ||
         http_status == 504;
}

}  // namespace mxgate
