// mxgate-bench-floor: the server of path F ("gRPC floor") of the benchmark.
// A gRPC server of mx.platform.v1.MemberService whose CreateMember answers
// at once, on the thread that runs the handler, with one fixed response: no
// upstream, no validation, no access log, no metrics. Driven by path G's
// load generator (mxgate-bench-grpc), it measures what a gRPC call alone
// costs on this machine, so that the report can split what the gateway
// adds (G - D) into gRPC's own round trip (F) and the rest (mxgate's code,
// its thread hand-offs and the second hop).
//
// The fixed response is what mxgate answers for the benchmark's request:
// the nginx upstream's 202 body (bench/upstream/member_response_body.json)
// through mxgate's own mapping of a create-member answer
// (MapCreateMemberAnswer, which decodes with member_json_codec), built once
// at start-up; the reply message is therefore byte for byte the gateway's.
//
// Built like mxgate's server (service/server.cc): the callback API, the
// listener's default channel arguments (ListenerChannelArgs: message size
// limits and keepalive) and SO_REUSEPORT off. Left out, as they add no work
// to a CreateMember call or are mxgate's own: TLS, the health and
// reflection services, and the x-request-id mxgate returns in each call's
// initial metadata.
//
// Prints `listening on HOST:PORT` on stdout once it serves, as mxgate does,
// and serves until killed (SIGTERM). Exit 2 on a usage or start-up error.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "service/http_message.h"
#include "service/http_status_mapping.h"
#include "service/listener_config.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "HOST:PORT to serve on; port 0 picks a free port");
ABSL_FLAG(std::string, member_body_file, MXGATE_BENCH_MEMBER_BODY_FILE,
          "the upstream's 202 MemberResponseBody the fixed answer is made from");

namespace {

namespace v1 = ::mx::platform::v1;

// CreateMember answers `answer` at once; every other method is gRPC's
// default UNIMPLEMENTED.
class FloorService final : public v1::MemberService::CallbackService {
 public:
  explicit FloorService(v1::CreateMemberResponse answer) : answer_(std::move(answer)) {}

  grpc::ServerUnaryReactor* CreateMember(grpc::CallbackServerContext* context,
                                         const v1::CreateMemberRequest* /*request*/,
                                         v1::CreateMemberResponse* response) override {
    *response = answer_;  // the gateway fills the response gRPC hands it, too
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const v1::CreateMemberResponse answer_;
};

// What mxgate answers when MX answers 202 with the body in `body_file`.
// NOT_FOUND when the file cannot be read; the mapping's error when the body
// is not a member.
absl::StatusOr<v1::CreateMemberResponse> GatewayAnswerFor(const std::string& body_file) {
  std::ifstream file(body_file, std::ios::binary);
  std::stringstream body;
  if (!file || !(body << file.rdbuf())) {
    return absl::NotFoundError(absl::StrCat("cannot read ", body_file));
  }
  mxgate::HttpResponse upstream;
  upstream.status_code = 202;
  upstream.headers = {{"content-type", "application/json"}};
  upstream.body = body.str();
  return mxgate::MapCreateMemberAnswer(upstream, absl::Now());
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "mxgate-bench-floor [--listen=HOST:PORT] [--member_body_file=PATH]\n"
      "Path F's server: CreateMember answered at once with a fixed response, gRPC "
      "alone.");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<v1::CreateMemberResponse> answer =
      GatewayAnswerFor(absl::GetFlag(FLAGS_member_body_file));
  if (!answer.ok()) {
    std::fprintf(stderr, "mxgate-bench-floor: %s\n", answer.status().ToString().c_str());
    return 2;
  }
  FloorService service(*std::move(answer));

  const std::string listen = absl::GetFlag(FLAGS_listen);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (const auto& [name, value] :
       mxgate::ListenerChannelArgs(mxgate::ListenerLimits{})) {
    builder.AddChannelArgument(name, value);
  }
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "mxgate-bench-floor: cannot listen on %s\n", listen.c_str());
    return 2;
  }
  std::printf("listening on %s:%d\n", listen.substr(0, listen.rfind(':')).c_str(), port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}
