// Keeps mxgate's memory from leaving the process by a core dump or by
// another process of the same user reading it. mxgate holds the MX API key
// for its whole life and end users' bank credentials for a call's; a core
// file, written anywhere the machine's core_pattern says, would carry them.
// This file only sets the process's own limits; it does not wipe anything.
#ifndef MXGATE_SERVICE_PROCESS_HARDENING_H_
#define MXGATE_SERVICE_PROCESS_HARDENING_H_

#include "absl/status/status.h"

namespace mxgate {

// Sets the core-file size limit to 0, soft and hard (an unprivileged
// process cannot raise it again), and marks the process not dumpable
// (PR_SET_DUMPABLE 0: no core even under a raised limit, and no ptrace or
// /proc/PID/mem by other non-root processes). Call it at start, before any
// secret is read.
// Returns INTERNAL naming the call that failed.
absl::Status DisableCoreDumps();

}  // namespace mxgate

#endif  // MXGATE_SERVICE_PROCESS_HARDENING_H_
