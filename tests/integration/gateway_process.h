// Test-only: the real mxgate binary as a child process on a loopback port
// chosen at run time, with a gRPC stub to call it, and the real mx-sandbox.
// Header-only; shared by the integration tests.
#ifndef MXGATE_TESTS_INTEGRATION_GATEWAY_PROCESS_H_
#define MXGATE_TESTS_INTEGRATION_GATEWAY_PROCESS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "mx/platform/v1/member_service.grpc.pb.h"
#include "sandbox/mx_sandbox.h"  // the seeded ids and guids only
#include "tests/integration/test_process.h"

namespace mxgate::testing {

// The MX credentials the tests give mxgate and the sandbox, and an end-user
// password: none may ever appear in a gateway's log.
inline constexpr char kClientId[] = "it-client-id";
inline constexpr char kApiKey[] = "it-api-key-7f3a9c";
inline constexpr char kPassword[] = "it-password-s3cret";

// The first detail of type `Detail` in an error's grpc-status-details-bin.
template <typename Detail>
absl::optional<Detail> FindDetail(const grpc::Status& status) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return absl::nullopt;
  for (const google::protobuf::Any& any : details.details()) {
    Detail detail;
    if (any.UnpackTo(&detail)) return detail;
  }
  return absl::nullopt;
}

// The ErrorInfo reason of an error; "" when it has none.
inline std::string ReasonOf(const grpc::Status& status) {
  const absl::optional<google::rpc::ErrorInfo> info =
      FindDetail<google::rpc::ErrorInfo>(status);
  return info.has_value() ? info->reason() : "";
}

// A CreateMember of an mxbank member for `user` with the sandbox's
// credential guids, username mxuser and `password`.
inline ::mx::platform::v1::CreateMemberRequest MxBankRequest(
    const std::string& user = sandbox::kDemoUserId,
    const std::string& password = kPassword) {
  ::mx::platform::v1::CreateMemberRequest request;
  request.set_user_identifier(user);
  ::mx::platform::v1::Member& member = *request.mutable_member();
  member.set_institution_code("mxbank");
  ::mx::platform::v1::Credential* username = member.add_credentials();
  username->set_guid(sandbox::kMxBankUsernameGuid);
  username->set_value("mxuser");
  ::mx::platform::v1::Credential* secret = member.add_credentials();
  secret->set_guid(sandbox::kMxBankPasswordGuid);
  secret->set_value(password);
  return request;
}

class Gateway {
 public:
  explicit Gateway(const std::string& mx_base_url,
                   std::vector<std::string> extra_flags = {},
                   std::string client_id = kClientId, std::string api_key = kApiKey) {
    // A short drain: these tests have nothing in flight when they stop the
    // gateway, and a leftover call must not hold the teardown.
    std::vector<std::string> argv = {BinPath("mxgate"), "--listen=127.0.0.1:0",
                                     "--mx_base_url=" + mx_base_url,
                                     "--drain_timeout_ms=100"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    process_ = std::make_unique<ChildProcess>(
        argv, std::map<std::string, std::string>{{"MX_CLIENT_ID", client_id},
                                                 {"MX_API_KEY", api_key}});
    address_ = process_->WaitForListening();
    for (const std::string& flag : extra_flags) {
      if (absl::StartsWith(flag, "--metrics_listen=")) {
        metrics_address_ = process_->WaitForLine("metrics on ");
      }
    }
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    stub_ = ::mx::platform::v1::MemberService::NewStub(channel_);
  }

  // Every gateway's log is checked for the secrets it was given or saw.
  ~Gateway() {
    EXPECT_EQ(process_->Terminate(), 0);
    const std::string log = process_->Stderr();
    for (const char* secret : {kApiKey, kPassword, "aXQtY2xpZW50", "mxuser"}) {
      EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(secret)))
          << "a secret reached the log";
    }
  }

  const std::string& address() const { return address_; }
  const ChildProcess& process() const { return *process_; }
  // HOST:PORT of /metrics when started with --metrics_listen, else "".
  const std::string& metrics_address() const { return metrics_address_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  ::mx::platform::v1::MemberService::Stub& stub() { return *stub_; }

  // Any unary RPC of the stub with a deadline of now + `timeout`, e.g.
  // gateway.Call(&Stub::GetMember, request, &response).
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (::mx::platform::v1::MemberService::Stub::*rpc)(
                        grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response,
                    absl::Duration timeout = absl::Seconds(10)) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return ((*stub_).*rpc)(&context, request, response);
  }

  grpc::Status CreateMember(const ::mx::platform::v1::CreateMemberRequest& request,
                            ::mx::platform::v1::CreateMemberResponse* response,
                            absl::Duration timeout = absl::Seconds(10)) {
    return Call(&::mx::platform::v1::MemberService::Stub::CreateMember, request, response,
                timeout);
  }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string address_;
  std::string metrics_address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::mx::platform::v1::MemberService::Stub> stub_;
};

// The real mx-sandbox accepting kClientId/kApiKey, with `extra_flags`.
class Sandbox {
 public:
  explicit Sandbox(std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> argv = {BinPath("mx-sandbox"), "--listen=127.0.0.1:0",
                                     std::string("--client_id=") + kClientId,
                                     std::string("--api_key=") + kApiKey};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    process_ = std::make_unique<ChildProcess>(argv);
    const std::string address = process_->WaitForListening();
    if (!address.empty()) url_ = "http://" + address;
  }

  // "" when it did not start.
  const std::string& url() const { return url_; }
  const ChildProcess& process() const { return *process_; }

  // A counter of /_sandbox/stats, -1 when absent.
  int Stat(const std::string& name) const {
    const std::string body = HttpGet(url_ + "/_sandbox/stats");
    const size_t at = body.find("\"" + name + "\":");
    if (at == std::string::npos) return -1;
    return std::atoi(body.c_str() + at + name.size() + 3);
  }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string url_;
};

}  // namespace mxgate::testing

#endif  // MXGATE_TESTS_INTEGRATION_GATEWAY_PROCESS_H_
