#include "service/call_metadata.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"

namespace mxgate {
namespace {

bool IsVisibleAscii(absl::string_view value) {
  for (unsigned char c : value) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

// Lower-case hex only: W3C forbids upper case in traceparent.
bool IsLowerHex(absl::string_view value) {
  for (char c : value) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsAllZeros(absl::string_view value) {
  return value.find_first_not_of('0') == absl::string_view::npos;
}

// "00-" 32 hex "-" 16 hex "-" 2 hex; version ff is invalid, and other
// versions may differ in shape, so only 00 is accepted.
bool IsValidTraceparent(absl::string_view value) {
  if (value.size() != 55 || value.substr(0, 3) != "00-" || value[35] != '-' ||
      value[52] != '-') {
    return false;
  }
  const absl::string_view trace_id = value.substr(3, 32);
  const absl::string_view parent_id = value.substr(36, 16);
  const absl::string_view flags = value.substr(53, 2);
  return IsLowerHex(trace_id) && IsLowerHex(parent_id) && IsLowerHex(flags) &&
         !IsAllZeros(trace_id) && !IsAllZeros(parent_id);
}

// Printable ASCII (space included, as in "a=1, b=2"): no control characters.
bool IsValidTracestate(absl::string_view value) {
  if (value.empty() || value.size() > kMaxTracestateLength) return false;
  for (unsigned char c : value) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

absl::string_view CallMetadata::trace_id() const {
  if (traceparent.empty()) return {};
  return absl::string_view(traceparent).substr(3, 32);
}

CallMetadata MakeCallMetadata(absl::string_view request_id, absl::string_view traceparent,
                              absl::string_view tracestate) {
  CallMetadata metadata;
  if (!request_id.empty() && request_id.size() <= kMaxRequestIdLength &&
      IsVisibleAscii(request_id)) {
    metadata.request_id = std::string(request_id);
  } else {
    metadata.request_id = NewRequestId();
  }
  if (IsValidTraceparent(traceparent)) {
    metadata.traceparent = std::string(traceparent);
    if (IsValidTracestate(tracestate)) metadata.tracestate = std::string(tracestate);
  }
  return metadata;
}

std::string NewRequestId() {
  thread_local absl::BitGen bits;
  uint64_t high = absl::Uniform<uint64_t>(bits);
  uint64_t low = absl::Uniform<uint64_t>(bits);
  high = (high & ~uint64_t{0xF000}) | uint64_t{0x4000};          // version 4
  low = (low & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // variant 10
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xFFFF,
                         high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFF);
}

}  // namespace mxgate
