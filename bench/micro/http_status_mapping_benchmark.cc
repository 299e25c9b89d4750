// The mapping's share of every CreateMember: MapCreateMemberAnswer on the
// 202 answer the load benchmark's nginx upstream sends (decode included),
// and on a 429 error with Retry-After, the costliest error row (ErrorInfo
// and RetryInfo details).
#include <string>

#include "absl/time/clock.h"
#include "bench/micro/upstream_body.h"
#include "benchmark/benchmark.h"
#include "service/http_status_mapping.h"

namespace mxgate {
namespace bench {
namespace {

void BM_MapCreateMemberAnswer202(benchmark::State& state) {
  HttpResponse response;
  response.status_code = 202;
  response.headers = {{"content-type", "application/json"}, {"connection", "keep-alive"}};
  response.body = MemberResponseBody();
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    auto answer = MapCreateMemberAnswer(response, now);
    if (!answer.ok()) state.SkipWithError("the 202 answer did not map to OK");
    benchmark::DoNotOptimize(answer);
  }
}
BENCHMARK(BM_MapCreateMemberAnswer202);

void BM_MapCreateMemberAnswer429(benchmark::State& state) {
  HttpResponse response;
  response.status_code = 429;
  response.headers = {{"content-type", "application/json"}, {"retry-after", "2"}};
  response.body = R"({"error":{"message":"Too many requests."}})";
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    auto answer = MapCreateMemberAnswer(response, now);
    benchmark::DoNotOptimize(answer);
  }
}
BENCHMARK(BM_MapCreateMemberAnswer429);

}  // namespace
}  // namespace bench
}  // namespace mxgate
