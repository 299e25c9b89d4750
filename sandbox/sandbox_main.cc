// mx-sandbox: a local emulator of the MX Platform API's member flow
// (create, status, MFA, OAuth, delete), for mxgate's tests and demos.
// See mx_sandbox.h for what it answers.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "sandbox/mx_sandbox.h"
#include "sandbox/sandbox_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8089",
          "HOST:PORT to serve on; loopback only (localhost, 127.0.0.0/8, "
          "[::1]). Port 0 picks a free port; the real one is printed as "
          "`listening on HOST:PORT`.");
ABSL_FLAG(std::string, client_id, mxgate::sandbox::kDefaultClientId,
          "The client_id accepted in HTTP Basic auth.");
ABSL_FLAG(std::string, api_key, mxgate::sandbox::kDefaultApiKey,
          "The api_key accepted in HTTP Basic auth.");
ABSL_FLAG(int, latency_ms, 0,
          "Milliseconds added before every answer (the request takes effect "
          "at once), to exercise client deadlines.");
ABSL_FLAG(std::string, faults, "",
          "Fault rules active from the start, as the JSON array that POST "
          "/_sandbox/faults takes, e.g. "
          "'[{\"fault\":\"http_error\",\"status\":503,\"count\":1}]'. "
          "Faults: latency, http_error, reset_before_request, "
          "reset_after_request, truncated_body, malformed_body, "
          "oversized_body, endless_body, slow_body, close_after_response "
          "(sandbox/fault_injection.h). Empty: none.");
ABSL_FLAG(int, step_ms, mxgate::sandbox::kDefaultStepMs,
          "Milliseconds each aggregation step takes: a new mxbank member is "
          "CREATED for one step, then CONNECTED / CHALLENGED / DENIED / "
          "FAILED by its test password; a resumed or OAuth-authorized member "
          "likewise moves one step later. 0: at the next request.");

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "sandbox_main");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "Emulates the MX Platform API (members: create, read, status, "
      "challenges, resume, delete; OAuth) on loopback.\n"
      "Usage: mx-sandbox [--listen=127.0.0.1:8089] [--client_id=...] "
      "[--api_key=...] [--latency_ms=0] [--step_ms=1500] [--faults=JSON]");
  absl::ParseCommandLine(argc, argv);

  if (absl::GetFlag(FLAGS_latency_ms) < 0) {
    std::fprintf(stderr, "mx-sandbox: --latency_ms must be >= 0\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_step_ms) < 0) {
    std::fprintf(stderr, "mx-sandbox: --step_ms must be >= 0\n");
    return 2;
  }
  mxgate::sandbox::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.client_id = absl::GetFlag(FLAGS_client_id);
  options.api_key = absl::GetFlag(FLAGS_api_key);
  options.latency = absl::Milliseconds(absl::GetFlag(FLAGS_latency_ms));
  options.step = absl::Milliseconds(absl::GetFlag(FLAGS_step_ms));
  options.faults = absl::GetFlag(FLAGS_faults);

  auto server = mxgate::sandbox::SandboxServer::Bind(options);
  if (!server.ok()) {
    std::fprintf(stderr, "mx-sandbox: %s\n",
                 std::string(server.status().message()).c_str());
    // A usage error (bad address or rules) is 2, as for the other flags.
    return server.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::printf("listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);
  return (*server)->Serve() ? 0 : 1;
}
