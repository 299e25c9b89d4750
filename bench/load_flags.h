// The command-line flags both C++ load generators take (--rate,
// --concurrency, --warmup_ms, --duration_ms, --max_in_flight), and the
// per-call deadline (--timeout_ms), so the two read the same way.
#ifndef MXGATE_BENCH_LOAD_FLAGS_H_
#define MXGATE_BENCH_LOAD_FLAGS_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/load_runner.h"

namespace mxgate {
namespace bench {

// INVALID_ARGUMENT naming the flag when a value is out of range.
absl::StatusOr<LoadOptions> LoadOptionsFromFlags();

// --timeout_ms: each call's deadline, from when it is started.
absl::Duration CallTimeoutFromFlags();

}  // namespace bench
}  // namespace mxgate

#endif  // MXGATE_BENCH_LOAD_FLAGS_H_
