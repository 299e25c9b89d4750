#include "sandbox/sandbox_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
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
// Connections the kernel queues for the acceptor (listen(2)'s backlog).
// Debian's httplib is built with 5: a gateway opening 20 connections at
// once saw the 6th onwards wait for a SYN retry (1 s, then 3 s). MX's edge
// has no such limit.
constexpr int kListenBacklog = 1024;

bool IsLoopbackHost(const std::string& host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
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

constexpr char kControlPrefix[] = "/_sandbox/";
constexpr char kFaultsPath[] = "/_sandbox/faults";

// The port and numeric host of a socket address; false for another family.
bool HostPort(const sockaddr_storage& address, std::string* host, int* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
    *port = ntohs(v4.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    *port = ntohs(v6.sin6_port);
  } else {
    return false;
  }
  *host = text;
  return true;
}

// The descriptor of the connection `request` came on, -1 if not found.
// cpp-httplib 0.11 hands handlers no socket, so it is found among the
// process's descriptors by its two endpoints, which identify it uniquely.
int FindConnection(const httplib::Request& request) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* entry = readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == dirfd(dir)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_size = sizeof(local), peer_size = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) {
      continue;
    }
    std::string local_host, peer_host;
    int local_port = 0, peer_port = 0;
    if (HostPort(local, &local_host, &local_port) &&
        HostPort(peer, &peer_host, &peer_port) && local_port == request.local_port &&
        peer_port == request.remote_port && peer_host == request.remote_addr) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  return found;
}

// Closes the connection under cpp-httplib's feet: the descriptor number is
// pointed at a fresh unconnected socket, so the socket itself is closed now
// while httplib keeps a valid descriptor (its reads and writes fail at once
// and it closes that placeholder; the number is never reused under it).
// `reset`: with SO_LINGER 0 the close sends RST, else an orderly FIN after
// what was written.
void CloseUnderneath(int fd, bool reset) {
  if (fd < 0) return;
  if (reset) {
    linger abort_on_close{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  }
  const int placeholder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (placeholder < 0) return;
  dup2(placeholder, fd);
  close(placeholder);
}

// What an after-request fault does to the answer MX (the Sandbox, or the
// http_error rule) gave.
void ApplyFault(const FaultRule& fault, const httplib::Request& request,
                const SandboxResponse& out, httplib::Response& response) {
  const std::string content_type =
      out.content_type.empty() ? "application/json" : out.content_type;
  switch (fault.fault) {
    case FaultKind::kResetAfterRequest:
      CloseUnderneath(FindConnection(request), /*reset=*/true);
      return;
    case FaultKind::kTruncatedBody: {
      // Content-Length promises the body and 64 bytes more; half the body
      // is sent, then the connection closes.
      auto body = std::make_shared<std::string>(out.body);
      response.set_content_provider(
          body->size() + 64, content_type,
          [body](size_t /*offset*/, size_t /*length*/, httplib::DataSink& sink) {
            sink.write(body->data(), body->size() / 2);
            return false;  // httplib then closes the connection
          });
      return;
    }
    case FaultKind::kMalformedBody:
      response.set_content(kMalformedBody, content_type.c_str());
      return;
    case FaultKind::kOversizedBody:
      response.set_content(
          PadJsonObject(out.body.empty() ? "{}" : out.body, fault.body_bytes),
          content_type.c_str());
      return;
    case FaultKind::kEndlessBody: {
      const size_t chunk = fault.chunk_bytes;
      const absl::Duration interval = absl::Milliseconds(fault.interval_ms);
      response.set_chunked_content_provider(
          content_type, [chunk, interval](size_t offset, httplib::DataSink& sink) {
            // An unterminated JSON string: no parser can finish early.
            const std::string piece =
                offset == 0 ? std::string(R"({"padding":")") : std::string(chunk, 'x');
            if (!sink.is_writable() || !sink.write(piece.data(), piece.size())) {
              return false;
            }
            absl::SleepFor(interval);
            return true;  // never sink.done(): the body never ends
          });
      return;
    }
    case FaultKind::kSlowBody: {
      auto body = std::make_shared<std::string>(out.body);
      const size_t chunk = fault.chunk_bytes;
      const absl::Duration interval = absl::Milliseconds(fault.interval_ms);
      response.set_content_provider(
          body->size(), content_type,
          [body, chunk, interval](size_t offset, size_t length, httplib::DataSink& sink) {
            if (offset > 0) absl::SleepFor(interval);
            return sink.write(body->data() + offset, std::min(chunk, length));
          });
      return;
    }
    case FaultKind::kCloseAfterResponse: {
      auto body = std::make_shared<std::string>(out.body);
      const int fd = FindConnection(request);
      response.set_content_provider(
          body->size(), content_type,
          [body, fd](size_t offset, size_t length, httplib::DataSink& sink) {
            const bool sent = sink.write(body->data() + offset, length);
            // The whole answer is out, announced as kept alive; now the
            // connection goes as an idle timeout would take it.
            CloseUnderneath(fd, /*reset=*/false);
            return sent;
          });
      return;
    }
    default:  // latency, http_error: the answer as it is
      if (!out.content_type.empty()) {
        response.set_content(out.body, out.content_type.c_str());
      }
      return;
  }
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
    return absl::InvalidArgumentError(
        absl::StrCat("--listen=", listen,
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
  absl::StatusOr<ListenAddress> listen_address = ParseListenAddress(options.listen);
  if (!listen_address.ok()) return listen_address.status();

  absl::StatusOr<std::vector<FaultRule>> faults =
      options.faults.empty() ? std::vector<FaultRule>() : ParseFaultRules(options.faults);
  if (!faults.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--faults: ", faults.status().message()));
  }

  auto server = std::make_unique<httplib::Server>();
  // httplib writes headers and body separately; with Nagle on, every answer
  // after the first on a kept-alive connection waited ~40 ms for the
  // client's delayed ACK. MX answers at once.
  server->set_tcp_nodelay(true);
  // httplib's backlog is compiled into it; listen(2) again on the bound
  // socket (found through the options hook, which sees it first) raises it.
  int listening = -1;
  server->set_socket_options([&listening](int socket) {
    httplib::default_socket_options(socket);
    listening = socket;
  });
  ListenAddress bound = *listen_address;
  if (bound.port == 0) {
    bound.port = server->bind_to_any_port(bound.host);
  } else if (!server->bind_to_port(bound.host, bound.port)) {
    bound.port = -1;
  }
  server->set_socket_options(httplib::default_socket_options);  // drops `listening`
  if (bound.port <= 0 || listen(listening, kListenBacklog) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  return std::unique_ptr<SandboxServer>(new SandboxServer(
      options, std::move(bound), std::move(server), *std::move(faults)));
}

SandboxServer::SandboxServer(const ServerOptions& options, ListenAddress bound,
                             std::unique_ptr<httplib::Server> server,
                             std::vector<FaultRule> faults)
    : options_(options),
      address_parts_(std::move(bound)),
      address_(FormatHostPort(address_parts_)),
      sandbox_(MakeSandboxOptions(options, address_)),
      server_(std::move(server)) {
  faults_.Set(std::move(faults));
  // Runs once the headers are read and before the body is.
  server_->set_pre_routing_handler(
      [this](const httplib::Request& request, httplib::Response& /*response*/) {
        return ResetBeforeRequest(request) ? httplib::Server::HandlerResponse::Handled
                                           : httplib::Server::HandlerResponse::Unhandled;
      });
  server_->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
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

bool SandboxServer::ResetBeforeRequest(const httplib::Request& request) {
  if (absl::StartsWith(request.path, kControlPrefix)) return false;
  absl::optional<FaultRule> fault =
      faults_.Pick(FaultPhase::kBeforeRequest, request.method, request.path);
  if (!fault.has_value()) return false;
  const absl::Time start = absl::Now();
  // The body, if any, is still unread in the socket: closing it with
  // unread data and SO_LINGER 0 sends RST.
  CloseUnderneath(FindConnection(request), /*reset=*/true);
  Log(request, 0, start, &*fault);
  return true;
}

void SandboxServer::Answer(const httplib::Request& request, httplib::Response& response) {
  const absl::Time start = absl::Now();
  if (request.path == kFaultsPath) {
    Log(request, AnswerControl(request, response), start, nullptr);
    return;
  }
  absl::optional<FaultRule> fault;
  if (!absl::StartsWith(request.path, kControlPrefix)) {
    fault = faults_.Pick(FaultPhase::kAfterRequest, request.method, request.path);
  }

  SandboxResponse out;
  if (fault.has_value() && fault->fault == FaultKind::kHttpError) {
    // A limiter or proxy in front of MX answers; MX never sees it.
    out.status = fault->status;
    out.content_type = "application/json";
    out.body = MxErrorBody(fault->status);
    if (fault->retry_after_s >= 0) {
      response.set_header("Retry-After", absl::StrCat(fault->retry_after_s));
    }
  } else {
    SandboxRequest in;
    in.method = request.method;
    in.path = request.path;
    for (const auto& [name, value] : request.params) in.query.emplace(name, value);
    for (const auto& [name, value] : request.headers) {
      in.headers.emplace(absl::AsciiStrToLower(name), value);
    }
    in.body = request.body;
    out = sandbox_.Handle(in);
  }
  absl::SleepFor(options_.latency);
  if (fault.has_value() && fault->fault == FaultKind::kLatency) {
    absl::SleepFor(absl::Milliseconds(fault->latency_ms));
  }
  response.status = out.status;
  if (fault.has_value()) {
    ApplyFault(*fault, request, out, response);
  } else if (!out.content_type.empty()) {
    // A 204 has neither body nor Content-Type.
    response.set_content(out.body, out.content_type.c_str());
  }
  Log(request, out.status, start, fault.has_value() ? &*fault : nullptr);
}

int SandboxServer::AnswerControl(const httplib::Request& request,
                                 httplib::Response& response) {
  // The listener is loopback already; this also refuses a peer that
  // reached it some other way (a forwarded port).
  if (!IsLoopbackHost(request.remote_addr)) {
    response.status = 403;
  } else if (request.method == "POST") {
    absl::StatusOr<std::vector<FaultRule>> rules = ParseFaultRules(request.body);
    if (!rules.ok()) {
      response.status = 400;
      std::string message(rules.status().message());
      // The message quotes the client's keys: keep the body valid JSON.
      for (char& c : message) {
        if (c == '"' || c == '\\' || !absl::ascii_isprint(c)) c = '\'';
      }
      response.set_content(absl::StrCat(R"({"error":{"message":")", message, R"("}})"),
                           "application/json");
      return response.status;
    }
    faults_.Set(*std::move(rules));
    response.status = 200;
  } else if (request.method == "DELETE") {
    faults_.Clear();
    response.status = 200;
  } else if (request.method == "GET") {
    response.status = 200;
  } else {
    response.status = 405;
  }
  if (response.status == 200) {
    response.set_content(faults_.StatsJson(), "application/json");
  }
  return response.status;
}

void SandboxServer::Log(const httplib::Request& request, int status, absl::Time start,
                        const FaultRule* fault) {
  if (options_.log == nullptr) return;
  const std::string injected =
      fault == nullptr ? "" : absl::StrCat(" fault=", FaultName(fault->fault));
  std::fprintf(options_.log, "%s %s %d %.1fms%s\n", LogSafe(request.method).c_str(),
               LogSafe(request.path).c_str(), status,
               absl::ToDoubleMilliseconds(absl::Now() - start), injected.c_str());
  std::fflush(options_.log);
}

}  // namespace sandbox
}  // namespace mxgate
