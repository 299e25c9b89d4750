// mx-sandbox's emulation of the MX Platform API: routing, request checks,
// in-memory state and response bodies, as one handler from an HTTP request
// to an HTTP response. It does no I/O (sandbox_server.h serves it over HTTP)
// and shares no code with service/, so that mxgate is tested against an
// independent reading of MX's spec (third_party/mx-openapi/) and docs, not
// against mxgate's own idea of MX.
//
// Endpoints (v20250224 paths; v20111101 takes guids only where its path
// says {user_guid} / {member_guid} / {institution_code}):
//   POST   /users                                  createUser
//   POST   /users/{user}/members                   createMember
//   GET    /users/{user}/members/{member}          readMember
//   DELETE /users/{user}/members/{member}          deleteMember
//   GET    /users/{user}/members/{member}/status      readMemberStatus
//   GET    /users/{user}/members/{member}/challenges  listMemberChallenges
//   PUT    /users/{user}/members/{member}/resume      resumeAggregation
//   GET    /institutions/{institution}/credentials listInstitutionCredentials
//   GET    /oauth/authorize/{member_guid}  an oauth_window_uri; no auth, HTML
//   GET    /_sandbox/stats  control, no auth: members_created,
//          members_deleted, requests (MX routes), status_requests
// Anything else is 404. Every error body of an MX route is
// {"error":{"message":"..."}}, the shape MX's clients read (MX publishes no
// error schema).
//
// Every MX route checks, in this order (first failure wins):
//   401 Basic credentials missing or not --client_id:--api_key
//   406 Accept-Version missing or not v20250224 / v20111101
//   406 Accept does not select that version (v20111101 needs
//       application/vnd.mx.api.v1+json; v20250224 takes application/json,
//       application/*, */* or no Accept at all)
//   404 user unknown (v20250224: user id or guid; v20111101: guid only)
//   404 member unknown, deleted, or another user's (v20250224: member id or
//       guid; v20111101: guid only) -- routes with a {member} only
//
// Create member then answers:
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
//
// Aggregation. A job moves one state per step (--step_ms, SandboxOptions::
// step), worked out from the clock when the member is next looked at: no
// timers. An mxbank job (202) ends, one step after creation, by LOGIN and
// then PASSWORD (MX Bank's test passwords; case-sensitive):
//   LOGIN not `mxuser`       DENIED   (a sandbox choice: MX documents only
//                                      `mxuser`)
//   PASSWORD `challenge`     CHALLENGED, one TEXT challenge
//   PASSWORD `options`       CHALLENGED, one OPTIONS challenge (two options;
//                                      the right one has value `correct`)
//   PASSWORD `image`         CHALLENGED, one IMAGE_DATA challenge (a 1x1
//                                      PNG as a data URI)
//   PASSWORD `BAD_REQUEST`   FAILED   (connection_status_message "You must
//                                      fill out the username and password
//                                      fields.")
//   any other password       CONNECTED (successfully_aggregated_at = the
//                                      step's time, has_processed_* true)
// is_being_aggregated is true only while a job runs (CREATED after a 202,
// RESUMED). 200 and 201 members start no job: they stay CREATED and not
// aggregating. An OAuth member stays PENDING until its oauth_window_uri is
// fetched; that starts a job (CREATED, a new JOB- guid, aggregated_at = then)
// that is CONNECTED one step later. connection_status_message is "Connected
// to <institution name>." when CONNECTED.
//
// Read member status: 200 MemberStatusResponseBody; challenges is [] unless
// CHALLENGED. List member challenges: 200 ChallengesResponseBody (paged by
// page / records_per_page) when CHALLENGED, else 204 with no body.
// Delete member: 204 with no body; the member is gone from every route.
// Resume aggregation, after the member checks:
//   405 member not CHALLENGED (MX: "a constraint on the requested endpoint
//       wasn't met")
//   400 body not {"member":{"challenges":[{"guid":"..","value":".."}]}},
//       a guid that is not an open challenge, one answered twice or an open
//       challenge left unanswered
//   202 MemberResponseBody, connection_status RESUMED, is_being_aggregated
//       true; one step later: answer `correct` -> CONNECTED, `challenge` ->
//       CHALLENGED again with a follow-up challenge of the same type (MX's
//       Atrium behaviour), anything else -> DENIED.
// GET /oauth/authorize/{member_guid} (text/html): 200 "Authorized; you can
// close this window." the first time, 410 once used (the URI is single-use),
// 404 for a guid that is not an OAuth member's.
//
// Sandbox choices where MX's behaviour is unverified:
//   - Each transition takes one step; MX's timing is not documented.
//   - is_being_aggregated is false while CHALLENGED (MX's MFA guide shows
//     true in its example).
//   - A LOGIN other than `mxuser` is DENIED.
//   - A wrong MFA answer ends DENIED (MX Bank documents only "a wrong
//     answer", not the status it leads to).
//   - Answering `challenge` gives a follow-up challenge of the same type
//     (Atrium's rule); answering `challenge` to a follow-up repeats it.
//   - Challenge labels and option texts are the sandbox's; field_name is
//     null, options / image_options are [] where unused, and `type` is a
//     string (the spec's type; MX's MFA guide shows an integer 0).
//   - Any answer value is taken, even one not among an OPTIONS challenge's
//     option values; only `correct` and `challenge` mean anything.
//   - 405 is checked before the resume body (400).
//   - is_authenticated and has_processed_* are false until CONNECTED.
//   - connection_status_message is null while CREATED, PENDING and RESUMED,
//     and a sandbox text otherwise (FAILED's is MX Bank's documented text).
//   - The oauth_window_uri is single-use (410 Gone after) and is not counted
//     in /_sandbox/stats' `requests` (a browser fetches it, not the client).
//   - A deleted member's `id` may be used again.
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
inline constexpr char kDemoUserGuid[] = "USR-0d3e5a1b-7c4f-4e2a-9b61-5a2d8c3f7e10";

// The two MX Bank test institutions of MX's integration environment.
inline constexpr char kMxBankCode[] = "mxbank";
inline constexpr char kMxBankGuid[] = "INST-7a3f1c2e-5b4d-4e6f-8a9b-0c1d2e3f4a5b";
inline constexpr char kMxBankUsernameGuid[] = "CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
inline constexpr char kMxBankPasswordGuid[] = "CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e";
inline constexpr char kMxBankOauthCode[] = "mx_bank_oauth";
inline constexpr char kMxBankOauthGuid[] = "INST-8b4e2d3f-6c5e-4f70-9bac-1d2e3f4a5b6c";

// The fixed guids of the challenges an mxbank member meets (see above).
inline constexpr char kTextChallengeGuid[] = "CRD-3d4e5f60-7182-4c9d-8eaf-2a3b4c5d6e7f";
inline constexpr char kTextFollowUpChallengeGuid[] =
    "CRD-4e5f6071-8293-4dae-9fb0-3b4c5d6e7f80";
inline constexpr char kOptionsChallengeGuid[] =
    "CRD-5f607182-93a4-4ebf-a0c1-4c5d6e7f8091";
inline constexpr char kOptionsFollowUpChallengeGuid[] =
    "CRD-607182a3-a4b5-4fc0-b1d2-5d6e7f8091a2";
inline constexpr char kImageChallengeGuid[] = "CRD-7182a3b4-b5c6-4ad1-82e3-6e7f8091a2b3";
inline constexpr char kImageFollowUpChallengeGuid[] =
    "CRD-82a3b4c5-c6d7-4be2-93f4-7f8091a2b3c4";

inline constexpr char kDefaultClientId[] = "sandbox-client-id";
inline constexpr char kDefaultApiKey[] = "sandbox-api-key";
// How long each aggregation step takes (/*1.5 s*/): long enough for a client
// polling every second or so to see the transient states.
inline constexpr int kDefaultStepMs = 1500;

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
  // The time of each aggregation step (see above).
  absl::Duration step = absl::Milliseconds(kDefaultStepMs);
  // The clock behind aggregated_at and the steps; tests drive a fake one.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class Sandbox {
 public:
  explicit Sandbox(SandboxOptions options);
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  ~Sandbox();

  // Answers one request. Thread-safe: calls are serialised on one mutex.
  SandboxResponse Handle(const SandboxRequest& request) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct State;
  const SandboxOptions options_;
  absl::Mutex mu_;
  std::unique_ptr<State> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandbox
}  // namespace mxgate

#endif  // MXGATE_SANDBOX_MX_SANDBOX_H_
