#include "bench/load_runner.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mxgate {
namespace bench {
namespace {

constexpr int64_t kNanosPerSecond = 1000000000;

void SleepUntil(int64_t nanos) {
  timespec until;
  until.tv_sec = nanos / kNanosPerSecond;
  until.tv_nsec = nanos % kNanosPerSecond;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) != 0) {
  }
}

std::string PercentilesJson(const LatencyHistogram& histogram) {
  auto micros = [&](double percentile) {
    return absl::StrFormat(
        "%.1f", static_cast<double>(histogram.ValueAtPercentile(percentile)) / 1000.0);
  };
  return absl::StrFormat(
      R"({"count": %d, "min": %.1f, "p50": %s, "p90": %s, "p99": %s, "p99_9": %s, )"
      R"("max": %.1f, "mean": %.1f})",
      histogram.count(), static_cast<double>(histogram.min()) / 1000.0, micros(50),
      micros(90), micros(99), micros(99.9), static_cast<double>(histogram.max()) / 1000.0,
      histogram.mean() / 1000.0);
}

}  // namespace

int64_t NowNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * kNanosPerSecond + now.tv_nsec;
}

LoadRunner::LoadRunner(LoadOptions options, StartCall start_call)
    : options_(options), start_call_(std::move(start_call)) {}

void LoadRunner::Run() {
  // The default 50 us timer slack would make every wake-up late by up to
  // that much, and that lateness would count as latency.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  start_nanos_ = NowNanos();
  measure_from_nanos_ = start_nanos_ + absl::ToInt64Nanoseconds(options_.warmup);
  end_nanos_ = measure_from_nanos_ + absl::ToInt64Nanoseconds(options_.duration);
  if (options_.rate_per_second > 0) {
    RunOpenLoop();
  } else {
    RunClosedLoop();
  }
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(this, &LoadRunner::AllFinished),
                       options_.drain_timeout);
}

void LoadRunner::RunOpenLoop() {
  const double period_nanos = kNanosPerSecond / options_.rate_per_second;
  for (int64_t i = 0;; ++i) {
    const int64_t intended =
        start_nanos_ +
        static_cast<int64_t>(std::llround(static_cast<double>(i) * period_nanos));
    if (intended >= end_nanos_) break;
    int64_t now = NowNanos();
    if (now < intended) {
      SleepUntil(intended);
      now = NowNanos();
    }
    send_lag_.Record(now - intended);
    if (in_flight_.load(std::memory_order_relaxed) >= options_.max_in_flight) {
      ++not_sent_;
      absl::MutexLock lock(&mu_);
      ++errors_["NOT_SENT"];
      if (intended >= measure_from_nanos_) ++measured_errors_;
      continue;
    }
    StartOne(intended);
  }
}

void LoadRunner::RunClosedLoop() {
  {
    absl::MutexLock lock(&mu_);
    free_slots_ = options_.concurrency;
  }
  while (true) {
    int slots = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(absl::Condition(this, &LoadRunner::HasFreeSlots),
                            absl::Now() + absl::Nanoseconds(end_nanos_ - NowNanos()));
      slots = free_slots_;
      free_slots_ = 0;
    }
    if (NowNanos() >= end_nanos_) break;
    for (int i = 0; i < slots; ++i) StartOne(NowNanos());
  }
}

void LoadRunner::StartOne(int64_t intended_nanos) {
  const int in_flight = in_flight_.fetch_add(1, std::memory_order_relaxed) + 1;
  max_in_flight_seen_ = std::max(max_in_flight_seen_, in_flight);
  {
    absl::MutexLock lock(&mu_);
    ++started_;
  }
  start_call_(intended_nanos);
}

void LoadRunner::Finish(int64_t intended_nanos, absl::string_view error) {
  const int64_t now = NowNanos();
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  ++finished_;
  if (!error.empty()) ++errors_[std::string(error)];
  if (intended_nanos >= measure_from_nanos_ && intended_nanos < end_nanos_) {
    if (error.empty()) {
      ++measured_ok_;
      latency_.Record(now - intended_nanos);
    } else {
      ++measured_errors_;
    }
  }
  if (options_.rate_per_second <= 0) ++free_slots_;
}

std::string LoadRunner::ReportJson(
    const std::vector<std::pair<std::string, std::string>>& extra) const {
  absl::MutexLock lock(&mu_);
  const double seconds = absl::ToDoubleSeconds(options_.duration);
  const int64_t unfinished = started_ - finished_;
  std::string errors;
  for (const auto& [name, count] : errors_) {
    absl::StrAppend(&errors, errors.empty() ? "" : ", ", "\"", name, "\": ", count);
  }
  if (unfinished > 0) {
    absl::StrAppend(&errors, errors.empty() ? "" : ", ", "\"UNFINISHED\": ", unfinished);
  }
  std::string json = absl::StrFormat(
      R"({"mode": "%s", "offered_rate": %.1f, "concurrency": %d, "warmup_s": %.3f, )"
      R"("duration_s": %.3f, "started": %d, "finished": %d, "not_sent": %d, )"
      R"("unfinished": %d, "measured_ok": %d, "measured_errors": %d, )"
      R"("throughput": %.1f, "errors": {%s}, "max_in_flight": %d, "latency_us": %s, )"
      R"("send_lag_us": %s)",
      options_.rate_per_second > 0 ? "open" : "closed", options_.rate_per_second,
      options_.rate_per_second > 0 ? 0 : options_.concurrency,
      absl::ToDoubleSeconds(options_.warmup), seconds, started_, finished_, not_sent_,
      unfinished, measured_ok_, measured_errors_ + unfinished,
      seconds > 0 ? static_cast<double>(measured_ok_) / seconds : 0.0, errors,
      max_in_flight_seen_, PercentilesJson(latency_), PercentilesJson(send_lag_));
  for (const auto& [name, value] : extra)
    absl::StrAppend(&json, ", \"", name, "\": ", value);
  json += "}";
  return json;
}

}  // namespace bench
}  // namespace mxgate
