// The C++ client library for mxgate: a typed call per RPC and the decoding
// of mxgate's rich errors. Depends only on the generated API, never on the
// service's code.
#ifndef MXGATE_CLIENT_MEMBER_CLIENT_H_
#define MXGATE_CLIENT_MEMBER_CLIENT_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"
#include "mx/platform/v1/member_service.grpc.pb.h"

namespace mxgate {

class MemberClient {
 public:
  explicit MemberClient(std::shared_ptr<grpc::Channel> channel);

  // Blocking CreateMember with a deadline of now + `timeout`.
  grpc::Status CreateMember(
      const ::mx::platform::v1::CreateMemberRequest& request,
      ::mx::platform::v1::CreateMemberResponse* response,
      absl::Duration timeout);

 private:
  std::unique_ptr<::mx::platform::v1::MemberService::Stub> stub_;
};

// The google.rpc.Status in `grpc-status-details-bin`, if the error has one.
absl::optional<google::rpc::Status> ErrorDetails(const grpc::Status& status);

// An error as one JSON object: {"code": "NOT_FOUND", "message": "...",
// "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", ...}]}.
std::string ErrorToJson(const grpc::Status& status);

// A message as proto3 JSON with the proto field names (MX's snake_case).
std::string ToJson(const google::protobuf::Message& message);

}  // namespace mxgate

#endif  // MXGATE_CLIENT_MEMBER_CLIENT_H_
