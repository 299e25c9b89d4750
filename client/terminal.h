// What mxgate-cli's interactive commands (connect) need from the person at
// the terminal: prompts, a read without echo for secrets, a status line
// redrawn in place, and plain output. An interface, so that the flows can
// be tested with a scripted terminal; StdioTerminal is the real one.
//
// Where things go: prompts and what belongs to them (menus, labels) on
// stderr, so that stdout can be redirected and the person still sees the
// questions; status lines and results on stdout; errors on stderr.
// Nothing here logs what was typed.
#ifndef MXGATE_CLIENT_TERMINAL_H_
#define MXGATE_CLIENT_TERMINAL_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace mxgate {

class Terminal {
 public:
  virtual ~Terminal() = default;

  // True when input comes from a terminal, so a missing value may be asked
  // for; false when it is a pipe or file (a script), which must give every
  // value by flag.
  virtual bool CanPrompt() = 0;

  // True when stdout is a terminal, so progress may be drawn in place with
  // ShowProgress; otherwise progress is printed as lines.
  virtual bool IsLive() = 0;

  // Shows `text` (may hold several lines, e.g. a menu; its last line is the
  // question) and reads one line, returned without its line end. With
  // `hide_input` what is typed is not echoed (passwords). nullopt when the
  // input ends (Ctrl-D) or cannot be read.
  virtual absl::optional<std::string> Prompt(absl::string_view text, bool hide_input) = 0;

  // Writes `line` and a newline to stdout.
  virtual void PrintLine(absl::string_view line) = 0;

  // Replaces the progress line on stdout with `line` (IsLive() only). The
  // next PrintLine, Prompt or PrintError starts below it.
  virtual void ShowProgress(absl::string_view line) = 0;

  // Writes `text` as is to stderr (e.g. an error as JSON).
  virtual void PrintError(absl::string_view text) = 0;
};

// The process's own terminal: reads `in_fd`, writes status to `out_fd` and
// prompts and errors to `err_fd` (0, 1 and 2 by default). While a hidden
// read runs, SIGINT, SIGTERM and SIGHUP first turn echo back on, so an
// interrupted password prompt does not leave the terminal silent.
std::unique_ptr<Terminal> StdioTerminal(int in_fd = 0, int out_fd = 1, int err_fd = 2);

}  // namespace mxgate

#endif  // MXGATE_CLIENT_TERMINAL_H_
