// One gateway process: the gRPC server (MemberService, health, reflection)
// wired to the MX client and its libcurl transport, and its graceful drain.
// main.cc parses flags into ServerOptions; integration tests start it the
// same way.
#ifndef MXGATE_SERVICE_SERVER_H_
#define MXGATE_SERVICE_SERVER_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "service/access_log.h"
#include "service/circuit_breaker.h"
#include "service/listener_config.h"
#include "service/member_service.h"
#include "service/metrics.h"
#include "service/mx_api_version.h"
#include "service/mx_client.h"
#include "service/mx_transport.h"

namespace mxgate {

// The name under which grpc.health.v1 reports readiness of the API.
inline constexpr char kMemberServiceName[] = "mx.platform.v1.MemberService";

struct ServerOptions {
  // HOST:PORT; port 0 picks a free port (see MxgateServer::port()).
  std::string listen = "127.0.0.1:50051";
  // nullopt: plaintext (a mesh sidecar may terminate TLS in front).
  std::optional<ServerTls> tls;
  ListenerLimits limits;
  MxApiVersion api_version = kDefaultMxApiVersion;
  RestMxClient::Options mx;
  CurlTransport::Options transport;
  WatchOptions watch;
  // Calls in flight beyond these are refused at once (member_service.h).
  CallLimits call_limits;
  // While it is open, readiness is NOT_SERVING (circuit_breaker.h).
  CircuitBreaker::Options circuit;
  // CreateMember's request_id replay cache (request_replay.h).
  RequestReplay::Options request_replay;
  // One JSON line per finished RPC on stderr, at this level and above.
  AccessLog::Level log_level = AccessLog::Level::kInfo;
  // HOST:PORT serving Prometheus' GET /metrics (metrics.h); empty: none
  // served and none recorded. Port 0 picks a free port.
  std::string metrics_listen;
};

class MxgateServer {
 public:
  // Builds and starts serving, with TLS when options.tls is set.
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MxgateServer>> Start(ServerOptions options);

  ~MxgateServer();

  // The port actually bound.
  int port() const { return port_; }

  // The port serving /metrics; 0 when ServerOptions::metrics_listen is
  // empty.
  int metrics_port() const {
    return metrics_endpoint_ != nullptr ? metrics_endpoint_->port() : 0;
  }

  // Calls in flight on MemberService (unary calls and watches).
  int calls_in_flight() const { return service_.calls_in_flight(); }

  // Drains, then stops; returns when every call has ended.
  //  1. Readiness (health of mx.platform.v1.MemberService) turns NOT_SERVING
  //     at once; liveness ("") stays SERVING, it never depends on MX.
  //  2. New calls are refused with UNAVAILABLE (reason DRAINING, RetryInfo
  //     0 s); open watches end with the same status; unary calls run on.
  //  3. Waits until no call is in flight or `timeout` passes; calls still
  //     in flight then have their upstream requests aborted and end with
  //     CANCELLED.
  //  4. Stops the gRPC server at once: what is left (health watches) is
  //     cancelled. Waiting here instead would let an idle client
  //     connection hold the server for the whole deadline.
  // Returns the calls cut at the timeout (0 when all finished). Later calls
  // return 0 at once.
  int Drain(absl::Duration timeout);

 private:
  MxgateServer(ServerOptions options, bool with_metrics);

  // Local cancellations only: the transport completes an aborted transfer
  // on its next loop turn.
  static constexpr absl::Duration kAbortWait = absl::Seconds(1);

  // Declared in dependency order: destroyed server first, metrics last.
  Metrics metrics_;
  CurlTransport transport_;
  CircuitBreaker breaker_;
  RestMxClient client_;
  AccessLog log_;
  MemberService service_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  // Readiness: SERVING unless draining or the circuit is open.
  void SetReadiness(bool draining, std::optional<bool> circuit_open);
  absl::Mutex readiness_mu_;
  bool draining_ ABSL_GUARDED_BY(readiness_mu_) = false;
  bool circuit_open_ ABSL_GUARDED_BY(readiness_mu_) = false;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_SERVER_H_
