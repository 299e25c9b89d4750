// The load loop shared by the C++ load generators (direct_load.cc: path D,
// grpc_load.cc: path G). It starts calls either at a fixed arrival rate
// (open loop: the schedule never waits for answers, so a slow server cannot
// slow the load down and hide its own latency), or with a fixed number of
// calls in flight (closed loop, for the "1 call in flight" figure). Each
// call's latency runs from the time it was meant to start, not from the
// time it was started, so a load generator that falls behind counts against
// the result instead of hiding it ("coordinated omission"); how far behind
// it fell is reported separately as the send lag.
//
// It knows nothing of HTTP or gRPC: the caller's StartCall starts one call
// and the call's completion calls Finish.
#ifndef MXGATE_BENCH_LOAD_RUNNER_H_
#define MXGATE_BENCH_LOAD_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/latency_histogram.h"

namespace mxgate {
namespace bench {

struct LoadOptions {
  // Open loop at this many calls per second when > 0; otherwise closed loop
  // with `concurrency` calls in flight.
  double rate_per_second = 0;
  int concurrency = 1;
  // Calls meant to start in the warm-up are made but not measured.
  absl::Duration warmup = absl::Milliseconds(500);
  absl::Duration duration = absl::Seconds(3);
  // Open loop: a call due while this many are in flight is not started and
  // counts as an error (NOT_SENT), so an overloaded target cannot grow the
  // generator's memory without bound.
  int max_in_flight = 50000;
  // How long to wait for the calls still in flight after the schedule ends;
  // those still open then count as UNFINISHED.
  absl::Duration drain_timeout = absl::Seconds(15);
};

// Monotonic clock (CLOCK_MONOTONIC) in nanoseconds.
int64_t NowNanos();

class LoadRunner {
 public:
  // Starts one call and returns at once; the call's completion calls
  // Finish(intended_nanos, ...) exactly once, from any thread, never from
  // inside StartCall. `intended_nanos` is the time (NowNanos) the call was
  // meant to start.
  using StartCall = std::function<void(int64_t intended_nanos)>;

  LoadRunner(LoadOptions options, StartCall start_call);

  // Runs the schedule and waits for the calls in flight (at most
  // options.drain_timeout). A call still open after that may still call
  // Finish later: keep the runner alive until the process exits.
  void Run();

  // The result as one JSON object: counts, errors by name, throughput in
  // the measured window, latency and send-lag percentiles in microseconds,
  // then `extra` (name, JSON value) pairs as given.
  std::string ReportJson(
      const std::vector<std::pair<std::string, std::string>>& extra = {}) const;

  // Ends one call: `error` is empty on success, else a short name for the
  // report, e.g. "UNAVAILABLE". Thread-safe.
  void Finish(int64_t intended_nanos, absl::string_view error);

 private:
  void RunOpenLoop();
  void RunClosedLoop();
  void StartOne(int64_t intended_nanos);
  bool AllFinished() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return finished_ >= started_;
  }
  bool HasFreeSlots() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return free_slots_ > 0; }

  const LoadOptions options_;
  const StartCall start_call_;
  int64_t start_nanos_ = 0;
  int64_t measure_from_nanos_ = 0;  // start + warm-up
  int64_t end_nanos_ = 0;           // measure_from + duration

  std::atomic<int> in_flight_{0};
  int max_in_flight_seen_ = 0;  // sender thread only
  int64_t not_sent_ = 0;        // sender thread only
  LatencyHistogram send_lag_;   // sender thread only

  mutable absl::Mutex mu_;
  LatencyHistogram latency_ ABSL_GUARDED_BY(mu_);
  int64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;                   // every call, warm-up too
  int64_t measured_ok_ ABSL_GUARDED_BY(mu_) = 0;                // in the window
  int64_t measured_errors_ ABSL_GUARDED_BY(mu_) = 0;            // in the window
  std::map<std::string, int64_t> errors_ ABSL_GUARDED_BY(mu_);  // every call
  int free_slots_ ABSL_GUARDED_BY(mu_) = 0;  // closed loop: calls to start
};

}  // namespace bench
}  // namespace mxgate

#endif  // MXGATE_BENCH_LOAD_RUNNER_H_
