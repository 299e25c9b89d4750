// mx-sandbox's fault rules: which request misbehaves, and how. A rule names
// a fault and optionally a method, a path prefix, how many times it fires
// and the fraction of matching requests it hits. This file parses rules from
// the control endpoint's JSON, picks the rule for a request, and builds the
// bodies of the faults that answer. It does no I/O: sandbox_server.cc does
// what each fault does on the wire, and mx_sandbox.h (MX's behaviour) knows
// nothing of faults.
//
// Faults, and whether MX (the Sandbox) acted on the request first -- for a
// create, whether the member exists afterwards:
//   fault                 acted  on the wire
//   latency               yes    the normal answer, `latency_ms` later
//   http_error            no     `status` 429/500/502/503/504 with an MX
//                                error body; 429 and 503 carry Retry-After
//                                (`retry_after_s`, default 1; -1: none)
//   reset_before_request  no     headers read, body left unread, then a TCP
//                                reset (RST); no answer
//   reset_after_request   yes    request handled, then a TCP reset; no answer
//   truncated_body        yes    MX's status and headers, Content-Length of
//                                the whole body, half of it, then close
//   malformed_body        yes    MX's status (200/201/202...), a body that is
//                                not JSON
//   oversized_body        yes    MX's status, a valid JSON body of
//                                `body_bytes` (default 9 MiB: above mxgate's
//                                8 MiB cap), streamed
//   endless_body          yes    MX's status, a chunked body that never ends:
//                                `chunk_bytes` (default 1024) every
//                                `interval_ms` (default 10; 0: as fast as
//                                the socket takes it)
//   slow_body             yes    MX's status and whole body with its true
//                                Content-Length, `chunk_bytes` (default 4)
//                                every `interval_ms` (default 100)
//   close_after_response  yes    the normal answer (keep-alive), then the
//                                connection is closed (FIN) without notice,
//                                as an idle keep-alive timeout would
// "acted: no" models a proxy or limiter in front of MX refusing the request;
// "acted: yes" models MX acting and the answer being delayed, lost or
// mangled, so a client that re-sends blindly creates a duplicate that
// /_sandbox/stats' members_created shows.
#ifndef MXGATE_SANDBOX_FAULT_INJECTION_H_
#define MXGATE_SANDBOX_FAULT_INJECTION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"

namespace mxgate {
namespace sandbox {

enum class FaultKind {
  kLatency,
  kHttpError,
  kResetBeforeRequest,
  kResetAfterRequest,
  kTruncatedBody,
  kMalformedBody,
  kOversizedBody,
  kEndlessBody,
  kSlowBody,
  kCloseAfterResponse,
};

// When a rule is looked at: before the request body is read (MX never sees
// the request) or after (sandbox_server.cc asks once per phase).
enum class FaultPhase { kBeforeRequest, kAfterRequest };

struct FaultRule {
  FaultKind fault = FaultKind::kLatency;
  std::string method;       // "GET", "POST", ...; "" matches any
  std::string path_prefix;  // e.g. "/users/"; "" matches any
  int64_t count = -1;       // times it may still fire; -1: no limit
  double fraction = 1.0;    // of matching requests it hits, in (0, 1]
  int latency_ms = 0;       // latency
  int status = 0;           // http_error
  int retry_after_s = 1;    // http_error 429/503; -1: no Retry-After
  size_t body_bytes = 0;    // oversized_body
  size_t chunk_bytes = 0;   // endless_body, slow_body
  int interval_ms = 0;      // endless_body, slow_body
};

// The fault's name in rules ("reset_after_request").
absl::string_view FaultName(FaultKind fault);
FaultPhase PhaseOf(FaultKind fault);
// Whether the Sandbox handles the request before the fault (table above).
bool MxActsFirst(FaultKind fault);

// Parses the control endpoint's body: a JSON array of rule objects, e.g.
// [{"fault":"http_error","status":503,"path_prefix":"/users/","count":1}].
// Unknown keys, unknown faults, a field of the wrong fault, and values out
// of range are refused, naming the rule by index.
// Returns InvalidArgument for any of those.
absl::StatusOr<std::vector<FaultRule>> ParseFaultRules(absl::string_view json);

// {"error":{"message":"..."}}, MX's error shape, for an http_error status.
std::string MxErrorBody(int status);

// The body of malformed_body: HTML, as a proxy's error page would be.
inline constexpr char kMalformedBody[] =
    "<html><body>upstream sent this instead of JSON</body></html>";

// `body` (a JSON object) grown to exactly `size` bytes with a padding
// string member, still valid JSON. `body` unchanged when already as large.
std::string PadJsonObject(absl::string_view body, size_t size);

// The active rules. Thread-safe.
class FaultInjector {
 public:
  // `uniform` draws in [0, 1) for `fraction`; tests pass a fixed sequence.
  explicit FaultInjector(std::function<double()> uniform = nullptr);

  // Replaces every rule with `rules`; Clear() removes them.
  void Set(std::vector<FaultRule> rules) ABSL_LOCKS_EXCLUDED(mu_);
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

  // The first rule of `phase` matching `method` and `path` (a prefix) that
  // has count left and whose fraction draw hits; its count goes down by one.
  // nullopt: the request goes through untouched.
  absl::optional<FaultRule> Pick(FaultPhase phase, absl::string_view method,
                                 absl::string_view path) ABSL_LOCKS_EXCLUDED(mu_);

  // {"rules":N,"injected":M}: rules that can still fire, faults fired since
  // start.
  std::string StatsJson() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::function<double()> uniform_;
  mutable absl::Mutex mu_;
  std::vector<FaultRule> rules_ ABSL_GUARDED_BY(mu_);
  int64_t injected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sandbox
}  // namespace mxgate

#endif  // MXGATE_SANDBOX_FAULT_INJECTION_H_
