// The access log line of a successful CreateMember: written once per call
// on the gateway's hot path (JSON escaping, the time, the duration and the
// hashed user id), into a sink that keeps only the last line.
#include <string>

#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "service/access_log.h"

namespace mxgate {
namespace bench {
namespace {

void BM_AccessLogRecordOk(benchmark::State& state) {
  std::string last_line;
  AccessLog log(AccessLog::Level::kInfo, [&last_line](absl::string_view line) {
    last_line.assign(line.data(), line.size());
  });
  RpcLogEntry entry;
  entry.method = "CreateMember";
  entry.start = absl::Now();
  entry.code = absl::StatusCode::kOk;
  entry.upstream_status = 202;
  entry.request_id = "0f8c5bb6-1d8c-4ad8-9ac4-0b8f5a8b8f01";
  entry.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  entry.user_identifier = "demo-user";
  entry.member_guid = "MBR-7c6f361b-b8b9-48a2-9d5c-2b4a5f9f4a10";
  for (auto _ : state) {
    log.Record(entry);
    benchmark::DoNotOptimize(last_line.data());
  }
}
BENCHMARK(BM_AccessLogRecordOk);

}  // namespace
}  // namespace bench
}  // namespace mxgate
