// libFuzzer target for service/request_validation (and the encoders behind
// it): any request a client can send, as protobuf bytes, is either refused
// with a BadRequest naming fields, or valid and encodable to MX's JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "mx/platform/v1/member_service.pb.h"
#include "service/member_json_codec.h"
#include "service/mx_api_version.h"
#include "service/request_validation.h"
#include "service/status_details.h"

namespace {

namespace v1 = ::mx::platform::v1;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckRefusal(const absl::Status& status) {
  Check(status.code() == absl::StatusCode::kInvalidArgument);
  const auto bad_request = mxgate::GetBadRequest(status);
  Check(bad_request.has_value() && bad_request->field_violations_size() > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const mxgate::MxApiVersion server_default = (data[0] & 1) != 0
                                                  ? mxgate::MxApiVersion::kV20250224
                                                  : mxgate::MxApiVersion::kV20111101;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  v1::CreateMemberRequest create;
  if (create.ParseFromString(bytes)) {
    const auto version = mxgate::ValidateCreateMemberRequest(create, server_default);
    if (version.ok()) {
      Check(!mxgate::EncodeCreateMemberBody(create, *version).empty());
    } else {
      CheckRefusal(version.status());
    }
  }
  v1::ResumeMemberRequest resume;
  if (resume.ParseFromString(bytes)) {
    const auto version = mxgate::ValidateResumeMemberRequest(resume, server_default);
    if (version.ok()) {
      Check(!mxgate::EncodeResumeMemberBody(resume).empty());
    } else {
      CheckRefusal(version.status());
    }
  }
  v1::WatchMemberStatusRequest watch;
  if (watch.ParseFromString(bytes)) {
    const auto version = mxgate::ValidateWatchMemberStatusRequest(watch, server_default);
    if (!version.ok()) CheckRefusal(version.status());
  }
  v1::ListInstitutionCredentialsRequest list;
  if (list.ParseFromString(bytes)) {
    const auto version =
        mxgate::ValidateListInstitutionCredentialsRequest(list, server_default);
    if (!version.ok()) CheckRefusal(version.status());
  }
  return 0;
}
