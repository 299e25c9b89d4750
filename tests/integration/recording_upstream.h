// Test-only HTTP/1.1 upstream on 127.0.0.1:<ephemeral> that records each
// request exactly as it arrived (method, target, headers in order, body)
// and answers with a scripted response: a status and body, after a delay,
// or by closing the connection without an answer. Header-only.
#ifndef MXGATE_TESTS_INTEGRATION_RECORDING_UPSTREAM_H_
#define MXGATE_TESTS_INTEGRATION_RECORDING_UPSTREAM_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mxgate::testing {

struct RecordedRequest {
  std::string method;
  std::string target;                                        // path and query as sent
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  std::string body;
};

struct ScriptedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  absl::Duration delay = absl::ZeroDuration();
  // Read the request, then close the connection without answering.
  bool close_without_answer = false;
};

class RecordingUpstream {
 public:
  RecordingUpstream() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      std::perror("RecordingUpstream: bind 127.0.0.1:0");
      std::abort();
    }
    listen(listen_fd_, 64);
    socklen_t length = sizeof(address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~RecordingUpstream() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    absl::MutexLock lock(&mu_);
    for (int fd : connections_) shutdown(fd, SHUT_RDWR);
    mu_.Await(absl::Condition(
        // cppcheck-suppress constParameter ; absl::Condition wants bool (*)(T*), T = int
        +[](int* active) { return *active == 0; }, &active_));
  }

  int port() const { return port_; }
  std::string base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

  // The next request gets `response`; once the queue is empty, each
  // request gets the last response queued (or 200 with an empty body).
  void Enqueue(ScriptedResponse response) {
    absl::MutexLock lock(&mu_);
    script_.push_back(std::move(response));
  }

  std::vector<RecordedRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  // Connections accepted so far: fewer than requests means reuse.
  int connections() const {
    absl::MutexLock lock(&mu_);
    return connections_accepted_;
  }

  // Requests whose connection the client closed while the answer waited.
  int aborted() const {
    absl::MutexLock lock(&mu_);
    return aborted_;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        close(fd);
        continue;
      }
      ++active_;
      ++connections_accepted_;
      connections_.push_back(fd);
      std::thread([this, fd] { Serve(fd); }).detach();
    }
  }

  void Serve(int fd) {
    std::string buffer;
    while (true) {
      RecordedRequest request;
      if (!ReadRequest(fd, buffer, request)) break;
      ScriptedResponse response;
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
        if (!script_.empty()) {
          response = script_.front();
          if (script_.size() > 1) script_.pop_front();
        }
      }
      if (response.close_without_answer) break;
      if (!WaitUnlessClosed(fd, response.delay)) {
        absl::MutexLock lock(&mu_);
        ++aborted_;
        break;
      }
      std::string out = absl::StrCat("HTTP/1.1 ", response.status, " Scripted\r\n");
      for (const auto& [name, value] : response.headers) {
        absl::StrAppend(&out, name, ": ", value, "\r\n");
      }
      absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n\r\n",
                      response.body);
      if (send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) break;
    }
    close(fd);
    absl::MutexLock lock(&mu_);
    connections_.erase(std::find(connections_.begin(), connections_.end(), fd));
    --active_;
  }

  // Sleeps `delay`; false when the client closed the connection meanwhile.
  static bool WaitUnlessClosed(int fd, absl::Duration delay) {
    const absl::Time until = absl::Now() + delay;
    while (absl::Now() < until) {
      pollfd poll_fd{fd, POLLIN | POLLRDHUP, 0};
      const int left_ms = static_cast<int>(
          std::max<int64_t>(1, absl::ToInt64Milliseconds(until - absl::Now())));
      if (poll(&poll_fd, 1, std::min(left_ms, 50)) > 0) {
        char byte;
        if (recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) return false;
      }
    }
    return true;
  }

  static bool ReadRequest(int fd, std::string& buffer, RecordedRequest& request) {
    size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(fd, buffer)) return false;
    }
    std::vector<std::string> lines = absl::StrSplit(buffer.substr(0, head_end), "\r\n");
    std::vector<std::string> request_line = absl::StrSplit(lines[0], ' ');
    if (request_line.size() != 3) return false;
    request.method = request_line[0];
    request.target = request_line[1];
    size_t content_length = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      std::string name = lines[i].substr(0, colon);
      std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      if (absl::EqualsIgnoreCase(name, "Content-Length")) {
        (void)absl::SimpleAtoi(value, &content_length);
      }
      request.headers.emplace_back(std::move(name), std::move(value));
    }
    buffer.erase(0, head_end + 4);
    while (buffer.size() < content_length) {
      if (!ReadMore(fd, buffer)) return false;
    }
    request.body = buffer.substr(0, content_length);
    buffer.erase(0, content_length);
    return true;
  }

  static bool ReadMore(int fd, std::string& buffer) {
    char chunk[8192];
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable absl::Mutex mu_;
  std::deque<ScriptedResponse> script_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<int> connections_ ABSL_GUARDED_BY(mu_);
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  int aborted_ ABSL_GUARDED_BY(mu_) = 0;
  int connections_accepted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mxgate::testing

#endif  // MXGATE_TESTS_INTEGRATION_RECORDING_UPSTREAM_H_
