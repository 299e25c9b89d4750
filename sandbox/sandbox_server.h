// Serves a Sandbox (mx_sandbox.h) over HTTP/1.1 with cpp-httplib, on
// loopback only. This file owns what is about the wire and the process:
// the --listen address and its loopback rule, header folding, the added
// latency, the injected faults (fault_injection.h: what each does to the
// connection) and their control endpoint, and the one log line per request.
// It does not know MX's rules.
//
// Control endpoint, no auth, answered only to loopback peers and never
// faulted itself (nor is anything under /_sandbox/):
//   POST   /_sandbox/faults  a JSON array of rules (fault_injection.h)
//                            replaces the active ones: 200
//                            {"rules":N,"injected":M}, or 400 with MX's
//                            error shape naming the bad rule
//   GET    /_sandbox/faults  200 {"rules":N,"injected":M}
//   DELETE /_sandbox/faults  clears the rules: 200 {"rules":0,...}
//   anything else there      405
#ifndef MXGATE_SANDBOX_SANDBOX_SERVER_H_
#define MXGATE_SANDBOX_SANDBOX_SERVER_H_

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sandbox/fault_injection.h"
#include "sandbox/mx_sandbox.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace mxgate {
namespace sandbox {

struct ListenAddress {
  std::string host;  // as given: "localhost", "127.0.0.1", "::1" (no brackets)
  int port = 0;      // 0: any free port
};

// Parses "HOST:PORT" ("[::1]:PORT" for IPv6). The sandbox holds test
// credentials and answers anyone who reaches it, so HOST must be loopback:
// localhost, 127.0.0.0/8 or [::1].
// Returns InvalidArgument for a malformed value or a non-loopback host.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view listen);

// "HOST:PORT", bracketing an IPv6 host.
std::string FormatHostPort(const ListenAddress& address);

struct ServerOptions {
  std::string listen = "127.0.0.1:8089";
  std::string client_id = kDefaultClientId;
  std::string api_key = kDefaultApiKey;
  // Held back before every answer; the request has already taken effect, so
  // a client that gives up still leaves its member created, as with MX.
  absl::Duration latency = absl::ZeroDuration();
  // The time of each aggregation step (SandboxOptions::step).
  absl::Duration step = absl::Milliseconds(kDefaultStepMs);
  // Fault rules active from the start, as the control endpoint's JSON
  // array; "" for none.
  std::string faults;
  // One line per request: method, path, status, duration, and the fault
  // injected if any. Never a body, a header or a credential. nullptr: no
  // log.
  std::FILE* log = stderr;
};

class SandboxServer {
 public:
  // Checks the address and the fault rules, and binds the address.
  // Returns InvalidArgument (bad or non-loopback address, bad rules) or
  // Unavailable (the port cannot be bound).
  static absl::StatusOr<std::unique_ptr<SandboxServer>> Bind(
      const ServerOptions& options);

  SandboxServer(const SandboxServer&) = delete;
  SandboxServer& operator=(const SandboxServer&) = delete;
  ~SandboxServer();

  // The bound address with the real port, e.g. "127.0.0.1:41235".
  const std::string& address() const { return address_; }
  int port() const { return address_parts_.port; }

  // Serves until Shutdown(); returns false if serving failed.
  bool Serve();
  // Stops Serve() from any thread.
  void Shutdown();

 private:
  SandboxServer(const ServerOptions& options, ListenAddress bound,
                std::unique_ptr<httplib::Server> server, std::vector<FaultRule> faults);
  void Answer(const httplib::Request& request, httplib::Response& response);
  // /_sandbox/faults; returns the status answered.
  int AnswerControl(const httplib::Request& request, httplib::Response& response);
  // Before the body is read: a reset_before_request rule resets the
  // connection. True when it did (the request is then done).
  bool ResetBeforeRequest(const httplib::Request& request);
  void Log(const httplib::Request& request, int status, absl::Time start,
           const FaultRule* fault);

  const ServerOptions options_;
  const ListenAddress address_parts_;
  const std::string address_;
  Sandbox sandbox_;
  FaultInjector faults_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace sandbox
}  // namespace mxgate

#endif  // MXGATE_SANDBOX_SANDBOX_SERVER_H_
