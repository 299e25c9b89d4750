#include "service/poll_limiter.h"

#include "gtest/gtest.h"

namespace mxgate {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

PollLimiter Limiter(absl::Duration member_interval, double polls_per_second) {
  PollLimiter::Options options;
  options.member_interval = member_interval;
  options.polls_per_second = polls_per_second;
  return PollLimiter(options);
}

TEST(PollLimiter, LetsAFirstPollGoAtOnce) {
  PollLimiter limiter = Limiter(absl::Milliseconds(500), 50);
  EXPECT_EQ(limiter.Reserve("u/m1", kT0), kT0);
}

TEST(PollLimiter, SpacesPollsOfOneMemberByTheMemberInterval) {
  PollLimiter limiter = Limiter(absl::Milliseconds(500), 1000);
  EXPECT_EQ(limiter.Reserve("u/m1", kT0), kT0);
  // Two more watchers of the same member, due at the same time.
  EXPECT_EQ(limiter.Reserve("u/m1", kT0), kT0 + absl::Milliseconds(500));
  EXPECT_EQ(limiter.Reserve("u/m1", kT0), kT0 + absl::Milliseconds(1000));
  // Due after its slot has passed: goes at once.
  EXPECT_EQ(limiter.Reserve("u/m1", kT0 + absl::Seconds(5)), kT0 + absl::Seconds(5));
}

TEST(PollLimiter, SpacesAllPollsByTheGlobalRate) {
  PollLimiter limiter = Limiter(absl::ZeroDuration(), 10);  // one per 100 ms
  EXPECT_EQ(limiter.Reserve("u/m1", kT0), kT0);
  EXPECT_EQ(limiter.Reserve("u/m2", kT0), kT0 + absl::Milliseconds(100));
  EXPECT_EQ(limiter.Reserve("u/m3", kT0), kT0 + absl::Milliseconds(200));
}

TEST(PollLimiter, BoundsAThousandWatchersToTheGlobalRate) {
  PollLimiter limiter = Limiter(absl::Milliseconds(500), 50);
  absl::Time last = absl::InfinitePast();
  for (int i = 0; i < 1000; ++i) {
    last = limiter.Reserve("u/m" + std::to_string(i), kT0);
  }
  // 1000 polls at 50 per second take 20 s: the 1000th goes at 19.98 s.
  EXPECT_EQ(last, kT0 + absl::Milliseconds(19980));
}

TEST(PollLimiter, MembersDoNotHoldEachOtherBackBeyondTheGlobalRate) {
  PollLimiter limiter = Limiter(absl::Seconds(10), 1000);
  EXPECT_EQ(limiter.Reserve("u/m1", kT0), kT0);
  EXPECT_EQ(limiter.Reserve("u/m2", kT0), kT0 + absl::Milliseconds(1));
}

TEST(PollLimiter, ForgetsMembersLongUnpolled) {
  PollLimiter limiter = Limiter(absl::Milliseconds(500), 1000);
  EXPECT_EQ(limiter.Reserve("u/m1", kT0), kT0);
  // Minutes later the member's entry was swept; the poll goes at once.
  const absl::Time later = kT0 + absl::Minutes(5);
  EXPECT_EQ(limiter.Reserve("u/m2", later), later);
  EXPECT_EQ(limiter.Reserve("u/m1", later + absl::Milliseconds(1)),
            later + absl::Milliseconds(1));
}

}  // namespace
}  // namespace mxgate
