// Prometheus metrics of one gateway, and the HTTP endpoint that serves them
// (prometheus-cpp). Names follow the conventions dashboards already know:
//
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}
//   mxgate_upstream_responses_total{operation,status}    status: "202", ...
//   mxgate_upstream_failures_total{operation,reason}     reason: ErrorInfo's
//   mxgate_upstream_request_seconds{operation}           answers and failures
//   mxgate_request_replay_total{result}                  replayed, mismatch,
//                                                        in_progress
//   ...plus the gauges and counters read at each scrape (AddSource):
//   calls in flight, open upstream connections.
//
// `operation` is MX's operationId (createMember, readMemberStatus, ...).
// No label ever holds a value from a request: the label sets are bounded.
#ifndef MXGATE_SERVICE_METRICS_H_
#define MXGATE_SERVICE_METRICS_H_

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace prometheus {
class Collectable;
class Counter;
class Exposer;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace mxgate {

class Metrics {
 public:
  enum class SourceType { kGauge, kCounter };

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A finished RPC of mx.platform.v1.MemberService. `method` is a literal
  // such as "CreateMember". Thread-safe, as is every method here.
  void RecordRpc(absl::string_view method, bool server_stream, absl::StatusCode code,
                 absl::Duration elapsed);

  // An upstream request that got an HTTP answer of `http_status`.
  // `operation` is a literal, as `method` above.
  void RecordUpstreamAnswer(absl::string_view operation, int http_status,
                            absl::Duration elapsed);
  // An upstream request that got no answer; `reason` is the transport's
  // ErrorInfo reason (mx_transport.h), e.g. "UPSTREAM_TIMEOUT".
  void RecordUpstreamFailure(absl::string_view operation, absl::string_view reason,
                             absl::Duration elapsed);

  // A CreateMember that the request_id replay cache answered without MX
  // (request_replay.h). `result` is a literal: "replayed", "mismatch" or
  // "in_progress".
  void RecordRequestReplay(absl::string_view result);

  // A value read at each scrape, e.g. the calls in flight. `read` must be
  // thread-safe and must stay valid while this object lives.
  void AddSource(std::string name, std::string help, SourceType type,
                 std::function<double()> read);

  // The exposition in Prometheus' text format, as /metrics serves it.
  std::string Text() const;

  // What an exposer collects.
  std::shared_ptr<prometheus::Collectable> registry() const;
  std::shared_ptr<prometheus::Collectable> sources() const;

 private:
  class Sources;

  prometheus::Histogram* UpstreamHistogram(absl::string_view operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<prometheus::Registry> registry_;
  const std::shared_ptr<Sources> sources_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Histogram>& rpc_seconds_;
  prometheus::Family<prometheus::Counter>& upstream_responses_;
  prometheus::Family<prometheus::Counter>& upstream_failures_;
  prometheus::Family<prometheus::Histogram>& upstream_seconds_;
  prometheus::Family<prometheus::Counter>& replays_;

  // Series already added, so that the hot path builds no label map.
  mutable absl::Mutex mu_;
  // Keyed by the literals callers pass (no string is built per call).
  absl::flat_hash_map<std::pair<absl::string_view, int>, prometheus::Counter*>
      rpc_counters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<absl::string_view, prometheus::Histogram*> rpc_histograms_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::pair<absl::string_view, int>, prometheus::Counter*> answers_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::tuple<std::string, std::string>, prometheus::Counter*>
      failures_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<absl::string_view, prometheus::Histogram*> upstream_histograms_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<absl::string_view, prometheus::Counter*> replay_counters_
      ABSL_GUARDED_BY(mu_);
};

// Serves GET /metrics over plain HTTP on its own threads (two, civetweb's).
class MetricsEndpoint {
 public:
  // `address` is HOST:PORT; port 0 picks a free one. UNAVAILABLE when it
  // cannot be bound. `metrics` must outlive the endpoint.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address, const Metrics& metrics);
  ~MetricsEndpoint();

  // The port actually bound.
  int port() const { return port_; }

 private:
  MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port,
                  const sockaddr_storage& wake_address, socklen_t wake_address_length);

  std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
  const sockaddr_storage wake_address_;
  const socklen_t wake_address_length_;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_METRICS_H_
