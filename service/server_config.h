// Start-up checks of the gateway's configuration: where MX is, the
// credentials mxgate authenticates with, and the request_id replay cache's
// bounds. A problem here stops mxgate before it listens; the messages name
// the problem and never a secret.
#ifndef MXGATE_SERVICE_SERVER_CONFIG_H_
#define MXGATE_SERVICE_SERVER_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/request_replay.h"

namespace mxgate {

struct MxCredentials {
  std::string client_id;
  std::string api_key;
};

// `localhost`, any 127.0.0.0/8 address, and `[::1]` (or `::1`).
bool IsLoopbackHost(absl::string_view host);

// Checks `--mx_base_url` and returns it without a trailing slash. https://
// with any host is accepted; http:// only with a loopback host (the local
// sandbox), because credentials would otherwise cross the network in clear.
// INVALID_ARGUMENT for anything else (no scheme, a query or fragment, an
// empty host, a malformed port).
absl::StatusOr<std::string> CheckMxBaseUrl(absl::string_view url);

// The credentials: from `credentials_file` when not empty (first line
// `CLIENT_ID:API_KEY`), otherwise from `env_client_id` and `env_api_key`
// (the values of MX_CLIENT_ID and MX_API_KEY; null when unset).
// FAILED_PRECONDITION when neither source gives a non-empty pair; NOT_FOUND
// when the file cannot be read.
absl::StatusOr<MxCredentials> LoadMxCredentials(absl::string_view credentials_file,
                                                const char* env_client_id,
                                                const char* env_api_key);

// The replay cache's options from `--request_replay_entries` (0 turns the
// cache off) and `--request_replay_ttl_s`. INVALID_ARGUMENT, naming the
// flag, for a negative entry count or a TTL that is not positive.
absl::StatusOr<RequestReplay::Options> CheckRequestReplayFlags(int entries, int ttl_s);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_SERVER_CONFIG_H_
