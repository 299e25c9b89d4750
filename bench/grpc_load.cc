// mxgate-bench-grpc: path G of the benchmark. An open-loop (or closed-loop)
// gRPC load generator on the callback API: CreateMember calls to mxgate at
// a fixed arrival rate over --channels HTTP/2 connections, latency from
// each call's intended start (bench/load_runner.h).
//
// Prints one JSON report on stdout; exit 2 on a usage error or when the
// gateway cannot be reached, else 0 (the report says whether calls failed).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_request.h"
#include "bench/load_flags.h"
#include "bench/load_runner.h"
#include "grpcpp/grpcpp.h"
#include "mx/platform/v1/member_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "", "mxgate's HOST:PORT (plaintext)");
ABSL_FLAG(int, channels, 2,
          "HTTP/2 connections to spread calls over, round robin (each its own channel)");

namespace {

namespace v1 = ::mx::platform::v1;

// One call in flight: gRPC needs the context and response to live until
// the callback.
struct Call {
  grpc::ClientContext context;
  v1::CreateMemberResponse response;
  int64_t intended_nanos = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "mxgate-bench-grpc --target=HOST:PORT [--rate=N | --concurrency=N] [--channels=N] "
      "[--warmup_ms --duration_ms --timeout_ms --max_in_flight]\n"
      "Path G: CreateMember calls to mxgate over gRPC; prints a JSON report.");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<mxgate::bench::LoadOptions> options =
      mxgate::bench::LoadOptionsFromFlags();
  const int channel_count = absl::GetFlag(FLAGS_channels);
  if (!options.ok() || absl::GetFlag(FLAGS_target).empty() || channel_count < 1) {
    std::fprintf(stderr, "mxgate-bench-grpc: %s\n",
                 !options.ok() ? std::string(options.status().message()).c_str()
                               : "--target is required and --channels must be >= 1");
    return 2;
  }
  const absl::Duration timeout = mxgate::bench::CallTimeoutFromFlags();
  const v1::CreateMemberRequest request = mxgate::bench::BenchCreateMemberRequest();

  std::unique_ptr<mxgate::bench::LoadRunner> runner;
  std::vector<std::unique_ptr<v1::MemberService::Stub>> stubs;
  for (int i = 0; i < channel_count; ++i) {
    grpc::ChannelArguments args;
    // Distinct arguments and a channel-local subchannel pool: one TCP
    // connection per channel instead of one shared by all.
    args.SetInt("mxgate.bench.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(5)))) {
      std::fprintf(stderr, "mxgate-bench-grpc: cannot connect to %s\n",
                   absl::GetFlag(FLAGS_target).c_str());
      return 2;
    }
    stubs.push_back(v1::MemberService::NewStub(channel));
  }

  size_t next_stub = 0;  // the runner starts calls from one thread
  runner =
      std::make_unique<mxgate::bench::LoadRunner>(*options, [&](int64_t intended_nanos) {
        auto* call = new Call;
        call->intended_nanos = intended_nanos;
        call->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
        v1::MemberService::Stub& stub = *stubs[next_stub++ % stubs.size()];
        stub.async()->CreateMember(
            &call->context, &request, &call->response,
            [&runner, call](const grpc::Status& status) {
              runner->Finish(
                  call->intended_nanos,
                  status.ok() ? ""
                              : absl::StatusCodeToString(
                                    static_cast<absl::StatusCode>(status.error_code())));
              delete call;
            });
      });
  runner->Run();
  std::printf(
      "%s\n",
      runner->ReportJson({{"path", "\"G\""}, {"channels", absl::StrCat(channel_count)}})
          .c_str());
  std::fflush(stdout);
  // Calls still open past the drain timeout would call into the runner
  // while the stubs are torn down; the report is out, so leave at once.
  std::_Exit(0);
}
