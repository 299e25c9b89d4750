#include "service/member_service.h"

#include <chrono>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "service/grpc_status.h"
#include "service/request_validation.h"

namespace mxgate {
namespace {

namespace v1 = ::mx::platform::v1;

absl::Time DeadlineOf(const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// One CreateMember call: lives from the handler until gRPC says it is done.
// The upstream completion, a cancellation and Start() itself can race; the
// mutex orders them so that a cancel always reaches a started call and the
// call is finished only once Start() no longer touches the reactor.
class CreateMemberReactor final : public grpc::ServerUnaryReactor {
 public:
  CreateMemberReactor(MxClient& client, v1::CreateMemberResponse* response)
      : client_(client), response_(response) {}

  void Start(const v1::CreateMemberRequest& request, MxApiVersion version,
             absl::Time deadline) {
    const MxClient::CallId id = client_.CreateMember(
        request, version, deadline,
        [this](absl::StatusOr<v1::CreateMemberResponse> result) {
          if (result.ok()) *response_ = *std::move(result);
          grpc::Status status = ToGrpcStatus(result.status());
          {
            absl::MutexLock lock(&mu_);
            if (!started_) {  // Start() still runs: let it finish the call
              early_status_ = std::move(status);
              return;
            }
          }
          Finish(status);
        });
    bool cancel_now;
    absl::optional<grpc::Status> early_status;
    {
      absl::MutexLock lock(&mu_);
      started_ = true;
      call_id_ = id;
      cancel_now = cancelled_;
      early_status.swap(early_status_);
    }
    // Finish may delete `this` (via OnDone): it is the last thing done.
    if (early_status.has_value()) {
      Finish(*early_status);
    } else if (cancel_now) {
      client_.Cancel(id);
    }
  }

  void OnCancel() override {
    MxClient::CallId id;
    bool started;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      started = started_;
      id = call_id_;
    }
    // Before Start() has an id, it sees `cancelled_` and cancels itself.
    if (started) client_.Cancel(id);
  }

  void OnDone() override { delete this; }

 private:
  MxClient& client_;
  v1::CreateMemberResponse* const response_;
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  MxClient::CallId call_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::optional<grpc::Status> early_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

MemberService::MemberService(MxClient& client, MxApiVersion default_version)
    : client_(client), default_version_(default_version) {}

grpc::ServerUnaryReactor* MemberService::CreateMember(
    grpc::CallbackServerContext* context,
    const v1::CreateMemberRequest* request,
    v1::CreateMemberResponse* response) {
  absl::StatusOr<MxApiVersion> version =
      ValidateCreateMemberRequest(*request, default_version_);
  if (!version.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(version.status()));
    return reactor;
  }
  auto* reactor = new CreateMemberReactor(client_, response);
  reactor->Start(*request, *version, DeadlineOf(*context));
  return reactor;
}

}  // namespace mxgate
