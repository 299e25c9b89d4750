// libFuzzer target for service/http_status_mapping: any status, headers
// and body MX might send must map to a result or an error with an
// ErrorInfo, never a crash. Input: two bytes of status, one byte of
// Retry-After length, that many bytes of Retry-After, then the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/time/time.h"
#include "service/http_message.h"
#include "service/http_status_mapping.h"
#include "service/status_details.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

template <typename Result>
void CheckMapped(const Result& result) {
  Check(result.ok() || mxgate::GetErrorInfo(result.status()).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  mxgate::HttpResponse response;
  response.status_code = (data[0] << 8 | data[1]) % 1000;
  const size_t retry_after = std::min<size_t>(data[2], size - 3);
  if (retry_after > 0) {
    response.headers.emplace_back(
        "retry-after", std::string(reinterpret_cast<const char*>(data + 3), retry_after));
  }
  response.body.assign(reinterpret_cast<const char*>(data + 3 + retry_after),
                       size - 3 - retry_after);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  CheckMapped(mxgate::MapCreateMemberAnswer(response, now));
  CheckMapped(mxgate::MapGetMemberAnswer(response, now));
  CheckMapped(mxgate::MapGetMemberStatusAnswer(response, now));
  CheckMapped(mxgate::MapListInstitutionCredentialsAnswer(response, now));
  CheckMapped(mxgate::MapResumeMemberAnswer(response, now));
  CheckMapped(mxgate::MapDeleteMemberAnswer(response, now));
  if (response.status_code < 200 || response.status_code > 299) {
    Check(!mxgate::MapHttpError(response, now).ok());
  }
  return 0;
}
