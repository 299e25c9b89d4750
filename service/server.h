// One gateway process: the gRPC server (MemberService, health, reflection)
// wired to the MX client and its libcurl transport. main.cc parses flags
// into ServerOptions; integration tests start it the same way.
#ifndef MXGATE_SERVICE_SERVER_H_
#define MXGATE_SERVICE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "service/member_service.h"
#include "service/mx_api_version.h"
#include "service/mx_client.h"
#include "service/mx_transport.h"

namespace mxgate {

// The name under which grpc.health.v1 reports readiness of the API.
inline constexpr char kMemberServiceName[] = "mx.platform.v1.MemberService";

struct ServerOptions {
  // HOST:PORT; port 0 picks a free port (see MxgateServer::port()).
  std::string listen = "127.0.0.1:50051";
  MxApiVersion api_version = kDefaultMxApiVersion;
  RestMxClient::Options mx;
  CurlTransport::Options transport;
  WatchOptions watch;
};

class MxgateServer {
 public:
  // Builds and starts serving. UNAVAILABLE when the address cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<MxgateServer>> Start(
      ServerOptions options);

  ~MxgateServer();

  // The port actually bound.
  int port() const { return port_; }

  // Stops accepting calls; calls still running after `grace` are
  // cancelled (and their upstream requests aborted). Returns when all
  // calls have ended.
  void Shutdown(absl::Duration grace);

 private:
  MxgateServer(ServerOptions options);

  // Declared in dependency order: destroyed server first, transport last.
  CurlTransport transport_;
  RestMxClient client_;
  MemberService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_SERVER_H_
