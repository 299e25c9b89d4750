// A circuit breaker in front of MX: after `failure_threshold` consecutive
// failed requests (no answer, or a 500/502/503/504) it opens, and calls fail
// fast for `open_duration` without reaching MX. Then one probe request is
// let through (half-open): its success closes the circuit, its failure
// opens it again. Any other HTTP answer (a 404, a 429) shows MX is up.
//
// Thread-safe; the clock is passed in so tests control it.
#ifndef MXGATE_SERVICE_CIRCUIT_BREAKER_H_
#define MXGATE_SERVICE_CIRCUIT_BREAKER_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mxgate {

// ErrorInfo reason of a call refused while the circuit is open.
inline constexpr char kReasonCircuitOpen[] = "UPSTREAM_CIRCUIT_OPEN";

class CircuitBreaker {
 public:
  struct Options {
    int failure_threshold = 5;  // 0 disables the breaker
    absl::Duration open_duration = absl::Seconds(5);
  };
  enum class State { kClosed, kOpen, kHalfOpen };

  // `on_change(open)` runs (outside the lock) each time the circuit opens
  // (true) or closes (false); half-open counts as open.
  explicit CircuitBreaker(Options options,
                          std::function<void(bool open)> on_change = nullptr);

  // OK when a request may go to MX now; else UNAVAILABLE (reason
  // UPSTREAM_CIRCUIT_OPEN) with a RetryInfo of the time left open. In the
  // half-open state only one request (the probe) is let through at a time.
  absl::Status Allow(absl::Time now);

  // The outcome of a request Allow let through: MX answered (success),
  // failed, or neither tells (the caller cancelled, or its own short
  // deadline passed); each must be recorded, or a probe would never end.
  enum class Outcome { kSuccess, kFailure, kNeither };
  void Record(Outcome outcome, absl::Time now);

  State state() const;

  // Whether an HTTP status counts as MX failing.
  static bool IsFailureStatus(int http_status);

 private:
  const Options options_;
  const std::function<void(bool)> on_change_;
  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kClosed;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time open_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool probe_in_flight_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_CIRCUIT_BREAKER_H_
