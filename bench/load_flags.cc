#include "bench/load_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(double, rate, 0,
          "open loop: calls started per second, on a fixed schedule; 0: closed "
          "loop with --concurrency calls in flight");
ABSL_FLAG(int, concurrency, 1, "closed loop (--rate=0): calls kept in flight");
ABSL_FLAG(int, warmup_ms, 500,
          "calls meant to start in this first stretch are not measured");
ABSL_FLAG(int, duration_ms, 3000, "measured stretch after the warm-up");
ABSL_FLAG(int, max_in_flight, 50000,
          "open loop: a call due while this many are in flight is not sent (NOT_SENT)");
ABSL_FLAG(int, timeout_ms, 5000, "deadline of each call");
ABSL_FLAG(
    int, drain_timeout_ms, 15000,
    "after the schedule, wait this long for the calls in flight (UNFINISHED after)");

namespace mxgate {
namespace bench {

absl::StatusOr<LoadOptions> LoadOptionsFromFlags() {
  LoadOptions options;
  options.rate_per_second = absl::GetFlag(FLAGS_rate);
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.warmup = absl::Milliseconds(absl::GetFlag(FLAGS_warmup_ms));
  options.duration = absl::Milliseconds(absl::GetFlag(FLAGS_duration_ms));
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.drain_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_drain_timeout_ms));
  if (options.rate_per_second < 0)
    return absl::InvalidArgumentError("--rate must be >= 0");
  if (options.rate_per_second == 0 && options.concurrency < 1) {
    return absl::InvalidArgumentError("--concurrency must be >= 1");
  }
  if (options.warmup < absl::ZeroDuration() || options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--warmup_ms must be >= 0 and --duration_ms > 0");
  }
  if (options.max_in_flight < 1)
    return absl::InvalidArgumentError("--max_in_flight must be >= 1");
  if (absl::GetFlag(FLAGS_timeout_ms) <= 0) {
    return absl::InvalidArgumentError("--timeout_ms must be > 0");
  }
  return options;
}

absl::Duration CallTimeoutFromFlags() {
  return absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
}

}  // namespace bench
}  // namespace mxgate
