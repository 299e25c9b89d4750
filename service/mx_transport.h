// The only file that knows libcurl: one event-loop thread drives every
// upstream HTTP transfer through a curl multi handle, so no thread is held
// per in-flight call and connections to MX are kept alive and reused.
//
// Failures of the transport itself become statuses here (see Send); an
// HTTP answer of any status code is a success, interpreted elsewhere
// (http_status_mapping).
#ifndef MXGATE_SERVICE_MX_TRANSPORT_H_
#define MXGATE_SERVICE_MX_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/http_message.h"

namespace mxgate {

// ErrorInfo reasons of transport failures.
inline constexpr char kReasonUpstreamTimeout[] = "UPSTREAM_TIMEOUT";
inline constexpr char kReasonUpstreamUnreachable[] = "UPSTREAM_UNREACHABLE";
inline constexpr char kReasonUpstreamOutcomeUnknown[] = "UPSTREAM_OUTCOME_UNKNOWN";
inline constexpr char kReasonUpstreamResponseTooLarge[] = "UPSTREAM_RESPONSE_TOO_LARGE";
inline constexpr char kReasonCancelled[] = "CANCELLED";

// Sends HTTP requests; the interface lets tests stand in for the network.
class HttpTransport {
 public:
  using TransferId = uint64_t;
  using Callback = std::function<void(absl::StatusOr<HttpResponse>)>;

  virtual ~HttpTransport() = default;

  // Starts `request` and returns at once. `done` runs exactly once, on the
  // transport's thread, with the answer or with:
  //  - DEADLINE_EXCEEDED (UPSTREAM_TIMEOUT): `request.deadline` passed,
  //    including before sending (then nothing is sent);
  //  - UNAVAILABLE (UPSTREAM_UNREACHABLE): the request was not sent (no
  //    connection, DNS or TLS failure, connection refused);
  //  - UNKNOWN (UPSTREAM_OUTCOME_UNKNOWN): the connection failed after the
  //    request was (partly) sent, so MX may have acted on it (for a read,
  //    which changes nothing, this is UNAVAILABLE/UPSTREAM_UNREACHABLE);
  //  - RESOURCE_EXHAUSTED (UPSTREAM_RESPONSE_TOO_LARGE): the answer
  //    exceeded the size limit;
  //  - CANCELLED: Cancel() or shutdown came first.
  // `done` must not block: it runs on the event loop. CurlTransport first
  // sends again on its own where that is safe (RetryOptions); `done` then
  // gets the last attempt's outcome.
  virtual TransferId Send(HttpRequest request, Callback done) = 0;

  // Aborts the transfer if it is still running (its `done` then runs with
  // CANCELLED); a no-op otherwise. Thread-safe.
  virtual void Cancel(TransferId id) = 0;
};

// When and how often the transport sends a failed request again on its
// own. Only safe failures qualify: nothing reached MX (UPSTREAM_UNREACHABLE,
// short of certificate or URL errors), or the request is a read (GET) or
// marked idempotent (HttpRequest::idempotent) and its outcome is unknown. Each retry
// waits a jittered exponential backoff, never past the request's deadline.
struct RetryOptions {
  // Copies of the request sent to MX, at most: the first included, and
  // libcurl's own re-send of a read on a fresh connection counted too.
  // 1 disables retries.
  int max_attempts = 3;
  absl::Duration initial_backoff = absl::Milliseconds(25);
  absl::Duration max_backoff = absl::Seconds(1);
  // A budget keeps retries from multiplying load on a failing MX: each
  // request earns `budget_ratio` of a retry, plus `budget_per_second`
  // retries a second (also the most that can be saved up).
  double budget_ratio = 0.1;
  double budget_per_second = 10;
};

// A token bucket of retries (RetryOptions). Thread-safe.
class RetryBudget {
 public:
  explicit RetryBudget(const RetryOptions& options);
  void Deposit();
  // Takes one retry when one is left at `now`.
  bool TryWithdraw(absl::Time now);

 private:
  const double ratio_;
  const double per_second_;
  const double max_tokens_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_refill_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

class CurlTransport final : public HttpTransport {
 public:
  struct Options {
    // Connections libcurl keeps in its cache, busy ones included: when a
    // transfer ends with more than this open, its connection is closed, so
    // a cap below the calls in flight would open a connection per call
    // (measured: 2,957 connections for 2,957 calls at 100 in flight).
    long max_idle_connections = 256;
    // Connections open to MX at once; transfers beyond wait in libcurl's
    // queue for one (their deadlines still apply). Without a cap, an
    // overload opens a connection per queued call (one HTTP/1.1 request per
    // connection at a time). 0: no cap.
    long max_host_connections = 256;
    // Time to set up TCP (and TLS), within the request's deadline.
    absl::Duration connect_timeout = absl::Seconds(5);
    // Answers larger than this are refused: MX's member bodies are ~1 KiB.
    size_t max_response_bytes = 8 << 20; /*8 MiB*/
    // PEM bundle to verify MX's certificate against; empty means the
    // system's. Verification is never disabled.
    std::string ca_file;
    RetryOptions retry;
  };

  explicit CurlTransport(Options options);
  // Stops the loop; transfers still running complete with CANCELLED.
  ~CurlTransport() override;

  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  TransferId Send(HttpRequest request, Callback done) override;
  void Cancel(TransferId id) override;

  // Connections to MX open now, and opened since start. Thread-safe.
  int64_t open_connections() const;
  int64_t connections_opened() const;
  // Requests sent again after a failed attempt (RetryOptions).
  int64_t retries() const;

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_MX_TRANSPORT_H_
