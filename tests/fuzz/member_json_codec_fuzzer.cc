// libFuzzer target for service/member_json_codec: MX's bodies come from the
// network, so every decoder must take any bytes without crashing, leaking
// or undefined behaviour, and give either a result or its documented error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "service/member_json_codec.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  const auto member = mxgate::DecodeMemberResponseBody(body);
  Check(member.ok() || member.status().code() == absl::StatusCode::kInternal);
  const auto status = mxgate::DecodeMemberStatusResponseBody(body);
  Check(status.ok() || status.status().code() == absl::StatusCode::kInternal);
  const auto credentials = mxgate::DecodeCredentialsResponseBody(body);
  Check(credentials.ok() || credentials.status().code() == absl::StatusCode::kInternal);
  // The message is cut to its limit, plus the "..." that marks the cut.
  const auto message = mxgate::ExtractMxErrorMessage(body);
  Check(!message.has_value() ||
        (!message->empty() && message->size() <= mxgate::kMaxMxErrorMessageBytes + 3));
  return 0;
}
