// How the gateway's own gRPC listener is configured: the TLS material it
// serves with (read and checked at start-up) and its keepalive and message
// size limits, as the channel arguments grpc::ServerBuilder takes. Builds no
// gRPC object; server.cc turns these into credentials and arguments. TLS to
// MX is mx_transport's (--mx_ca_file), not this file's.
#ifndef MXGATE_SERVICE_LISTENER_CONFIG_H_
#define MXGATE_SERVICE_LISTENER_CONFIG_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mxgate {

// PEM text, checked: the certificate chain parses, the key parses and
// belongs to the chain's first certificate, and the client CA bundle (when
// given) holds at least one certificate.
struct ServerTls {
  std::string cert_chain_pem;
  std::string private_key_pem;  // secret: never logged or put in a message
  // Empty: client certificates are not requested. Otherwise every client
  // must present a certificate issued by one of these (mTLS).
  std::string client_ca_pem;
};

// Reads --tls_cert_file, --tls_key_file and --tls_client_ca_file. All empty:
// nullopt (plaintext). INVALID_ARGUMENT when only one of cert and key is
// given, when a client CA comes without them, or when a file is not the PEM
// it should be (an encrypted key included) or the key does not match the
// certificate; NOT_FOUND when a file cannot be read. Messages name the flag
// and the path, never the files' contents.
absl::StatusOr<std::optional<ServerTls>> LoadServerTls(absl::string_view cert_file,
                                                       absl::string_view key_file,
                                                       absl::string_view client_ca_file);

// The listener's limits. The defaults are the flags' defaults.
struct ListenerLimits {
  // Requests are small (a CreateMember with its credentials is well under
  // 1 KiB); a larger one is refused with RESOURCE_EXHAUSTED before any
  // handler runs.
  int max_receive_message_bytes = 1 << 20;  // 1 MiB
  // Responses carry MX's answer, which the transport caps at 8 MiB of JSON;
  // a member as proto is far smaller.
  int max_send_message_bytes = 4 << 20;  // 4 MiB
  // The server pings a connection idle this long, and closes it when no
  // answer comes within keepalive_timeout_ms (gRPC's own defaults).
  int keepalive_time_ms = 2 * 60 * 60 * 1000;  // 2 h
  int keepalive_timeout_ms = 20 * 1000;        // 20 s
  // Enforcement: a client pinging more often than this without data gets
  // GOAWAY (too_many_pings) after two strikes.
  int keepalive_min_client_ping_interval_ms = 5 * 60 * 1000;  // 5 min
  // Whether clients may ping while they have no call open.
  bool keepalive_permit_without_calls = false;
  // 0: off. Otherwise a connection gets GOAWAY at this age, so clients
  // behind an L4 load balancer reconnect and spread over the replicas.
  int max_connection_age_ms = 0;
  // Calls still open that long after the GOAWAY are cut (UNAVAILABLE; a
  // watch is simply resumed). Longer than --mx_timeout_ms's default, so
  // unary calls finish.
  int max_connection_age_grace_ms = 30 * 1000;  // 30 s
};

// INVALID_ARGUMENT naming the first flag out of range: sizes and keepalive
// time and timeout must be positive, the rest not negative.
absl::Status CheckListenerLimits(const ListenerLimits& limits);

// The channel arguments (GRPC_ARG_* name, value) for grpc::ServerBuilder.
// The connection-age pair only when max_connection_age_ms > 0.
std::vector<std::pair<std::string, int>> ListenerChannelArgs(
    const ListenerLimits& limits);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_LISTENER_CONFIG_H_
