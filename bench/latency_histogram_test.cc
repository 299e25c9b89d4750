#include "bench/latency_histogram.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace mxgate {
namespace bench {
namespace {

TEST(LatencyHistogram, EmptyReadsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0);
  EXPECT_EQ(histogram.ValueAtPercentile(99), 0);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), 0);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (int64_t value = 1; value <= 1000; ++value) histogram.Record(value);
  EXPECT_EQ(histogram.ValueAtPercentile(50), 500);
  EXPECT_EQ(histogram.ValueAtPercentile(99), 990);
  EXPECT_EQ(histogram.ValueAtPercentile(99.9), 999);
  EXPECT_EQ(histogram.ValueAtPercentile(100), 1000);
  EXPECT_EQ(histogram.min(), 1);
  EXPECT_DOUBLE_EQ(histogram.mean(), 500.5);
}

TEST(LatencyHistogram, LargeValuesWithinOnePerMilleAbove) {
  LatencyHistogram histogram;
  // 1 us .. 1 s in microsecond steps: percentile p is the value p * 10^4 us.
  for (int64_t micros = 1; micros <= 1000000; ++micros) histogram.Record(micros * 1000);
  for (double percentile : {1.0, 50.0, 90.0, 99.0, 99.9}) {
    const double exact = percentile * 1e4 * 1000;
    const double read = static_cast<double>(histogram.ValueAtPercentile(percentile));
    EXPECT_GE(read, exact) << "p" << percentile;
    EXPECT_LE(read, exact * 1.001) << "p" << percentile;
  }
  EXPECT_EQ(histogram.ValueAtPercentile(100), 1000000000);
}

TEST(LatencyHistogram, EveryBucketBoundIsWithinOnePerMille) {
  LatencyHistogram histogram;
  for (int64_t value = 1; value < (int64_t{1} << 36); value = value * 3 / 2 + 1) {
    LatencyHistogram one;
    one.Record(value);
    one.Record(LatencyHistogram::kMaxTrackableNanos);
    const int64_t read = one.ValueAtPercentile(50);
    EXPECT_GE(read, value);
    EXPECT_LE(read - value, value / 1000 + 1) << value;
  }
}

TEST(LatencyHistogram, OutOfRangeValuesAreClamped) {
  LatencyHistogram histogram;
  histogram.Record(-5);
  histogram.Record(int64_t{1} << 50);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), int64_t{1} << 50);
  EXPECT_EQ(histogram.ValueAtPercentile(50), 0);
  EXPECT_EQ(histogram.ValueAtPercentile(100), LatencyHistogram::kMaxTrackableNanos);
}

TEST(LatencyHistogram, MergeAddsCountsAndBounds) {
  LatencyHistogram low;
  LatencyHistogram high;
  for (int i = 0; i < 90; ++i) low.Record(100);
  for (int i = 0; i < 10; ++i) high.Record(5000);
  low.Merge(high);
  EXPECT_EQ(low.count(), 100);
  EXPECT_EQ(low.ValueAtPercentile(90), 100);
  EXPECT_GE(low.ValueAtPercentile(91), 5000);
  EXPECT_EQ(low.max(), 5000);
  EXPECT_EQ(low.min(), 100);
}

}  // namespace
}  // namespace bench
}  // namespace mxgate
