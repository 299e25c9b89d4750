#include "service/grpc_status.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "google/rpc/status.pb.h"
#include "service/status_details.h"

namespace mxgate {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  absl::Status with_info = status;
  if (!GetErrorInfo(status).has_value()) {
    with_info = MakeError(status.code(), status.message(), "INTERNAL_ERROR");
    status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& value) {
      if (type_url != kErrorInfoTypeUrl) with_info.SetPayload(type_url, value);
    });
  }

  // Details in a fixed order, ErrorInfo first (clients that read only the
  // first detail find it), then by type URL, so the bytes are reproducible.
  std::vector<std::pair<std::string, std::string>> details;
  with_info.ForEachPayload([&](absl::string_view type_url, const absl::Cord& value) {
    details.emplace_back(std::string(type_url), std::string(value));
  });
  std::sort(details.begin(), details.end(), [](const auto& a, const auto& b) {
    const bool a_info = a.first == kErrorInfoTypeUrl;
    const bool b_info = b.first == kErrorInfoTypeUrl;
    if (a_info != b_info) return a_info;
    return a.first < b.first;
  });

  google::rpc::Status rpc_status;
  rpc_status.set_code(static_cast<int>(status.code()));
  rpc_status.set_message(std::string(status.message()));
  for (auto& [type_url, value] : details) {
    google::protobuf::Any* any = rpc_status.add_details();
    any->set_type_url(std::move(type_url));
    any->set_value(std::move(value));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()), rpc_status.SerializeAsString());
}

}  // namespace mxgate
