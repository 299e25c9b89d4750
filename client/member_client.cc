#include "client/member_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  if (timeout != absl::InfiniteDuration()) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
}

// One blocking unary call of `stub`.
template <typename Request, typename Response>
grpc::Status Unary(v1::MemberService::Stub& stub,
                   grpc::Status (v1::MemberService::Stub::*rpc)(grpc::ClientContext*,
                                                                const Request&,
                                                                Response*),
                   const Request& request, Response* response, absl::Duration timeout) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  return (stub.*rpc)(&context, request, response);
}

}  // namespace

MemberClient::MemberClient(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::MemberService::NewStub(std::move(channel))) {}

grpc::Status MemberClient::CreateMember(const v1::CreateMemberRequest& request,
                                        v1::CreateMemberResponse* response,
                                        absl::Duration timeout) {
  return Unary(*stub_, &v1::MemberService::Stub::CreateMember, request, response,
               timeout);
}

grpc::Status MemberClient::ListInstitutionCredentials(
    const v1::ListInstitutionCredentialsRequest& request,
    v1::ListInstitutionCredentialsResponse* response, absl::Duration timeout) {
  return Unary(*stub_, &v1::MemberService::Stub::ListInstitutionCredentials, request,
               response, timeout);
}

grpc::Status MemberClient::GetMember(const v1::GetMemberRequest& request,
                                     v1::GetMemberResponse* response,
                                     absl::Duration timeout) {
  return Unary(*stub_, &v1::MemberService::Stub::GetMember, request, response, timeout);
}

grpc::Status MemberClient::GetMemberStatus(const v1::GetMemberStatusRequest& request,
                                           v1::GetMemberStatusResponse* response,
                                           absl::Duration timeout) {
  return Unary(*stub_, &v1::MemberService::Stub::GetMemberStatus, request, response,
               timeout);
}

grpc::Status MemberClient::ResumeMember(const v1::ResumeMemberRequest& request,
                                        v1::ResumeMemberResponse* response,
                                        absl::Duration timeout) {
  return Unary(*stub_, &v1::MemberService::Stub::ResumeMember, request, response,
               timeout);
}

grpc::Status MemberClient::DeleteMember(const v1::DeleteMemberRequest& request,
                                        v1::DeleteMemberResponse* response,
                                        absl::Duration timeout) {
  return Unary(*stub_, &v1::MemberService::Stub::DeleteMember, request, response,
               timeout);
}

grpc::Status MemberClient::WatchMemberStatus(const v1::WatchMemberStatusRequest& request,
                                             const WatchCallback& on_message,
                                             absl::Duration timeout) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  std::unique_ptr<grpc::ClientReader<v1::WatchMemberStatusResponse>> reader =
      stub_->WatchMemberStatus(&context, request);
  v1::WatchMemberStatusResponse message;
  while (reader->Read(&message)) on_message(message);
  return reader->Finish();
}

absl::optional<google::rpc::Status> ErrorDetails(const grpc::Status& status) {
  if (status.error_details().empty()) return absl::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return absl::nullopt;
  return details;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string ToJsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  json.push_back('\n');
  return json;
}

std::string ErrorToJson(const grpc::Status& status) {
  // Printing an Any needs its type in the generated pool; naming one type
  // of error_details.proto keeps the linker from dropping that file.
  (void)google::rpc::ErrorInfo::descriptor();
  google::rpc::Status as_proto;
  if (absl::optional<google::rpc::Status> details = ErrorDetails(status)) {
    for (google::protobuf::Any& any : *details->mutable_details()) {
      // protobuf cannot print an Any of a type this program does not link
      // and would leave the JSON unterminated; such a detail is left out.
      const size_t slash = any.type_url().rfind('/');
      const std::string type_name =
          slash == std::string::npos ? "" : any.type_url().substr(slash + 1);
      if (google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
              type_name) != nullptr) {
        *as_proto.add_details() = std::move(any);
      }
    }
  }
  // google.rpc.Status's JSON has a numeric code; people read names. Code 0
  // is left out of the proto's JSON, and the name is put first instead.
  as_proto.set_code(0);
  as_proto.set_message(status.error_message());
  if (as_proto.message().empty() && as_proto.details().empty()) {
    return absl::StrCat("{\n \"code\": \"", CodeName(status.error_code()), "\"\n}\n");
  }
  std::string json = ToJson(as_proto);  // "{\n \"message\": ..."
  json.insert(1, absl::StrCat("\n \"code\": \"", CodeName(status.error_code()), "\","));
  return json;
}

}  // namespace mxgate
