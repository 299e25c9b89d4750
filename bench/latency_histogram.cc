#include "bench/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace mxgate {
namespace bench {

LatencyHistogram::LatencyHistogram() : counts_(IndexOf(kMaxTrackableNanos) + 1, 0) {}

// Values below 2^10 have a bucket each. Above, the bucket is the position
// of the top bit (one group of 1024 buckets per power of two) and the next
// 10 bits (the linear position inside that power of two).
int LatencyHistogram::IndexOf(int64_t nanos) {
  const uint64_t value = static_cast<uint64_t>(nanos);
  if (value < (uint64_t{1} << kSubBucketBits)) return static_cast<int>(value);
  const int top_bit = 63 - __builtin_clzll(value);
  const int shift = top_bit - kSubBucketBits;
  return ((shift + 1) << kSubBucketBits) +
         static_cast<int>((value >> shift) - (uint64_t{1} << kSubBucketBits));
}

int64_t LatencyHistogram::UpperBoundOf(int index) {
  constexpr int kSubBuckets = 1 << kSubBucketBits;
  if (index < kSubBuckets) return index;
  const int shift = index / kSubBuckets - 1;
  const int64_t sub_bucket = index % kSubBuckets + kSubBuckets;
  return ((sub_bucket + 1) << shift) - 1;
}

void LatencyHistogram::Record(int64_t nanos) {
  nanos = std::max<int64_t>(nanos, 0);
  if (count_ == 0 || nanos < min_) min_ = nanos;
  max_ = std::max(max_, nanos);
  ++count_;
  sum_ += nanos;
  ++counts_[IndexOf(std::min(nanos, kMaxTrackableNanos))];
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

int64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The rank of the value asked for, 1-based: p50 of 10 values is the 5th.
  // The epsilon keeps binary rounding (99.9 / 100 * 1000 = 999.0000000000001)
  // from moving an exact rank up by one.
  const int64_t rank = std::max<int64_t>(
      1, static_cast<int64_t>(
             std::ceil(percentile / 100.0 * static_cast<double>(count_) - 1e-9)));
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(UpperBoundOf(static_cast<int>(i)), max_);
  }
  return max_;
}

}  // namespace bench
}  // namespace mxgate
