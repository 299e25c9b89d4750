// mxgate: the gRPC gateway to the MX Platform API. Parses flags, refuses to
// start on a bad configuration (non-zero exit, at most two lines), serves
// until SIGTERM or SIGINT, then drains (MxgateServer::Drain) and exits 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/listener_config.h"
#include "service/process_hardening.h"
#include "service/server.h"
#include "service/server_config.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "HOST:PORT to serve gRPC on; port 0 picks a free port");
ABSL_FLAG(std::string, mx_base_url, "https://int-api.mx.com",
          "MX Platform API base URL; http:// only for a loopback host");
ABSL_FLAG(std::string, mx_api_version, "v20250224",
          "MX API version sent as Accept-Version when a request names none: "
          "v20250224 or v20111101");
ABSL_FLAG(int, mx_timeout_ms, 15000,
          "upper bound of every MX call in milliseconds; the caller's gRPC "
          "deadline applies when sooner");
ABSL_FLAG(std::string, mx_credentials_file, "",
          "file whose first line is CLIENT_ID:API_KEY; default: the "
          "MX_CLIENT_ID and MX_API_KEY environment variables");
ABSL_FLAG(int, mx_max_connections,
          static_cast<int>(mxgate::CurlTransport::Options{}.max_host_connections),
          "connections open to MX at once; calls beyond wait for one (0: no cap)");
ABSL_FLAG(std::string, mx_ca_file, "",
          "PEM bundle to verify MX's TLS certificate against (default: the "
          "system's); verification cannot be turned off");
ABSL_FLAG(int, watch_initial_poll_ms, 500,
          "WatchMemberStatus: wait after a poll that saw a change");
ABSL_FLAG(int, watch_max_poll_ms, 10000,
          "WatchMemberStatus: the wait doubles after each unchanged poll, up to this");
ABSL_FLAG(int, watch_member_poll_interval_ms, 500,
          "WatchMemberStatus: at most one poll of a member per this interval, "
          "however many watch it");
ABSL_FLAG(double, watch_max_polls_per_second, 50,
          "WatchMemberStatus: at most this many status polls of MX per second "
          "for the whole server");
ABSL_FLAG(int, drain_timeout_ms, 10000,
          "on SIGTERM/SIGINT, how long unary calls in flight may take to "
          "finish before their upstream requests are aborted");

// Overload: calls in flight beyond these are refused at once.
ABSL_FLAG(int, max_unary_calls_in_flight, mxgate::CallLimits{}.max_unary_calls,
          "unary calls in flight beyond this are refused with UNAVAILABLE (OVERLOADED)");
ABSL_FLAG(int, max_watches_in_flight, mxgate::CallLimits{}.max_watches,
          "open WatchMemberStatus streams beyond this are refused the same way");
ABSL_FLAG(int, overload_retry_delay_ms,
          absl::ToInt64Milliseconds(mxgate::CallLimits{}.retry_delay),
          "the delay an overloaded refusal asks for (RetryInfo, grpc-retry-pushback-ms)");

// The circuit breaker in front of MX (service/circuit_breaker.h).
ABSL_FLAG(int, circuit_failure_threshold,
          mxgate::CircuitBreaker::Options{}.failure_threshold,
          "consecutive MX failures (no answer, 500/502/503/504) that open the circuit; "
          "0 disables it");
ABSL_FLAG(int, circuit_open_ms,
          absl::ToInt64Milliseconds(mxgate::CircuitBreaker::Options{}.open_duration),
          "how long an open circuit refuses calls before one probe request");

// The gRPC listener: TLS, keepalive and message sizes (service/listener_config.h).
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain to serve TLS with; needs --tls_key_file");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key (unencrypted) of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: require and verify client certificates issued by "
          "it (mTLS); needs --tls_cert_file and --tls_key_file");
ABSL_FLAG(int, max_receive_message_bytes,
          mxgate::ListenerLimits{}.max_receive_message_bytes,
          "largest request message accepted; larger: RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_send_message_bytes, mxgate::ListenerLimits{}.max_send_message_bytes,
          "largest response message sent");
ABSL_FLAG(int, keepalive_time_ms, mxgate::ListenerLimits{}.keepalive_time_ms,
          "ping a client connection idle this long");
ABSL_FLAG(int, keepalive_timeout_ms, mxgate::ListenerLimits{}.keepalive_timeout_ms,
          "close the connection when a ping gets no answer this soon");
ABSL_FLAG(int, keepalive_min_client_ping_interval_ms,
          mxgate::ListenerLimits{}.keepalive_min_client_ping_interval_ms,
          "clients pinging more often (without data) get GOAWAY too_many_pings");
ABSL_FLAG(bool, keepalive_permit_without_calls,
          mxgate::ListenerLimits{}.keepalive_permit_without_calls,
          "allow client pings on a connection with no call open");
ABSL_FLAG(int, max_connection_age_ms, mxgate::ListenerLimits{}.max_connection_age_ms,
          "0: off; else GOAWAY a connection this old so clients rebalance");
ABSL_FLAG(int, max_connection_age_grace_ms,
          mxgate::ListenerLimits{}.max_connection_age_grace_ms,
          "calls still open this long after a max-age GOAWAY are cut");

// CreateMember's request_id replay cache (service/request_replay.h).
ABSL_FLAG(int, request_replay_entries, mxgate::RequestReplay::Options{}.max_entries,
          "CreateMember answers kept per replica to replay to a retry with the same "
          "request_id and request; the oldest goes beyond this; 0 turns replay off");
ABSL_FLAG(int, request_replay_ttl_s,
          absl::ToInt64Seconds(mxgate::RequestReplay::Options{}.ttl),
          "how long, in seconds, a kept answer is replayed");

// Secrets in memory (service/process_hardening.h).
ABSL_FLAG(bool, allow_core_dumps, false,
          "let the process dump core (a core file holds the MX API key and end "
          "users' credentials); off: no core file, not dumpable");

// Access log: one JSON line per finished RPC on stderr.
ABSL_FLAG(std::string, log_level, "info",
          "access log: info (every RPC), warning (errors only), error (server-side "
          "errors only) or off");

// Prometheus metrics (service/metrics.h).
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT serving Prometheus text on GET /metrics (plain HTTP); empty: "
          "no metrics");

namespace {

[[noreturn]] void Refuse(const std::string& problem) {
  std::fprintf(stderr, "mxgate: %s\n", problem.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  // --help lists this file's flags (absl looks for a file named after the
  // binary, and finds none).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "service/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "mxgate: gRPC gateway to the MX Platform API.\n"
      "Credentials come from MX_CLIENT_ID/MX_API_KEY or --mx_credentials_file.");
  absl::ParseCommandLine(argc, argv);
  // Before any secret is read.
  if (!absl::GetFlag(FLAGS_allow_core_dumps)) {
    if (const absl::Status hardened = mxgate::DisableCoreDumps(); !hardened.ok()) {
      Refuse(std::string(hardened.message()));
    }
  }
  // Debian's abseil is built with deadlock detection on, which makes every
  // lock walk a global cycle graph: measurable per call (bench/), and the
  // tests, not production, are where lock order is checked.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Block the stop signals before any thread starts, so that only the
  // sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  mxgate::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  const auto version = mxgate::ParseMxApiVersion(absl::GetFlag(FLAGS_mx_api_version));
  if (!version.has_value()) {
    Refuse(absl::StrCat("--mx_api_version must be v20250224 or v20111101 (got \"",
                        absl::GetFlag(FLAGS_mx_api_version), "\")"));
  }
  options.api_version = *version;
  absl::StatusOr<std::string> base_url =
      mxgate::CheckMxBaseUrl(absl::GetFlag(FLAGS_mx_base_url));
  if (!base_url.ok()) Refuse(std::string(base_url.status().message()));
  absl::StatusOr<mxgate::MxCredentials> credentials =
      mxgate::LoadMxCredentials(absl::GetFlag(FLAGS_mx_credentials_file),
                                std::getenv("MX_CLIENT_ID"), std::getenv("MX_API_KEY"));
  if (!credentials.ok()) Refuse(std::string(credentials.status().message()));
  if (absl::GetFlag(FLAGS_mx_timeout_ms) <= 0) {
    Refuse("--mx_timeout_ms must be positive");
  }
  if (absl::GetFlag(FLAGS_drain_timeout_ms) < 0) {
    Refuse("--drain_timeout_ms must not be negative");
  }
  options.mx.base_url = *base_url;
  options.mx.client_id = credentials->client_id;
  options.mx.api_key = credentials->api_key;
  options.mx.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_mx_timeout_ms));
  options.transport.ca_file = absl::GetFlag(FLAGS_mx_ca_file);
  if (absl::GetFlag(FLAGS_mx_max_connections) < 0) {
    Refuse("--mx_max_connections must not be negative");
  }
  options.transport.max_host_connections = absl::GetFlag(FLAGS_mx_max_connections);
  const int initial_poll_ms = absl::GetFlag(FLAGS_watch_initial_poll_ms);
  const int max_poll_ms = absl::GetFlag(FLAGS_watch_max_poll_ms);
  const int member_poll_ms = absl::GetFlag(FLAGS_watch_member_poll_interval_ms);
  const double polls_per_second = absl::GetFlag(FLAGS_watch_max_polls_per_second);
  if (initial_poll_ms <= 0 || max_poll_ms < initial_poll_ms || member_poll_ms < 0 ||
      !(polls_per_second > 0)) {
    Refuse(
        "--watch_*: need 0 < initial_poll_ms <= max_poll_ms, "
        "member_poll_interval_ms >= 0 and max_polls_per_second > 0");
  }
  options.watch.initial_interval = absl::Milliseconds(initial_poll_ms);
  options.watch.max_interval = absl::Milliseconds(max_poll_ms);
  options.watch.limits.member_interval = absl::Milliseconds(member_poll_ms);
  options.watch.limits.polls_per_second = polls_per_second;
  options.call_limits.max_unary_calls = absl::GetFlag(FLAGS_max_unary_calls_in_flight);
  options.call_limits.max_watches = absl::GetFlag(FLAGS_max_watches_in_flight);
  options.call_limits.retry_delay =
      absl::Milliseconds(absl::GetFlag(FLAGS_overload_retry_delay_ms));
  options.circuit.failure_threshold = absl::GetFlag(FLAGS_circuit_failure_threshold);
  options.circuit.open_duration =
      absl::Milliseconds(absl::GetFlag(FLAGS_circuit_open_ms));
  if (options.circuit.failure_threshold < 0 ||
      options.circuit.open_duration <= absl::ZeroDuration()) {
    Refuse(
        "--circuit_failure_threshold must be at least 0 and --circuit_open_ms "
        "positive");
  }
  if (options.call_limits.max_unary_calls < 1 || options.call_limits.max_watches < 0 ||
      options.call_limits.retry_delay < absl::ZeroDuration()) {
    Refuse(
        "--max_unary_calls_in_flight must be at least 1, --max_watches_in_flight "
        "and --overload_retry_delay_ms at least 0");
  }

  // The gRPC listener. Messages name flags and paths, never key material.
  absl::StatusOr<std::optional<mxgate::ServerTls>> tls = mxgate::LoadServerTls(
      absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
      absl::GetFlag(FLAGS_tls_client_ca_file));
  if (!tls.ok()) Refuse(std::string(tls.status().message()));
  options.tls = *std::move(tls);
  options.limits.max_receive_message_bytes =
      absl::GetFlag(FLAGS_max_receive_message_bytes);
  options.limits.max_send_message_bytes = absl::GetFlag(FLAGS_max_send_message_bytes);
  options.limits.keepalive_time_ms = absl::GetFlag(FLAGS_keepalive_time_ms);
  options.limits.keepalive_timeout_ms = absl::GetFlag(FLAGS_keepalive_timeout_ms);
  options.limits.keepalive_min_client_ping_interval_ms =
      absl::GetFlag(FLAGS_keepalive_min_client_ping_interval_ms);
  options.limits.keepalive_permit_without_calls =
      absl::GetFlag(FLAGS_keepalive_permit_without_calls);
  options.limits.max_connection_age_ms = absl::GetFlag(FLAGS_max_connection_age_ms);
  options.limits.max_connection_age_grace_ms =
      absl::GetFlag(FLAGS_max_connection_age_grace_ms);
  if (absl::Status limits = mxgate::CheckListenerLimits(options.limits); !limits.ok()) {
    Refuse(std::string(limits.message()));
  }
  const bool serves_tls = options.tls.has_value();

  const auto log_level = mxgate::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!log_level.has_value()) {
    Refuse(absl::StrCat("--log_level must be info, warning, error or off (got \"",
                        absl::GetFlag(FLAGS_log_level), "\")"));
  }
  options.log_level = *log_level;
  absl::StatusOr<mxgate::RequestReplay::Options> replay =
      mxgate::CheckRequestReplayFlags(absl::GetFlag(FLAGS_request_replay_entries),
                                      absl::GetFlag(FLAGS_request_replay_ttl_s));
  if (!replay.ok()) Refuse(std::string(replay.status().message()));
  options.request_replay = *replay;
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);

  absl::StatusOr<std::unique_ptr<mxgate::MxgateServer>> server =
      mxgate::MxgateServer::Start(std::move(options));
  if (!server.ok()) Refuse(std::string(server.status().message()));

  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::printf("listening on %s:%d\n", host.c_str(), (*server)->port());
  if ((*server)->metrics_port() != 0) {
    const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
    std::printf("metrics on %s:%d\n",
                metrics_listen.substr(0, metrics_listen.rfind(':')).c_str(),
                (*server)->metrics_port());
  }
  std::fflush(stdout);
  if (!serves_tls && !mxgate::IsLoopbackHost(host)) {
    // Not refused: a mesh sidecar may terminate TLS in front of mxgate.
    std::fprintf(stderr,
                 "mxgate: warning: plaintext gRPC on non-loopback %s; use "
                 "--tls_cert_file/--tls_key_file unless a sidecar terminates TLS\n",
                 host.c_str());
  }
  std::fprintf(stderr, "mxgate: MX at %s, API version %s\n", base_url->c_str(),
               std::string(mxgate::MxApiVersionName(*version)).c_str());

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "mxgate: signal %d: draining (%d calls in flight)\n",
               signal_number, (*server)->calls_in_flight());
  const absl::Time drain_started = absl::Now();
  const int cut =
      (*server)->Drain(absl::Milliseconds(absl::GetFlag(FLAGS_drain_timeout_ms)));
  std::fprintf(stderr, "mxgate: drained in %s; %d calls cut at the drain timeout\n",
               absl::FormatDuration(
                   absl::Trunc(absl::Now() - drain_started, absl::Milliseconds(1)))
                   .c_str(),
               cut);
  return 0;
}
