#include "sandbox/sandbox_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace mxgate {
namespace sandbox {
namespace {

// Largest request body read, in bytes (/*1 MiB*/): a create-member body is
// well under 10 KiB.
constexpr size_t kMaxBodyBytes = 1 << 20;
// Requests served at once; --latency_ms holds a worker for its duration,
// so deadline tests that fire many slow calls need more than httplib's 8.
constexpr size_t kWorkerThreads = 32;

bool IsLoopbackHost(const std::string& host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&v6);
}

// The request path as a log-safe token: clients choose it, so control
// characters (a forged second log line) become '?'.
std::string LogSafe(absl::string_view text) {
  std::string safe(text);
  for (char& c : safe) {
    if (!absl::ascii_isgraph(c)) c = '?';
  }
  return safe;
}

SandboxOptions MakeSandboxOptions(const ServerOptions& options,
                                  const std::string& address) {
  SandboxOptions sandbox;
  sandbox.client_id = options.client_id;
  sandbox.api_key = options.api_key;
  sandbox.base_url = absl::StrCat("http://", address);
  sandbox.step = options.step;
  return sandbox;
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view listen) {
  const std::string bad =
      absl::StrCat("--listen=", listen, ": expected HOST:PORT or [::1]:PORT");
  ListenAddress address;
  absl::string_view port;
  if (absl::StartsWith(listen, "[")) {
    size_t close = listen.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(bad);
    }
    address.host = std::string(listen.substr(1, close - 1));
    port = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(bad);
    }
    address.host = std::string(listen.substr(0, colon));
    port = listen.substr(colon + 1);
    // An unbracketed IPv6 address is ambiguous.
    if (absl::StrContains(address.host, ':')) {
      return absl::InvalidArgumentError(bad);
    }
  }
  if (!absl::SimpleAtoi(port, &address.port) || address.port < 0 ||
      address.port > 65535 || address.host.empty()) {
    return absl::InvalidArgumentError(bad);
  }
  if (!IsLoopbackHost(address.host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen=", listen,
        ": refusing a non-loopback host; use localhost, 127.0.0.0/8 or "
        "[::1]"));
  }
  return address;
}

std::string FormatHostPort(const ListenAddress& address) {
  if (absl::StrContains(address.host, ':')) {
    return absl::StrCat("[", address.host, "]:", address.port);
  }
  return absl::StrCat(address.host, ":", address.port);
}

absl::StatusOr<std::unique_ptr<SandboxServer>> SandboxServer::Bind(
    const ServerOptions& options) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(options.listen);
  if (!address.ok()) return address.status();

  auto server = std::make_unique<httplib::Server>();
  // httplib writes headers and body separately; with Nagle on, every answer
  // after the first on a kept-alive connection waited ~40 ms for the
  // client's delayed ACK. MX answers at once.
  server->set_tcp_nodelay(true);
  ListenAddress bound = *address;
  if (bound.port == 0) {
    bound.port = server->bind_to_any_port(bound.host);
  } else if (!server->bind_to_port(bound.host, bound.port)) {
    bound.port = -1;
  }
  if (bound.port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  return std::unique_ptr<SandboxServer>(
      new SandboxServer(options, std::move(bound), std::move(server)));
}

SandboxServer::SandboxServer(const ServerOptions& options, ListenAddress bound,
                             std::unique_ptr<httplib::Server> server)
    : options_(options),
      address_parts_(std::move(bound)),
      address_(FormatHostPort(address_parts_)),
      sandbox_(MakeSandboxOptions(options, address_)),
      server_(std::move(server)) {
  server_->new_task_queue = [] {
    return new httplib::ThreadPool(kWorkerThreads);
  };
  server_->set_payload_max_length(kMaxBodyBytes);
  // Every method and path goes to the Sandbox, which owns routing and 404s.
  httplib::Server::Handler answer = [this](const httplib::Request& request,
                                           httplib::Response& response) {
    Answer(request, response);
  };
  server_->Get(".*", answer);
  server_->Post(".*", answer);
  server_->Put(".*", answer);
  server_->Patch(".*", answer);
  server_->Delete(".*", answer);
}

SandboxServer::~SandboxServer() { Shutdown(); }

bool SandboxServer::Serve() { return server_->listen_after_bind(); }

void SandboxServer::Shutdown() { server_->stop(); }

void SandboxServer::Answer(const httplib::Request& request,
                           httplib::Response& response) {
  const absl::Time start = absl::Now();
  SandboxRequest in;
  in.method = request.method;
  in.path = request.path;
  for (const auto& [name, value] : request.params)
    in.query.emplace(name, value);
  for (const auto& [name, value] : request.headers) {
    in.headers.emplace(absl::AsciiStrToLower(name), value);
  }
  in.body = request.body;

  SandboxResponse out = sandbox_.Handle(in);
  absl::SleepFor(options_.latency);
  response.status = out.status;
  // A 204 has neither body nor Content-Type.
  if (!out.content_type.empty()) {
    response.set_content(out.body, out.content_type.c_str());
  }

  if (options_.log != nullptr) {
    std::fprintf(options_.log, "%s %s %d %.1fms\n",
                 LogSafe(request.method).c_str(), LogSafe(request.path).c_str(),
                 out.status, absl::ToDoubleMilliseconds(absl::Now() - start));
    std::fflush(options_.log);
  }
}

}  // namespace sandbox
}  // namespace mxgate
