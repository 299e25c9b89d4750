// A latency histogram in the HdrHistogram manner: log-linear buckets, so
// every recorded value is kept within 0.1% (1/1024) of itself from 1 ns to
// ~137 s, in a fixed 224 KiB of counters, and percentiles are read without
// storing samples. Not thread-safe: give each thread its own, or hold a
// lock, and Merge them at the end.
#ifndef MXGATE_BENCH_LATENCY_HISTOGRAM_H_
#define MXGATE_BENCH_LATENCY_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace mxgate {
namespace bench {

class LatencyHistogram {
 public:
  // Values above this are counted as this (and still set max()).
  static constexpr int64_t kMaxTrackableNanos = (int64_t{1} << 37) - 1; /*~137 s*/

  LatencyHistogram();

  // Negative values count as 0.
  void Record(int64_t nanos);
  void Merge(const LatencyHistogram& other);

  int64_t count() const { return count_; }
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  double mean() const {
    return count_ == 0 ? 0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }

  // The smallest bucket upper bound at or below which `percentile` (0-100)
  // of the values lie, capped at max(): an upper estimate, never more than
  // 0.1% above the true value. 0 when empty.
  int64_t ValueAtPercentile(double percentile) const;

 private:
  // 2^10 linear sub-buckets per power of two: a bucket spans at most 1/1024
  // of its values.
  static constexpr int kSubBucketBits = 10;

  static int IndexOf(int64_t nanos);
  static int64_t UpperBoundOf(int index);

  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  int64_t sum_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
};

}  // namespace bench
}  // namespace mxgate

#endif  // MXGATE_BENCH_LATENCY_HISTOGRAM_H_
