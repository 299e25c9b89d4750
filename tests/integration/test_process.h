// Test-only helpers for integration tests: run a real binary as a child
// process and learn the port it chose from its `listening on HOST:PORT`
// line. Header-only; used by every *_integration_test.cc.
#ifndef MXGATE_TESTS_INTEGRATION_TEST_PROCESS_H_
#define MXGATE_TESTS_INTEGRATION_TEST_PROCESS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mxgate::testing {

class ChildProcess {
 public:
  // Starts `argv` (argv[0] a path) with the current environment, less
  // `unset_env`, plus `env`. Stdout is read by WaitForListening; stderr
  // goes to a file read by Stderr().
  explicit ChildProcess(std::vector<std::string> argv,
                        const std::map<std::string, std::string>& env = {},
                        const std::vector<std::string>& unset_env = {}) {
    int out[2];
    if (pipe(out) != 0) std::abort();
    char stderr_template[] = "/tmp/mxgate-test-stderr-XXXXXX";
    const int err_fd = mkstemp(stderr_template);
    stderr_path_ = stderr_template;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(err_fd, STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      for (const std::string& name : unset_env) unsetenv(name.c_str());
      for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
      std::vector<char*> args;
      args.reserve(argv.size() + 1);
      for (std::string& arg : argv) args.push_back(arg.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(err_fd);
    stdout_fd_ = out[0];
    name_ = argv[0].substr(argv[0].rfind('/') + 1);
  }

  ~ChildProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_fd_);
    KeepOrRemoveStderr();
  }

  // Reads stdout until a line `listening on HOST:PORT`; returns HOST:PORT,
  // or "" when the process exits or `timeout` passes first.
  std::string WaitForListening(absl::Duration timeout = absl::Seconds(20)) {
    return WaitForLine("listening on ", timeout);
  }

  // Reads stdout until a line starting with `prefix`; returns the rest of
  // that line, or "" when the process exits or `timeout` passes first.
  std::string WaitForLine(absl::string_view prefix,
                          absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      size_t newline;
      while ((newline = stdout_.find('\n')) != std::string::npos) {
        std::string line = stdout_.substr(0, newline);
        stdout_.erase(0, newline + 1);
        if (absl::StartsWith(line, prefix)) return line.substr(prefix.size());
      }
      pollfd fd{stdout_fd_, POLLIN, 0};
      if (poll(&fd, 1, 100) > 0) {
        char buffer[4096];
        const ssize_t n = read(stdout_fd_, buffer, sizeof(buffer));
        if (n <= 0) return "";
        stdout_.append(buffer, static_cast<size_t>(n));
      }
    }
    return "";
  }

  // Waits for the process to exit by itself; returns its exit code, or -1
  // when it had to be killed after `timeout`.
  int WaitForExit(absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time give_up = absl::Now() + timeout;
    int status = 0;
    while (absl::Now() < give_up) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exited_ = true;
    return -1;
  }

  pid_t pid() const { return pid_; }

  // The process's resident set (VmRSS) in KiB, from /proc; -1 if gone.
  long ResidentKib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (absl::StartsWith(line, "VmRSS:")) return std::atol(line.c_str() + 6);
    }
    return -1;
  }

  // Sends `signal_number` (e.g. SIGTERM) and returns at once.
  void Signal(int signal_number) { kill(pid_, signal_number); }

  // SIGTERM, then WaitForExit.
  int Terminate() {
    kill(pid_, SIGTERM);
    return WaitForExit();
  }

  std::string Stderr() const {
    std::ifstream in(stderr_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool exited_ = false;
  std::string stdout_;
  // With MXGATE_TEST_LOG_DIR set (./scripts/test sets it), the stderr of
  // every process a test started is kept there as NAME.PID.log, so the
  // logs of a whole run can be searched for secrets afterwards.
  void KeepOrRemoveStderr() {
    const char* log_dir = std::getenv("MXGATE_TEST_LOG_DIR");
    if (log_dir != nullptr && *log_dir != '\0') {
      const std::string kept =
          std::string(log_dir) + "/" + name_ + "." + std::to_string(pid_) + ".log";
      std::ifstream in(stderr_path_, std::ios::binary);
      std::ofstream out(kept, std::ios::binary);
      out << in.rdbuf();
    }
    unlink(stderr_path_.c_str());
  }

  std::string name_;  // argv[0]'s file name
  std::string stderr_path_;
};

// GET `url` (http://127.0.0.1:PORT/path only) and return the body; "" on
// any failure. Enough for the sandbox's control endpoint.
inline std::string HttpGet(const std::string& url) {
  absl::string_view rest(url);
  if (!absl::ConsumePrefix(&rest, "http://")) return "";
  const size_t slash = rest.find('/');
  const std::string authority(rest.substr(0, slash));
  const std::string path(slash == absl::string_view::npos ? "/" : rest.substr(slash));
  const size_t colon = authority.rfind(':');
  const int port = std::atoi(authority.c_str() + colon + 1);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, authority.substr(0, colon).c_str(), &address.sin_addr);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = absl::StrCat(
        "GET ", path, " HTTP/1.1\r\nHost: ", authority, "\r\nConnection: close\r\n\r\n");
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char chunk[4096];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0) response.append(chunk, n);
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

inline std::string BinPath(absl::string_view name) {
  return absl::StrCat(MXGATE_BIN_DIR, "/", name);
}

}  // namespace mxgate::testing

#endif  // MXGATE_TESTS_INTEGRATION_TEST_PROCESS_H_
