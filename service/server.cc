#include "service/server.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace mxgate {
namespace {

std::shared_ptr<grpc::ServerCredentials> ListenerCredentials(
    const std::optional<ServerTls>& tls) {
  if (!tls.has_value()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      tls->client_ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls->client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({tls->private_key_pem, tls->cert_chain_pem});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

// cppcheck-suppress passedByValue ; its members are moved from, not copied
MxgateServer::MxgateServer(ServerOptions options, bool with_metrics)
    : transport_(std::move(options.transport)),
      breaker_(options.circuit, [this](bool open) { SetReadiness(false, open); }),
      client_(std::move(options.mx), transport_, with_metrics ? &metrics_ : nullptr,
              &breaker_),
      log_(options.log_level),
      service_(client_, {options.api_version, options.watch, options.call_limits, &log_,
                         with_metrics ? &metrics_ : nullptr, options.request_replay}) {
  if (!with_metrics) return;
  metrics_.AddSource("mxgate_calls_in_flight",
                     "MemberService calls (unary and watches) not finished yet.",
                     Metrics::SourceType::kGauge,
                     [this] { return service_.calls_in_flight(); });
  metrics_.AddSource("mxgate_upstream_circuit_open",
                     "1 while the circuit breaker keeps calls from MX, else 0.",
                     Metrics::SourceType::kGauge, [this] {
                       return breaker_.state() == CircuitBreaker::State::kClosed ? 0 : 1;
                     });
  metrics_.AddSource("mxgate_upstream_connections_open", "Connections to MX open now.",
                     Metrics::SourceType::kGauge, [this] {
                       return static_cast<double>(transport_.open_connections());
                     });
  metrics_.AddSource(
      "mxgate_upstream_connections_opened_total", "Connections to MX opened since start.",
      Metrics::SourceType::kCounter,
      [this] { return static_cast<double>(transport_.connections_opened()); });
}

absl::StatusOr<std::unique_ptr<MxgateServer>> MxgateServer::Start(ServerOptions options) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  const std::string listen = options.listen;
  const std::shared_ptr<grpc::ServerCredentials> credentials =
      ListenerCredentials(options.tls);
  const std::vector<std::pair<std::string, int>> channel_args =
      ListenerChannelArgs(options.limits);
  const std::string metrics_listen = options.metrics_listen;
  std::unique_ptr<MxgateServer> gateway(
      new MxgateServer(std::move(options), !metrics_listen.empty()));
  if (!metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
        MetricsEndpoint::Start(metrics_listen, gateway->metrics_);
    if (!endpoint.ok()) return endpoint.status();
    gateway->metrics_endpoint_ = *std::move(endpoint);
  }
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which lets a second mxgate share a
  // busy port silently; a taken port must be a start-up error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (const auto& [name, value] : channel_args) builder.AddChannelArgument(name, value);
  builder.AddListeningPort(listen, credentials, &gateway->port_);
  builder.RegisterService(&gateway->service_);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || gateway->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  // Calls run from here on, and a breaker change may already have come
  // (and found no server to tell): SetReadiness applies what it recorded.
  {
    absl::MutexLock lock(&gateway->readiness_mu_);
    gateway->server_ = std::move(server);
  }
  gateway->SetReadiness(false, std::nullopt);
  return gateway;
}

// Under the lock, so two changes cannot land in the wrong order. The
// circuit's state is kept even before Start has stored the server, which
// then applies it. Once draining, readiness stays NOT_SERVING and server_
// is left alone (Drain destroys it later without the lock).
void MxgateServer::SetReadiness(bool draining, std::optional<bool> circuit_open) {
  absl::MutexLock lock(&readiness_mu_);
  if (circuit_open.has_value()) circuit_open_ = *circuit_open;
  if (draining_ || server_ == nullptr) return;
  draining_ = draining;
  server_->GetHealthCheckService()->SetServingStatus(kMemberServiceName,
                                                     !draining_ && !circuit_open_);
}

MxgateServer::~MxgateServer() { Drain(absl::ZeroDuration()); }

int MxgateServer::Drain(absl::Duration timeout) {
  if (server_ == nullptr) return 0;
  const absl::Time deadline = absl::Now() + timeout;
  SetReadiness(true, std::nullopt);
  service_.StartDraining();
  int cut = 0;
  if (!service_.AwaitNoCallsInFlight(deadline)) {
    cut = service_.calls_in_flight();
    service_.AbortCallsInFlight();
    service_.AwaitNoCallsInFlight(absl::Now() + kAbortWait);
  }
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
  server_->Wait();
  server_.reset();
  return cut;
}

}  // namespace mxgate
