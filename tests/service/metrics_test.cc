#include "service/metrics.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_process.h"  // HttpGet

namespace mxgate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kCreateLabels[] =
    R"(grpc_method="CreateMember",grpc_service="mx.platform.v1.MemberService",)"
    R"(grpc_type="unary")";

// The lines of `text` that start with `prefix`, in order.
std::vector<std::string> Lines(const std::string& text, absl::string_view prefix) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, prefix)) lines.emplace_back(line);
  }
  return lines;
}

TEST(Metrics, StartsWithNoSeries) {
  Metrics metrics;
  const std::string text = metrics.Text();
  EXPECT_THAT(Lines(text, "grpc_"), IsEmpty());
  EXPECT_THAT(Lines(text, "mxgate_"), IsEmpty());
}

TEST(Metrics, CountsRpcsByMethodAndCode) {
  Metrics metrics;
  metrics.RecordRpc("CreateMember", false, absl::StatusCode::kOk, absl::Milliseconds(3));
  metrics.RecordRpc("CreateMember", false, absl::StatusCode::kOk, absl::Milliseconds(3));
  metrics.RecordRpc("CreateMember", false, absl::StatusCode::kInvalidArgument,
                    absl::Microseconds(50));
  metrics.RecordRpc("WatchMemberStatus", true, absl::StatusCode::kUnavailable,
                    absl::Seconds(4));
  const std::string text = metrics.Text();
  EXPECT_THAT(
      Lines(text, "grpc_server_handled_total"),
      ::testing::UnorderedElementsAre(
          absl::StrCat(R"(grpc_server_handled_total{grpc_code="OK",)", kCreateLabels,
                       "} 2"),
          absl::StrCat(R"(grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",)",
                       kCreateLabels, "} 1"),
          R"(grpc_server_handled_total{grpc_code="UNAVAILABLE",grpc_method="WatchMemberStatus",)"
          R"(grpc_service="mx.platform.v1.MemberService",grpc_type="server_stream"} 1)"));
  EXPECT_THAT(Lines(text, "# TYPE grpc_server_handled_total"),
              ElementsAre("# TYPE grpc_server_handled_total counter"));
}

TEST(Metrics, PutsRpcTimesInCumulativeBuckets) {
  Metrics metrics;
  metrics.RecordRpc("CreateMember", false, absl::StatusCode::kOk, absl::Microseconds(50));
  metrics.RecordRpc("CreateMember", false, absl::StatusCode::kOk, absl::Milliseconds(3));
  const std::string text = metrics.Text();
  const std::string bucket =
      absl::StrCat("grpc_server_handling_seconds_bucket{", kCreateLabels);
  EXPECT_THAT(
      Lines(text, bucket),
      ElementsAre(
          absl::StrCat(bucket, R"(,le="0.0001"} 1)"),
          absl::StrCat(bucket, R"(,le="0.00025"} 1)"),
          absl::StrCat(bucket, R"(,le="0.0005"} 1)"),
          absl::StrCat(bucket, R"(,le="0.001"} 1)"),
          absl::StrCat(bucket, R"(,le="0.0025"} 1)"),
          absl::StrCat(bucket, R"(,le="0.005"} 2)"),
          absl::StrCat(bucket, R"(,le="0.01"} 2)"),
          absl::StrCat(bucket, R"(,le="0.025"} 2)"),
          absl::StrCat(bucket, R"(,le="0.05"} 2)"),
          absl::StrCat(bucket, R"(,le="0.1"} 2)"),
          absl::StrCat(bucket, R"(,le="0.25"} 2)"),
          absl::StrCat(bucket, R"(,le="0.5"} 2)"), absl::StrCat(bucket, R"(,le="1"} 2)"),
          absl::StrCat(bucket, R"(,le="2.5"} 2)"), absl::StrCat(bucket, R"(,le="5"} 2)"),
          absl::StrCat(bucket, R"(,le="10"} 2)"), absl::StrCat(bucket, R"(,le="30"} 2)"),
          absl::StrCat(bucket, R"(,le="+Inf"} 2)")));
  EXPECT_THAT(Lines(text, "grpc_server_handling_seconds_sum"),
              ElementsAre(absl::StrCat("grpc_server_handling_seconds_sum{", kCreateLabels,
                                       "} 0.00305")));
}

TEST(Metrics, CountsUpstreamAnswersByStatusAndFailuresByReason) {
  Metrics metrics;
  metrics.RecordUpstreamAnswer("createMember", 202, absl::Milliseconds(1));
  metrics.RecordUpstreamAnswer("createMember", 409, absl::Milliseconds(1));
  metrics.RecordUpstreamAnswer("createMember", 202, absl::Milliseconds(1));
  metrics.RecordUpstreamFailure("readMemberStatus", "UPSTREAM_TIMEOUT",
                                absl::Seconds(15));
  const std::string text = metrics.Text();
  EXPECT_THAT(
      Lines(text, "mxgate_upstream_responses_total{"),
      ::testing::UnorderedElementsAre(
          R"(mxgate_upstream_responses_total{operation="createMember",status="202"} 2)",
          R"(mxgate_upstream_responses_total{operation="createMember",status="409"} 1)"));
  EXPECT_THAT(
      Lines(text, "mxgate_upstream_failures_total{"),
      ElementsAre(R"(mxgate_upstream_failures_total{operation="readMemberStatus",)"
                  R"(reason="UPSTREAM_TIMEOUT"} 1)"));
  EXPECT_THAT(
      Lines(text, "mxgate_upstream_request_seconds_count"),
      ::testing::UnorderedElementsAre(
          R"(mxgate_upstream_request_seconds_count{operation="createMember"} 3)",
          R"(mxgate_upstream_request_seconds_count{operation="readMemberStatus"} 1)"));
}

TEST(Metrics, ReadsSourcesAtEachExposition) {
  Metrics metrics;
  std::atomic<int> in_flight{3};
  metrics.AddSource("mxgate_calls_in_flight", "Calls not finished.",
                    Metrics::SourceType::kGauge, [&] { return in_flight.load(); });
  metrics.AddSource("mxgate_upstream_connections_opened_total", "Connections opened.",
                    Metrics::SourceType::kCounter, [] { return 7; });
  EXPECT_THAT(Lines(metrics.Text(), "mxgate_calls_in_flight"),
              ElementsAre("mxgate_calls_in_flight 3"));
  in_flight = 0;
  const std::string text = metrics.Text();
  EXPECT_THAT(Lines(text, "mxgate_calls_in_flight"),
              ElementsAre("mxgate_calls_in_flight 0"));
  EXPECT_THAT(Lines(text, "# TYPE mxgate_calls_in_flight"),
              ElementsAre("# TYPE mxgate_calls_in_flight gauge"));
  EXPECT_THAT(Lines(text, "mxgate_upstream_connections_opened_total"),
              ElementsAre("mxgate_upstream_connections_opened_total 7"));
  EXPECT_THAT(Lines(text, "# TYPE mxgate_upstream_connections_opened_total"),
              ElementsAre("# TYPE mxgate_upstream_connections_opened_total counter"));
}

TEST(MetricsEndpoint, ServesTheExpositionOnThePortItChose) {
  Metrics metrics;
  metrics.RecordUpstreamAnswer("createMember", 202, absl::Milliseconds(1));
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
      MetricsEndpoint::Start("127.0.0.1:0", metrics);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  ASSERT_GT((*endpoint)->port(), 0);
  const std::string body = testing::HttpGet(
      absl::StrCat("http://127.0.0.1:", (*endpoint)->port(), "/metrics"));
  EXPECT_THAT(body,
              HasSubstr("\nmxgate_upstream_responses_total{operation=\"createMember\","
                        "status=\"202\"} 1\n"));
}

TEST(MetricsEndpoint, RefusesAPortInUse) {
  Metrics metrics;
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> first =
      MetricsEndpoint::Start("127.0.0.1:0", metrics);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> second =
      MetricsEndpoint::Start(taken, metrics);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(), absl::StrCat("cannot serve metrics on ", taken,
                                                    " (address in use or invalid)"));
}

}  // namespace
}  // namespace mxgate
