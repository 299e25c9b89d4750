// The C++ client library for mxgate: a typed call per RPC and the decoding
// of mxgate's rich errors. Depends only on the generated API, never on the
// service's code.
#ifndef MXGATE_CLIENT_MEMBER_CLIENT_H_
#define MXGATE_CLIENT_MEMBER_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"
#include "mx/platform/v1/member_service.grpc.pb.h"

namespace mxgate {

// The calls of MemberService, as an interface so that code built on them
// (connect_flow) can be tested against a fake. Each call is blocking with a
// deadline of now + `timeout` (absl::InfiniteDuration(): none) and returns
// the call's status as mxgate sent it (see member_service.proto), or
// UNAVAILABLE / DEADLINE_EXCEEDED from gRPC itself.
class MemberApi {
 public:
  // Called with each message of a stream, in order, on the calling thread.
  using WatchCallback =
      std::function<void(const ::mx::platform::v1::WatchMemberStatusResponse&)>;

  virtual ~MemberApi() = default;

  virtual grpc::Status CreateMember(
      const ::mx::platform::v1::CreateMemberRequest& request,
      ::mx::platform::v1::CreateMemberResponse* response, absl::Duration timeout) = 0;
  virtual grpc::Status ListInstitutionCredentials(
      const ::mx::platform::v1::ListInstitutionCredentialsRequest& request,
      ::mx::platform::v1::ListInstitutionCredentialsResponse* response,
      absl::Duration timeout) = 0;
  virtual grpc::Status GetMember(const ::mx::platform::v1::GetMemberRequest& request,
                                 ::mx::platform::v1::GetMemberResponse* response,
                                 absl::Duration timeout) = 0;
  virtual grpc::Status GetMemberStatus(
      const ::mx::platform::v1::GetMemberStatusRequest& request,
      ::mx::platform::v1::GetMemberStatusResponse* response, absl::Duration timeout) = 0;
  virtual grpc::Status ResumeMember(
      const ::mx::platform::v1::ResumeMemberRequest& request,
      ::mx::platform::v1::ResumeMemberResponse* response, absl::Duration timeout) = 0;
  virtual grpc::Status DeleteMember(
      const ::mx::platform::v1::DeleteMemberRequest& request,
      ::mx::platform::v1::DeleteMemberResponse* response, absl::Duration timeout) = 0;
  // Reads the whole WatchMemberStatus stream, handing each message to
  // `on_message` as it arrives; returns the status the stream ended with
  // (OK after the message with `final` set). `timeout` bounds the whole
  // stream.
  virtual grpc::Status WatchMemberStatus(
      const ::mx::platform::v1::WatchMemberStatusRequest& request,
      const WatchCallback& on_message, absl::Duration timeout) = 0;
};

// MemberApi over a gRPC channel.
class MemberClient final : public MemberApi {
 public:
  explicit MemberClient(std::shared_ptr<grpc::Channel> channel);

  grpc::Status CreateMember(const ::mx::platform::v1::CreateMemberRequest& request,
                            ::mx::platform::v1::CreateMemberResponse* response,
                            absl::Duration timeout) override;
  grpc::Status ListInstitutionCredentials(
      const ::mx::platform::v1::ListInstitutionCredentialsRequest& request,
      ::mx::platform::v1::ListInstitutionCredentialsResponse* response,
      absl::Duration timeout) override;
  grpc::Status GetMember(const ::mx::platform::v1::GetMemberRequest& request,
                         ::mx::platform::v1::GetMemberResponse* response,
                         absl::Duration timeout) override;
  grpc::Status GetMemberStatus(const ::mx::platform::v1::GetMemberStatusRequest& request,
                               ::mx::platform::v1::GetMemberStatusResponse* response,
                               absl::Duration timeout) override;
  grpc::Status ResumeMember(const ::mx::platform::v1::ResumeMemberRequest& request,
                            ::mx::platform::v1::ResumeMemberResponse* response,
                            absl::Duration timeout) override;
  grpc::Status DeleteMember(const ::mx::platform::v1::DeleteMemberRequest& request,
                            ::mx::platform::v1::DeleteMemberResponse* response,
                            absl::Duration timeout) override;
  grpc::Status WatchMemberStatus(
      const ::mx::platform::v1::WatchMemberStatusRequest& request,
      const WatchCallback& on_message, absl::Duration timeout) override;

 private:
  std::unique_ptr<::mx::platform::v1::MemberService::Stub> stub_;
};

// The google.rpc.Status in `grpc-status-details-bin`, if the error has one.
absl::optional<google::rpc::Status> ErrorDetails(const grpc::Status& status);

// An error as one JSON object: {"code": "NOT_FOUND", "message": "...",
// "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", ...}]}.
std::string ErrorToJson(const grpc::Status& status);

// A message as proto3 JSON with the proto field names (MX's snake_case),
// indented, ending with a newline.
std::string ToJson(const google::protobuf::Message& message);

// The same JSON on one line, ending with a newline: one message per line
// of a stream ("JSON lines").
std::string ToJsonLine(const google::protobuf::Message& message);

}  // namespace mxgate

#endif  // MXGATE_CLIENT_MEMBER_CLIENT_H_
