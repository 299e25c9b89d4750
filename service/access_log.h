// One structured JSON line per finished RPC, for operators: when, which
// method, how it ended, how long it took, what MX answered, and the ids to
// correlate with the caller's and MX's logs. The end user is logged only as
// a hash, and nothing else of the request or the response is: no
// credential, API key, Authorization header or body can reach a line,
// because no field can hold one.
#ifndef MXGATE_SERVICE_ACCESS_LOG_H_
#define MXGATE_SERVICE_ACCESS_LOG_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace mxgate {

// What one finished RPC logs. Views: valid during AccessLog::Record only.
struct RpcLogEntry {
  absl::string_view method;  // e.g. "CreateMember"
  absl::Time start;          // from AccessLog::Now()
  absl::StatusCode code = absl::StatusCode::kOk;
  absl::string_view reason;  // the ErrorInfo reason; empty on success
  int upstream_status = 0;   // MX's HTTP status; 0 when unknown or none
  absl::string_view request_id;
  absl::string_view trace_id;         // empty without a traceparent
  absl::string_view user_identifier;  // raw; only its hash is written
  absl::string_view member_guid;      // only a guid MX returned
};

class AccessLog {
 public:
  // The least severe level written; kOff writes nothing.
  enum class Level { kInfo, kWarning, kError, kOff };
  // Gets each line, with its final '\n'.
  using Sink = std::function<void(absl::string_view line)>;
  using Clock = std::function<absl::Time()>;

  // Without `sink`, lines go to stderr; without `clock`, absl::Now.
  explicit AccessLog(Level level, Sink sink = nullptr, Clock clock = nullptr);

  // The log's clock: RpcLogEntry::start must come from here.
  absl::Time Now() const { return clock_(); }

  // Writes the entry's line when its level (LevelFor(entry.code)) is at or
  // above the log's; lines from concurrent calls never interleave. The line
  // holds, in this order: time (RFC 3339 UTC, ms), level, method, code (the
  // gRPC code name), duration_ms, then upstream_status, request_id,
  // trace_id, user (UserHash), member and reason, each only when known.
  void Record(const RpcLogEntry& entry);

 private:
  const Level level_;
  const Sink sink_;
  const Clock clock_;
  absl::Mutex mu_;  // serialises sink_
};

// info | warning | error | off; nullopt otherwise.
absl::optional<AccessLog::Level> ParseLogLevel(absl::string_view name);

// OK is info; what the caller can fix or expected (bad input, not found,
// conflicts, cancels) is warning; what operators must look at (INTERNAL,
// UNKNOWN, UNAVAILABLE, DEADLINE_EXCEEDED, DATA_LOSS, UNIMPLEMENTED) is
// error.
AccessLog::Level LevelFor(absl::StatusCode code);

// The first 16 hex digits of SHA-256(user_identifier): stable, so ops can
// find a user's calls by hashing a known id, and not reversible in
// practice for the random ids MX recommends.
std::string UserHash(absl::string_view user_identifier);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_ACCESS_LOG_H_
