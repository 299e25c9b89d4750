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

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/http_message.h"

namespace mxgate {

// ErrorInfo reasons of transport failures.
inline constexpr char kReasonUpstreamTimeout[] = "UPSTREAM_TIMEOUT";
inline constexpr char kReasonUpstreamUnreachable[] = "UPSTREAM_UNREACHABLE";
inline constexpr char kReasonUpstreamOutcomeUnknown[] =
    "UPSTREAM_OUTCOME_UNKNOWN";
inline constexpr char kReasonUpstreamResponseTooLarge[] =
    "UPSTREAM_RESPONSE_TOO_LARGE";
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
  //    request was (partly) sent, so MX may have acted on it;
  //  - RESOURCE_EXHAUSTED (UPSTREAM_RESPONSE_TOO_LARGE): the answer
  //    exceeded the size limit;
  //  - CANCELLED: Cancel() or shutdown came first.
  // `done` must not block: it runs on the event loop.
  virtual TransferId Send(HttpRequest request, Callback done) = 0;

  // Aborts the transfer if it is still running (its `done` then runs with
  // CANCELLED); a no-op otherwise. Thread-safe.
  virtual void Cancel(TransferId id) = 0;
};

class CurlTransport final : public HttpTransport {
 public:
  struct Options {
    // Idle connections kept for reuse.
    long max_idle_connections = 64;
    // Time to set up TCP (and TLS), within the request's deadline.
    absl::Duration connect_timeout = absl::Seconds(5);
    // Answers larger than this are refused: MX's member bodies are ~1 KiB.
    size_t max_response_bytes = 8 << 20; /*8 MiB*/
    // PEM bundle to verify MX's certificate against; empty means the
    // system's. Verification is never disabled.
    std::string ca_file;
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

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_MX_TRANSPORT_H_
