// DisableCoreDumps, in a forked child so that the test process keeps its
// own limits: the child reports each check in its exit code.
#include "service/process_hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace mxgate {
namespace {

enum ChildResult {
  kAllSet = 0,
  kCallFailed = 1,
  kCoreLimitNotZero = 2,
  kHardLimitRaisable = 3,
  kStillDumpable = 4,
};

// Runs in the child: only its exit code comes back.
ChildResult DisableAndCheck() {
  if (!DisableCoreDumps().ok()) return kCallFailed;
  rlimit core{};
  if (getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0) return kCoreLimitNotZero;
  if (core.rlim_max != 0) return kHardLimitRaisable;
  if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return kStillDumpable;
  return kAllSet;
}

TEST(ProcessHardening, LeavesNoCoreLimitAndAProcessThatIsNotDumpable) {
  // The child starts dumpable with some core limit, as the test does.
  ASSERT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(DisableAndCheck());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kAllSet);
}

}  // namespace
}  // namespace mxgate
