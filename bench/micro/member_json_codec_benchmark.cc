// The codec's share of every CreateMember: the JSON body the gateway sends
// (EncodeCreateMemberBody) and the member answer it reads
// (DecodeMemberResponseBody), on the bodies the load benchmark uses.
#include <string>

#include "bench/bench_request.h"
#include "bench/micro/upstream_body.h"
#include "benchmark/benchmark.h"
#include "service/member_json_codec.h"

namespace mxgate {
namespace bench {
namespace {

void BM_EncodeCreateMemberBody(benchmark::State& state) {
  const auto request = BenchCreateMemberRequest();
  for (auto _ : state) {
    std::string body = EncodeCreateMemberBody(request, MxApiVersion::kV20250224);
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_EncodeCreateMemberBody);

void BM_DecodeMemberResponseBody(benchmark::State& state) {
  const std::string& body = MemberResponseBody();
  for (auto _ : state) {
    auto member = DecodeMemberResponseBody(body);
    if (!member.ok()) state.SkipWithError("the upstream body did not decode");
    benchmark::DoNotOptimize(member);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_DecodeMemberResponseBody);

}  // namespace
}  // namespace bench
}  // namespace mxgate
