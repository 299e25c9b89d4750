// The rest of the gateway's own work per CreateMember, before the request
// reaches libcurl: validation, the call metadata (a new request id when the
// caller sends none) and the whole HTTP request (URL, headers, JSON body).
#include "absl/time/clock.h"
#include "bench/bench_request.h"
#include "benchmark/benchmark.h"
#include "service/call_metadata.h"
#include "service/mx_client.h"
#include "service/request_validation.h"

namespace mxgate {
namespace bench {
namespace {

void BM_ValidateCreateMemberRequest(benchmark::State& state) {
  const auto request = BenchCreateMemberRequest();
  for (auto _ : state) {
    auto version = ValidateCreateMemberRequest(request, kDefaultMxApiVersion);
    benchmark::DoNotOptimize(version);
  }
}
BENCHMARK(BM_ValidateCreateMemberRequest);

void BM_MakeCallMetadataNewRequestId(benchmark::State& state) {
  for (auto _ : state) {
    CallMetadata metadata = MakeCallMetadata("", "", "");
    benchmark::DoNotOptimize(metadata);
  }
}
BENCHMARK(BM_MakeCallMetadataNewRequestId);

// Only BuildCreateMemberRequest runs; nothing is sent.
class NoTransport final : public HttpTransport {
 public:
  TransferId Send(HttpRequest, Callback) override { return 0; }
  void Cancel(TransferId) override {}
};

void BM_BuildCreateMemberRequest(benchmark::State& state) {
  NoTransport transport;
  RestMxClient client({"http://127.0.0.1:8089", "sandbox-client-id", "sandbox-api-key"},
                      transport);
  const auto request = BenchCreateMemberRequest();
  const CallMetadata metadata = MakeCallMetadata("", "", "");
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (auto _ : state) {
    HttpRequest http = client.BuildCreateMemberRequest(request, kDefaultMxApiVersion,
                                                       deadline, metadata);
    benchmark::DoNotOptimize(http);
  }
}
BENCHMARK(BM_BuildCreateMemberRequest);

}  // namespace
}  // namespace bench
}  // namespace mxgate
