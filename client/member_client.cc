#include "client/member_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/client_context.h"

namespace mxgate {
namespace {

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
}

}  // namespace

MemberClient::MemberClient(std::shared_ptr<grpc::Channel> channel)
    : stub_(::mx::platform::v1::MemberService::NewStub(std::move(channel))) {}

grpc::Status MemberClient::CreateMember(
    const ::mx::platform::v1::CreateMemberRequest& request,
    ::mx::platform::v1::CreateMemberResponse* response,
    absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return stub_->CreateMember(&context, request, response);
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
    return absl::StrCat("{\n \"code\": \"", CodeName(status.error_code()),
                        "\"\n}\n");
  }
  std::string json = ToJson(as_proto);  // "{\n \"message\": ..."
  json.insert(1, absl::StrCat("\n \"code\": \"", CodeName(status.error_code()),
                              "\","));
  return json;
}

}  // namespace mxgate
