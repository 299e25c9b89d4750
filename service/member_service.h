// The gRPC handlers of mx.platform.v1.MemberService, on the callback API:
// a handler validates, hands the call to MxClient and returns; the reply
// is sent from MxClient's completion, so no thread waits for MX.
#ifndef MXGATE_SERVICE_MEMBER_SERVICE_H_
#define MXGATE_SERVICE_MEMBER_SERVICE_H_

#include "absl/time/time.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "service/mx_api_version.h"
#include "service/mx_client.h"

namespace mxgate {

class MemberService final
    : public ::mx::platform::v1::MemberService::CallbackService {
 public:
  // `client` must outlive the service. `default_version` is used when a
  // request names no `accept_version`.
  MemberService(MxClient& client, MxApiVersion default_version);

  // Refuses invalid input with INVALID_ARGUMENT before MX is called;
  // otherwise relays MX's answer (see member_service.proto for the codes).
  // A cancelled call aborts its upstream request.
  grpc::ServerUnaryReactor* CreateMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::CreateMemberRequest* request,
      ::mx::platform::v1::CreateMemberResponse* response) override;

 private:
  MxClient& client_;
  const MxApiVersion default_version_;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_MEMBER_SERVICE_H_
