// The edge between mxgate's absl::Status errors and gRPC: one conversion
// that carries every detail payload (ErrorInfo, BadRequest, RetryInfo) into
// a google.rpc.Status, which gRPC sends as `grpc-status-details-bin`.
#ifndef MXGATE_SERVICE_GRPC_STATUS_H_
#define MXGATE_SERVICE_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace mxgate {

// OK -> grpc::Status::OK. Otherwise the same code and message, and as
// details a google.rpc.Status holding each payload of `status` as an Any.
// A status that lacks an ErrorInfo (a bug, not a designed path) gets one
// with reason "INTERNAL_ERROR", so that every error has one.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_GRPC_STATUS_H_
