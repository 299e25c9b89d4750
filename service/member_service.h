// The gRPC handlers of mx.platform.v1.MemberService, on the callback API:
// a handler validates, hands the call to MxClient and returns; the reply
// is sent from MxClient's completion, so no thread waits for MX.
// WatchMemberStatus is a server stream driven the same way, with gRPC
// alarms between polls instead of sleeping threads.
#ifndef MXGATE_SERVICE_MEMBER_SERVICE_H_
#define MXGATE_SERVICE_MEMBER_SERVICE_H_

#include "absl/time/time.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "service/mx_api_version.h"
#include "service/mx_client.h"
#include "service/poll_limiter.h"

namespace mxgate {

// How WatchMemberStatus polls MX.
struct WatchOptions {
  // The wait after a poll that saw a change; it grows by `backoff` after
  // each poll that saw none, up to `max_interval`.
  absl::Duration initial_interval = absl::Milliseconds(500);
  absl::Duration max_interval = absl::Seconds(10);
  double backoff = 2.0;
  // Bounds per member and for the whole server (PollLimiter).
  PollLimiter::Options limits;
};

// Why a watch ends on this status; UNSPECIFIED while the member is still on
// its way (CREATED, UPDATED, DELAYED, RESUMED, PENDING, or connected but
// still aggregating).
::mx::platform::v1::WatchEndReason EndReasonFor(
    const ::mx::platform::v1::MemberStatus& status);

class MemberService final
    : public ::mx::platform::v1::MemberService::CallbackService {
 public:
  // `client` must outlive the service. `default_version` is used when a
  // request names no `accept_version`.
  MemberService(MxClient& client, MxApiVersion default_version,
                WatchOptions watch = WatchOptions());

  // Each unary RPC refuses invalid input with INVALID_ARGUMENT before MX
  // is called, otherwise relays MX's answer (see member_service.proto). A
  // cancelled call aborts its upstream request.
  grpc::ServerUnaryReactor* CreateMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::CreateMemberRequest* request,
      ::mx::platform::v1::CreateMemberResponse* response) override;
  grpc::ServerUnaryReactor* ListInstitutionCredentials(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::ListInstitutionCredentialsRequest* request,
      ::mx::platform::v1::ListInstitutionCredentialsResponse* response) override;
  grpc::ServerUnaryReactor* GetMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::GetMemberRequest* request,
      ::mx::platform::v1::GetMemberResponse* response) override;
  grpc::ServerUnaryReactor* GetMemberStatus(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::GetMemberStatusRequest* request,
      ::mx::platform::v1::GetMemberStatusResponse* response) override;
  grpc::ServerUnaryReactor* ResumeMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::ResumeMemberRequest* request,
      ::mx::platform::v1::ResumeMemberResponse* response) override;
  grpc::ServerUnaryReactor* DeleteMember(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::DeleteMemberRequest* request,
      ::mx::platform::v1::DeleteMemberResponse* response) override;

  grpc::ServerWriteReactor<::mx::platform::v1::WatchMemberStatusResponse>*
  WatchMemberStatus(
      grpc::CallbackServerContext* context,
      const ::mx::platform::v1::WatchMemberStatusRequest* request) override;

 private:
  MxClient& client_;
  const MxApiVersion default_version_;
  const WatchOptions watch_;
  PollLimiter poll_limiter_;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_MEMBER_SERVICE_H_
