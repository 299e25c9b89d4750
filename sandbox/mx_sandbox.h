// mx-sandbox's emulation of the MX Platform API: routing, request checks,
// in-memory state and response bodies, as one handler from an HTTP request
// to an HTTP response. It does no I/O (sandbox_server.h serves it over HTTP)
// and shares no code with service/, so that mxgate is tested against an
// independent reading of MX's spec (third_party/mx-openapi/) and docs, not
// against mxgate's own idea of MX.
//
// Endpoints (v20250224 paths; v20111101 takes guids only where its path
// says {user_guid} / {member_guid} / {institution_code}):
//   POST /users                                      createUser
//   POST /users/{user_identifier}/members            createMember
//   GET  /users/{user_identifier}/members/{member}   readMember
//   GET  /institutions/{institution}/credentials     listInstitutionCredentials
//   GET  /_sandbox/stats                             control, no auth
// Anything else is 404. Every error body is {"error":{"message":"..."}}, the
// shape MX's clients read (MX publishes no error schema).
//
// Create member answers, in this order of checks (first failure wins):
//   401 Basic credentials missing or not --client_id:--api_key
//   406 Accept-Version missing or not v20250224 / v20111101
//   406 Accept does not select that version (v20111101 needs
//       application/vnd.mx.api.v1+json; v20250224 takes application/json,
//       application/*, */* or no Accept at all)
//   404 user unknown (v20250224: user id or guid; v20111101: guid only)
//   400 body not a JSON object, no `member` object, no institution_code,
//       or a known field of the wrong type (unknown keys are ignored)
//   404 institution unknown
//   422 credentials (mxbank): a guid not of the institution, one given twice,
//       a required one missing or empty
//   422 OAuth: mx_bank_oauth without is_oauth:true or with credentials;
//       is_oauth:true for mxbank
//   409 member `id` already used by any member of any user
//   400 X-CALLBACK-PAYLOAD not base64 or longer than 1024 characters
// and on success:
//   200 created, no aggregation started: an OAuth member (it waits for the
//       end user; connection_status PENDING) or v20111101 with
//       member.skip_aggregation:true (connection_status CREATED)
//   201 created, but v20250224 data_request.products lists a product the
//       institution does not support, so the combo job does not start
//       (openapi PR #179; no job guid, is_being_aggregated false)
//   202 created and aggregation requested (connection_status CREATED,
//       is_being_aggregated true, most_recent_job_guid JOB-...)
#ifndef MXGATE_SANDBOX_MX_SANDBOX_H_
#define MXGATE_SANDBOX_MX_SANDBOX_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mxgate {
namespace sandbox {

// The seeded user every sandbox starts with.
inline constexpr char kDemoUserId[] = "demo-user";
inline constexpr char kDemoUserGuid[] =
    "USR-0d3e5a1b-7c4f-4e2a-9b61-5a2d8c3f7e10";

// The two MX Bank test institutions of MX's integration environment.
inline constexpr char kMxBankCode[] = "mxbank";
inline constexpr char kMxBankGuid[] =
    "INST-7a3f1c2e-5b4d-4e6f-8a9b-0c1d2e3f4a5b";
inline constexpr char kMxBankUsernameGuid[] =
    "CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
inline constexpr char kMxBankPasswordGuid[] =
    "CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e";
inline constexpr char kMxBankOauthCode[] = "mx_bank_oauth";
inline constexpr char kMxBankOauthGuid[] =
    "INST-8b4e2d3f-6c5e-4f70-9bac-1d2e3f4a5b6c";

inline constexpr char kDefaultClientId[] = "sandbox-client-id";
inline constexpr char kDefaultApiKey[] = "sandbox-api-key";

struct SandboxRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded, without the query string
  std::map<std::string, std::string> query;
  // Header names in lower case ("accept-version"); the adapter folds them.
  std::map<std::string, std::string> headers;
  std::string body;
};

struct SandboxResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

struct SandboxOptions {
  // The only Basic credentials accepted.
  std::string client_id = kDefaultClientId;
  std::string api_key = kDefaultApiKey;
  // Prefix of every oauth_window_uri: the address the sandbox listens on.
  std::string base_url = "http://127.0.0.1:8089";
  // The clock behind aggregated_at; tests may pin it.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class Sandbox {
 public:
  explicit Sandbox(SandboxOptions options);
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  ~Sandbox();

  // Answers one request. Thread-safe: calls are serialised on one mutex.
  SandboxResponse Handle(const SandboxRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct State;
  const SandboxOptions options_;
  absl::Mutex mu_;
  std::unique_ptr<State> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandbox
}  // namespace mxgate

#endif  // MXGATE_SANDBOX_MX_SANDBOX_H_
