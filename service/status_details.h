// The one way mxgate builds an error inside the service: an absl::Status
// whose payloads are google.rpc detail messages, keyed by their type URL as
// Abseil recommends. grpc_status.h turns such a status into a grpc::Status
// at the edge; nothing in between needs to know about gRPC.
//
// Every error mxgate returns carries an ErrorInfo (domain "mxgate"), so a
// client can branch on `reason` instead of parsing messages.
#ifndef MXGATE_SERVICE_STATUS_DETAILS_H_
#define MXGATE_SERVICE_STATUS_DETAILS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/rpc/error_details.pb.h"

namespace mxgate {

inline constexpr char kErrorDomain[] = "mxgate";
inline constexpr char kErrorInfoTypeUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr char kBadRequestTypeUrl[] = "type.googleapis.com/google.rpc.BadRequest";
inline constexpr char kRetryInfoTypeUrl[] = "type.googleapis.com/google.rpc.RetryInfo";

// ErrorInfo metadata keys.
inline constexpr char kMetadataHttpStatus[] = "http_status";
inline constexpr char kMetadataMxErrorMessage[] = "mx_error_message";

// One refused request field: `field` is an AIP-193 path from the request
// root, e.g. `member.credentials[1].guid`.
struct FieldViolation {
  std::string field;
  std::string description;
};

// Returns a status with `code` and `message` and an ErrorInfo payload
// (domain "mxgate", `reason`, `metadata`). `code` must not be OK.
absl::Status MakeError(
    absl::StatusCode code, absl::string_view message, absl::string_view reason,
    const std::vector<std::pair<std::string, std::string>>& metadata = {});

// Adds a google.rpc.BadRequest with `violations` to `status`.
void AttachBadRequest(absl::Status& status,
                      const std::vector<FieldViolation>& violations);

// Adds a google.rpc.RetryInfo asking the caller to wait `delay`.
void AttachRetryInfo(absl::Status& status, absl::Duration delay);

// Reads the details back; nullopt when absent or unparseable. Used by
// grpc_status and by tests.
absl::optional<google::rpc::ErrorInfo> GetErrorInfo(const absl::Status& status);
absl::optional<google::rpc::BadRequest> GetBadRequest(const absl::Status& status);
absl::optional<google::rpc::RetryInfo> GetRetryInfo(const absl::Status& status);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_STATUS_DETAILS_H_
