#include "client/terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

constexpr char kSecret[] = "s3cret-typed";

// Reads what is available on `fd` until `text` was seen or 5 s pass.
std::string ReadUntil(int fd, absl::string_view text, std::string* seen) {
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (!absl::StrContains(*seen, text) && absl::Now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buffer[256];
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    seen->append(buffer, static_cast<size_t>(n));
  }
  return *seen;
}

// Everything readable on `fd` within `wait`.
std::string Drain(int fd, absl::Duration wait = absl::Milliseconds(200)) {
  std::string seen;
  const absl::Time give_up = absl::Now() + wait;
  while (absl::Now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    char buffer[256];
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    seen.append(buffer, static_cast<size_t>(n));
  }
  return seen;
}

class Pty : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(openpty(&master_, &slave_, nullptr, nullptr, nullptr), 0);
  }
  void TearDown() override {
    close(master_);
    close(slave_);
  }
  bool EchoIsOn() {
    termios settings;
    EXPECT_EQ(tcgetattr(slave_, &settings), 0);
    return (settings.c_lflag & ECHO) != 0;
  }
  void Type(absl::string_view text) {
    ASSERT_EQ(write(master_, text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
  }

  int master_ = -1;
  int slave_ = -1;
};

TEST_F(Pty, CanPromptAndIsLive) {
  auto terminal = StdioTerminal(slave_, slave_, slave_);
  EXPECT_TRUE(terminal->CanPrompt());
  EXPECT_TRUE(terminal->IsLive());
}

TEST_F(Pty, HiddenPromptDoesNotEchoWhatIsTypedAndPutsEchoBack) {
  auto terminal = StdioTerminal(slave_, slave_, slave_);
  absl::optional<std::string> line;
  std::thread prompt([&] { line = terminal->Prompt("Password: ", /*hide_input=*/true); });
  std::string seen;
  ReadUntil(master_, "Password: ", &seen);
  EXPECT_FALSE(EchoIsOn());
  Type(absl::StrCat(kSecret, "\n"));
  prompt.join();
  seen += Drain(master_);
  EXPECT_THAT(line, Optional(std::string(kSecret)));
  EXPECT_EQ(seen, "Password: \r\n");  // the Enter, written for the person
  EXPECT_TRUE(EchoIsOn());
}

TEST_F(Pty, VisiblePromptEchoes) {
  auto terminal = StdioTerminal(slave_, slave_, slave_);
  absl::optional<std::string> line;
  std::thread prompt(
      [&] { line = terminal->Prompt("Username: ", /*hide_input=*/false); });
  std::string seen;
  ReadUntil(master_, "Username: ", &seen);
  Type("mxuser\n");
  prompt.join();
  seen += Drain(master_);
  EXPECT_THAT(line, Optional(std::string("mxuser")));
  EXPECT_EQ(seen, "Username: mxuser\r\n");
}

TEST_F(Pty, SignalDuringAHiddenPromptPutsEchoBackBeforeTheProcessEnds) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto terminal = StdioTerminal(slave_, slave_, slave_);
    terminal->Prompt("Password: ", /*hide_input=*/true);
    _exit(0);
  }
  std::string seen;
  ReadUntil(master_, "Password: ", &seen);
  EXPECT_FALSE(EchoIsOn());
  kill(child, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_TRUE(EchoIsOn());
}

// Pipes: a script's stdin and stdout.
class Pipes : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pipe(in_), 0);
    ASSERT_EQ(pipe(out_), 0);
    ASSERT_EQ(pipe(err_), 0);
    terminal_ = StdioTerminal(in_[0], out_[1], err_[1]);
  }
  void TearDown() override {
    for (int* fds : {in_, out_, err_}) {
      for (int i = 0; i < 2; ++i) {
        if (fds[i] >= 0) close(fds[i]);
      }
    }
  }
  void Input(absl::string_view text, bool then_end) {
    ASSERT_EQ(write(in_[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
    if (then_end) {
      close(in_[1]);
      in_[1] = -1;
    }
  }

  int in_[2] = {-1, -1};
  int out_[2] = {-1, -1};
  int err_[2] = {-1, -1};
  std::unique_ptr<Terminal> terminal_;
};

TEST_F(Pipes, AreNoTerminal) {
  EXPECT_FALSE(terminal_->CanPrompt());
  EXPECT_FALSE(terminal_->IsLive());
}

TEST_F(Pipes, PromptReadsOneLineAtATimeWithoutItsLineEnd) {
  Input("first\r\nsecond\nlast", /*then_end=*/true);
  EXPECT_THAT(terminal_->Prompt("1? ", false), Optional(std::string("first")));
  EXPECT_THAT(terminal_->Prompt("2? ", true), Optional(std::string("second")));
  EXPECT_THAT(terminal_->Prompt("3? ", false), Optional(std::string("last")));
  EXPECT_EQ(terminal_->Prompt("4? ", false), absl::nullopt);
  EXPECT_EQ(Drain(err_[0]), "1? 2? \n3? 4? ");  // prompts on stderr
  EXPECT_EQ(Drain(out_[0]), "");
}

TEST_F(Pipes, ProgressIsRedrawnInPlaceAndEndedBeforeOtherOutput) {
  terminal_->ShowProgress("CREATED  0.1s  |");
  terminal_->ShowProgress("CREATED  0.2s  /");
  terminal_->PrintLine("Connected.");
  terminal_->PrintLine("Bye.");
  EXPECT_EQ(Drain(out_[0]),
            "\rCREATED  0.1s  |\x1b[K\rCREATED  0.2s  /\x1b[K\nConnected.\nBye.\n");
}

TEST_F(Pipes, PromptAndErrorStartBelowTheProgressLine) {
  terminal_->ShowProgress("CHALLENGED  1.0s");
  Input("x\n", /*then_end=*/false);
  terminal_->Prompt("Answer: ", false);
  terminal_->ShowProgress("RESUMED  1.5s");
  terminal_->PrintError("{}\n");
  EXPECT_EQ(Drain(out_[0]), "\rCHALLENGED  1.0s\x1b[K\n\rRESUMED  1.5s\x1b[K\n");
  EXPECT_EQ(Drain(err_[0]), "Answer: {}\n");
}

}  // namespace
}  // namespace mxgate
