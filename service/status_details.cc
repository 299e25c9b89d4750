#include "service/status_details.h"

#include <utility>

#include "absl/strings/cord.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace mxgate {
namespace {

void SetPayload(absl::Status& status, absl::string_view type_url,
                const google::protobuf::Message& detail) {
  // Deterministic bytes (map fields sorted), so equal details compare equal.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    detail.SerializeToCodedStream(&coded);
  }
  status.SetPayload(type_url, absl::Cord(std::move(bytes)));
}

template <typename Detail>
absl::optional<Detail> GetPayload(const absl::Status& status,
                                  absl::string_view type_url) {
  absl::optional<absl::Cord> payload = status.GetPayload(type_url);
  if (!payload.has_value()) return absl::nullopt;
  Detail detail;
  if (!detail.ParseFromString(std::string(*payload))) return absl::nullopt;
  return detail;
}

}  // namespace

absl::Status MakeError(absl::StatusCode code, absl::string_view message,
                       absl::string_view reason,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  absl::Status status(code, message);
  google::rpc::ErrorInfo info;
  info.set_domain(kErrorDomain);
  info.set_reason(std::string(reason));
  for (const auto& [key, value] : metadata) (*info.mutable_metadata())[key] = value;
  SetPayload(status, kErrorInfoTypeUrl, info);
  return status;
}

void AttachBadRequest(absl::Status& status,
                      const std::vector<FieldViolation>& violations) {
  google::rpc::BadRequest bad_request;
  for (const FieldViolation& violation : violations) {
    google::rpc::BadRequest::FieldViolation* out = bad_request.add_field_violations();
    out->set_field(violation.field);
    out->set_description(violation.description);
  }
  SetPayload(status, kBadRequestTypeUrl, bad_request);
}

void AttachRetryInfo(absl::Status& status, absl::Duration delay) {
  google::rpc::RetryInfo retry;
  const int64_t nanos = absl::ToInt64Nanoseconds(delay);
  retry.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  SetPayload(status, kRetryInfoTypeUrl, retry);
}

absl::optional<google::rpc::ErrorInfo> GetErrorInfo(const absl::Status& status) {
  return GetPayload<google::rpc::ErrorInfo>(status, kErrorInfoTypeUrl);
}

absl::optional<google::rpc::BadRequest> GetBadRequest(const absl::Status& status) {
  return GetPayload<google::rpc::BadRequest>(status, kBadRequestTypeUrl);
}

absl::optional<google::rpc::RetryInfo> GetRetryInfo(const absl::Status& status) {
  return GetPayload<google::rpc::RetryInfo>(status, kRetryInfoTypeUrl);
}

}  // namespace mxgate
