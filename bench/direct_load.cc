// mxgate-bench-direct: path D of the benchmark. Drives the upstream (nginx
// or mx-sandbox) with CreateMember calls through mxgate's own MX client
// (RestMxClient over CurlTransport: the same request building, libcurl
// event loop, connection pool and answer mapping the gateway runs), with
// no gRPC in between. What the gateway adds is G minus this.
//
// Prints one JSON report on stdout (bench/load_runner.h) with the
// transport's connection counts; exit 2 on a usage error, else 0 (the
// report says whether calls failed).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_request.h"
#include "bench/load_flags.h"
#include "bench/load_runner.h"
#include "service/call_metadata.h"
#include "service/mx_api_version.h"
#include "service/mx_client.h"
#include "service/mx_transport.h"

ABSL_FLAG(std::string, base_url, "", "upstream base URL, e.g. http://127.0.0.1:8089");
ABSL_FLAG(std::string, client_id, "sandbox-client-id", "Basic auth user sent upstream");
ABSL_FLAG(std::string, api_key, "sandbox-api-key", "Basic auth password sent upstream");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "mxgate-bench-direct --base_url=http://127.0.0.1:PORT [--rate=N | --concurrency=N] "
      "[--warmup_ms --duration_ms --timeout_ms --max_in_flight]\n"
      "Path D: CreateMember calls through mxgate's MX client, no gateway; prints a JSON "
      "report.");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<mxgate::bench::LoadOptions> options =
      mxgate::bench::LoadOptionsFromFlags();
  if (!options.ok() || absl::GetFlag(FLAGS_base_url).empty()) {
    std::fprintf(stderr, "mxgate-bench-direct: %s\n",
                 options.ok() ? "--base_url is required"
                              : std::string(options.status().message()).c_str());
    return 2;
  }
  const absl::Duration timeout = mxgate::bench::CallTimeoutFromFlags();
  const ::mx::platform::v1::CreateMemberRequest request =
      mxgate::bench::BenchCreateMemberRequest();

  // Declared first so that it outlives the transport, whose shutdown ends
  // calls still open (CANCELLED) through the runner.
  std::unique_ptr<mxgate::bench::LoadRunner> runner;
  // The gateway's defaults (service/server.h builds them the same way).
  mxgate::CurlTransport transport(mxgate::CurlTransport::Options{});
  mxgate::RestMxClient client(
      {absl::GetFlag(FLAGS_base_url), absl::GetFlag(FLAGS_client_id),
       absl::GetFlag(FLAGS_api_key), timeout},
      transport);
  runner =
      std::make_unique<mxgate::bench::LoadRunner>(*options, [&](int64_t intended_nanos) {
        // A fresh request id per call, as the gateway makes for a caller
        // that sends none: both paths then send the same headers.
        client.CreateMember(
            request, mxgate::kDefaultMxApiVersion, absl::Now() + timeout,
            mxgate::MakeCallMetadata("", "", ""),
            [&runner, intended_nanos](
                const absl::StatusOr<::mx::platform::v1::CreateMemberResponse>& answer) {
              runner->Finish(
                  intended_nanos,
                  answer.ok() ? "" : absl::StatusCodeToString(answer.status().code()));
            });
      });
  runner->Run();
  const std::string report = runner->ReportJson(
      {{"path", "\"D\""},
       {"upstream_connections_opened", absl::StrCat(transport.connections_opened())},
       {"upstream_connections_open", absl::StrCat(transport.open_connections())}});
  std::printf("%s\n", report.c_str());
  std::fflush(stdout);
  return 0;
}
