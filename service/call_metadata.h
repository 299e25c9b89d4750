// The request metadata mxgate forwards to MX and writes to its logs: the
// caller's request id and W3C trace context (traceparent, tracestate),
// validated so that each value is safe as an HTTP header and a log field.
// Pure: no gRPC or HTTP types; member_service reads the gRPC metadata,
// mx_client writes the headers.
#ifndef MXGATE_SERVICE_CALL_METADATA_H_
#define MXGATE_SERVICE_CALL_METADATA_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace mxgate {

// gRPC metadata keys (lower case, as gRPC delivers them).
inline constexpr char kRequestIdKey[] = "x-request-id";
inline constexpr char kTraceparentKey[] = "traceparent";
inline constexpr char kTracestateKey[] = "tracestate";
inline constexpr char kCallbackPayloadKey[] = "x-callback-payload";

// Longest request id kept; a longer one is replaced. Room for UUIDs, ULIDs
// and the usual prefixed ids, short enough for a log line.
inline constexpr size_t kMaxRequestIdLength = 128;
// W3C Trace Context allows 32 list members of up to 256 bytes; 512 keeps the
// usual one or two vendors and bounds what we forward.
inline constexpr size_t kMaxTracestateLength = 512;

struct CallMetadata {
  // Never empty once made by MakeCallMetadata: the caller's or a new one.
  std::string request_id;
  // "00-<trace id>-<parent id>-<flags>" as received, or empty.
  std::string traceparent;
  // Only with a traceparent; empty otherwise.
  std::string tracestate;

  // The 32 hex digits of the trace id; empty without a traceparent.
  absl::string_view trace_id() const;
};

// Builds the metadata of one call from the caller's values (empty when
// absent):
//  - `request_id` is kept when it is 1 to kMaxRequestIdLength visible ASCII
//    characters (0x21-0x7E), else replaced by NewRequestId();
//  - `traceparent` is kept when it is a version-00 traceparent
//    (00-<32 hex>-<16 hex>-<2 hex>, lower case) with non-zero ids, else
//    dropped;
//  - `tracestate` is kept only with a kept traceparent, when it is up to
//    kMaxTracestateLength printable ASCII characters.
// Both are forwarded unchanged: what W3C asks of a hop that makes no span.
CallMetadata MakeCallMetadata(absl::string_view request_id, absl::string_view traceparent,
                              absl::string_view tracestate);

// A random (version 4) UUID in lower-case canonical form.
std::string NewRequestId();

}  // namespace mxgate

#endif  // MXGATE_SERVICE_CALL_METADATA_H_
