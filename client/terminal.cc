#include "client/terminal.h"

#include <errno.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace mxgate {
namespace {

// What a hidden read changed, for the signal handler to put back. Only one
// hidden read runs at a time: prompts are answered one by one.
volatile sig_atomic_t g_hidden_fd = -1;
termios g_saved_settings;
constexpr int kRestoringSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_previous_actions[3];

// Async-signal-safe: turns echo back on, then lets the signal do what it
// would have done without us (usually end the process).
void RestoreEchoAndReraise(int signal_number) {
  if (g_hidden_fd >= 0) tcsetattr(g_hidden_fd, TCSANOW, &g_saved_settings);
  for (int i = 0; i < 3; ++i) {
    if (kRestoringSignals[i] == signal_number) {
      sigaction(signal_number, &g_previous_actions[i], nullptr);
    }
  }
  raise(signal_number);
}

void WriteAll(int fd, absl::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to write: nothing better to do
    text.remove_prefix(static_cast<size_t>(n));
  }
}

// One line from `fd`, read a byte at a time so that nothing after the line
// is consumed (the next prompt reads it). nullopt at end of input before
// any byte.
absl::optional<std::string> ReadLine(int fd) {
  std::string line;
  char c;
  while (true) {
    const ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (line.empty()) return absl::nullopt;
      break;
    }
    if (c == '\n') break;
    line.push_back(c);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Echo off for as long as it lives, when `fd` is a terminal.
class EchoOff {
 public:
  explicit EchoOff(int fd) {
    termios settings;
    if (tcgetattr(fd, &settings) != 0) return;
    g_saved_settings = settings;
    g_hidden_fd = fd;
    struct sigaction action {};
    action.sa_handler = RestoreEchoAndReraise;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < 3; ++i) {
      sigaction(kRestoringSignals[i], &action, &g_previous_actions[i]);
    }
    settings.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    // TCSANOW, not TCSAFLUSH: keep what was typed ahead of the prompt.
    active_ = tcsetattr(fd, TCSANOW, &settings) == 0;
    if (!active_) Restore();
  }
  ~EchoOff() {
    if (active_) Restore();
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  void Restore() {
    tcsetattr(g_hidden_fd, TCSANOW, &g_saved_settings);
    g_hidden_fd = -1;
    for (int i = 0; i < 3; ++i) {
      sigaction(kRestoringSignals[i], &g_previous_actions[i], nullptr);
    }
  }

  bool active_ = false;
};

class FdTerminal final : public Terminal {
 public:
  FdTerminal(int in_fd, int out_fd, int err_fd)
      : in_fd_(in_fd), out_fd_(out_fd), err_fd_(err_fd) {}

  bool CanPrompt() override { return isatty(in_fd_) == 1; }
  bool IsLive() override { return isatty(out_fd_) == 1; }

  absl::optional<std::string> Prompt(absl::string_view text, bool hide_input) override {
    EndProgress();
    if (!hide_input) {
      WriteAll(err_fd_, text);
      return ReadLine(in_fd_);
    }
    absl::optional<std::string> line;
    {
      // Echo goes off before the prompt shows, so that nothing typed in
      // answer to it can be echoed.
      EchoOff echo_off(in_fd_);
      WriteAll(err_fd_, text);
      line = ReadLine(in_fd_);
    }
    WriteAll(err_fd_, "\n");  // the Enter typed was not echoed either
    return line;
  }

  void PrintLine(absl::string_view line) override {
    EndProgress();
    WriteAll(out_fd_, absl::StrCat(line, "\n"));
  }

  void ShowProgress(absl::string_view line) override {
    // Back to the line's start, the new text, then erase what a longer
    // previous text left.
    WriteAll(out_fd_, absl::StrCat("\r", line, "\x1b[K"));
    progress_shown_ = true;
  }

  void PrintError(absl::string_view text) override {
    EndProgress();
    WriteAll(err_fd_, text);
  }

 private:
  void EndProgress() {
    if (progress_shown_) WriteAll(out_fd_, "\n");
    progress_shown_ = false;
  }

  const int in_fd_;
  const int out_fd_;
  const int err_fd_;
  bool progress_shown_ = false;
};

}  // namespace

std::unique_ptr<Terminal> StdioTerminal(int in_fd, int out_fd, int err_fd) {
  return std::make_unique<FdTerminal>(in_fd, out_fd, err_fd);
}

}  // namespace mxgate
