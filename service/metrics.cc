#include "service/metrics.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace mxgate {
namespace {

constexpr char kServiceName[] = "mx.platform.v1.MemberService";

// From a fast local answer to MX's slowest aggregation-bound calls; the
// same for RPCs and upstream requests, so the two can be subtracted.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  return *buckets;
}

const char* TypeOf(bool server_stream) {
  return server_stream ? "server_stream" : "unary";
}

}  // namespace

// The values read at scrape time.
class Metrics::Sources final : public prometheus::Collectable {
 public:
  void Add(std::string name, std::string help, SourceType type,
           std::function<double()> read) {
    absl::MutexLock lock(&mu_);
    sources_.push_back({std::move(name), std::move(help), type, std::move(read)});
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::MutexLock lock(&mu_);
    std::vector<prometheus::MetricFamily> families;
    families.reserve(sources_.size());
    for (const Source& source : sources_) {
      prometheus::MetricFamily family;
      family.name = source.name;
      family.help = source.help;
      prometheus::ClientMetric value;
      if (source.type == SourceType::kGauge) {
        family.type = prometheus::MetricType::Gauge;
        value.gauge.value = source.read();
      } else {
        family.type = prometheus::MetricType::Counter;
        value.counter.value = source.read();
      }
      family.metric.push_back(std::move(value));
      families.push_back(std::move(family));
    }
    return families;
  }

 private:
  struct Source {
    std::string name;
    std::string help;
    SourceType type;
    std::function<double()> read;
  };
  mutable absl::Mutex mu_;
  std::vector<Source> sources_ ABSL_GUARDED_BY(mu_);
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      sources_(std::make_shared<Sources>()),
      rpcs_(prometheus::BuildCounter()
                .Name("grpc_server_handled_total")
                .Help("RPCs completed on the server, by method and gRPC status code.")
                .Register(*registry_)),
      rpc_seconds_(prometheus::BuildHistogram()
                       .Name("grpc_server_handling_seconds")
                       .Help("Time from the start of an RPC to its status, in seconds.")
                       .Register(*registry_)),
      upstream_responses_(
          prometheus::BuildCounter()
              .Name("mxgate_upstream_responses_total")
              .Help("HTTP answers from MX, by MX operation and HTTP status code.")
              .Register(*registry_)),
      upstream_failures_(
          prometheus::BuildCounter()
              .Name("mxgate_upstream_failures_total")
              .Help("Requests to MX that got no HTTP answer, by operation and reason.")
              .Register(*registry_)),
      upstream_seconds_(
          prometheus::BuildHistogram()
              .Name("mxgate_upstream_request_seconds")
              .Help("Time of requests to MX, answered or failed, in seconds.")
              .Register(*registry_)),
      replays_(prometheus::BuildCounter()
                   .Name("mxgate_request_replay_total")
                   .Help("CreateMember calls with a request_id that the replay cache "
                         "answered without MX, by result: replayed, mismatch, "
                         "in_progress.")
                   .Register(*registry_)) {}

Metrics::~Metrics() = default;

void Metrics::RecordRpc(absl::string_view method, bool server_stream,
                        absl::StatusCode code, absl::Duration elapsed) {
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    auto [count, new_count] = rpc_counters_.try_emplace(
        std::make_pair(method, static_cast<int>(code)), nullptr);
    if (new_count) {
      count->second = &rpcs_.Add({{"grpc_type", TypeOf(server_stream)},
                                  {"grpc_service", kServiceName},
                                  {"grpc_method", std::string(method)},
                                  {"grpc_code", absl::StatusCodeToString(code)}});
    }
    counter = count->second;
    auto [time, new_time] = rpc_histograms_.try_emplace(method, nullptr);
    if (new_time) {
      time->second = &rpc_seconds_.Add({{"grpc_type", TypeOf(server_stream)},
                                        {"grpc_service", kServiceName},
                                        {"grpc_method", std::string(method)}},
                                       LatencyBuckets());
    }
    histogram = time->second;
  }
  counter->Increment();
  histogram->Observe(absl::ToDoubleSeconds(elapsed));
}

void Metrics::RecordUpstreamAnswer(absl::string_view operation, int http_status,
                                   absl::Duration elapsed) {
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    auto [count, added] =
        answers_.try_emplace(std::make_pair(operation, http_status), nullptr);
    if (added) {
      count->second = &upstream_responses_.Add(
          {{"operation", std::string(operation)}, {"status", absl::StrCat(http_status)}});
    }
    counter = count->second;
    histogram = UpstreamHistogram(operation);
  }
  counter->Increment();
  histogram->Observe(absl::ToDoubleSeconds(elapsed));
}

void Metrics::RecordUpstreamFailure(absl::string_view operation, absl::string_view reason,
                                    absl::Duration elapsed) {
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    auto [count, added] = failures_.try_emplace(
        std::make_tuple(std::string(operation), std::string(reason)), nullptr);
    if (added) {
      count->second = &upstream_failures_.Add(
          {{"operation", std::string(operation)}, {"reason", std::string(reason)}});
    }
    counter = count->second;
    histogram = UpstreamHistogram(operation);
  }
  counter->Increment();
  histogram->Observe(absl::ToDoubleSeconds(elapsed));
}

void Metrics::RecordRequestReplay(absl::string_view result) {
  prometheus::Counter* counter;
  {
    absl::MutexLock lock(&mu_);
    auto [count, added] = replay_counters_.try_emplace(result, nullptr);
    if (added) count->second = &replays_.Add({{"result", std::string(result)}});
    counter = count->second;
  }
  counter->Increment();
}

prometheus::Histogram* Metrics::UpstreamHistogram(absl::string_view operation) {
  auto [time, added] = upstream_histograms_.try_emplace(operation, nullptr);
  if (added) {
    time->second =
        &upstream_seconds_.Add({{"operation", std::string(operation)}}, LatencyBuckets());
  }
  return time->second;
}

void Metrics::AddSource(std::string name, std::string help, SourceType type,
                        std::function<double()> read) {
  sources_->Add(std::move(name), std::move(help), type, std::move(read));
}

std::string Metrics::Text() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : sources_->Collect()) {
    families.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(families);
}

std::shared_ptr<prometheus::Collectable> Metrics::registry() const { return registry_; }
std::shared_ptr<prometheus::Collectable> Metrics::sources() const { return sources_; }

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port,
                                 const sockaddr_storage& wake_address,
                                 socklen_t wake_address_length)
    : exposer_(std::move(exposer)),
      port_(port),
      wake_address_(wake_address),
      wake_address_length_(wake_address_length) {}

MetricsEndpoint::~MetricsEndpoint() {
  // civetweb's listener thread notices the stop only when its poll() ends,
  // which is after 2 s without a connection. Connecting wakes it, so the
  // endpoint stops (and mxgate exits) at once.
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    while (!stopped.load()) {
      const int fd = socket(wake_address_.ss_family, SOCK_STREAM, 0);
      if (fd >= 0) {
        (void)connect(fd, reinterpret_cast<const sockaddr*>(&wake_address_),
                      wake_address_length_);
        close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  exposer_.reset();
  stopped = true;
  waker.join();
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& address, const Metrics& metrics) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // civetweb throws when it cannot listen.
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception&) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address,
                                               " (address in use or invalid)"));
  }
  exposer->RegisterCollectable(metrics.registry());
  exposer->RegisterCollectable(metrics.sources());
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address));
  }
  // Where the destructor connects: the bound address, or loopback for a
  // wildcard one.
  absl::string_view bound(address);
  bound = bound.substr(0, bound.rfind(':'));
  if (absl::ConsumePrefix(&bound, "[")) absl::ConsumeSuffix(&bound, "]");
  std::string host(bound);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(ports.front()).c_str(), &hints, &found) !=
          0 ||
      found == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host));
  }
  sockaddr_storage wake_address{};
  const socklen_t wake_address_length = found->ai_addrlen;
  std::memcpy(&wake_address, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(
      std::move(exposer), ports.front(), wake_address, wake_address_length));
}

}  // namespace mxgate
