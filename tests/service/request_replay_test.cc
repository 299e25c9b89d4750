#include "service/request_replay.h"

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace mxgate {
namespace {

using Outcome = RequestReplay::Outcome;

constexpr char kRequest[] = "serialized request A";
constexpr char kOtherRequest[] = "serialized request B";
constexpr char kAnswer[] = "serialized answer of A";

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

RequestReplay::Options Bounded(int entries, absl::Duration ttl = absl::Seconds(600)) {
  RequestReplay::Options options;
  options.max_entries = entries;
  options.ttl = ttl;
  return options;
}

// Reserves ("user-1", `request_id`) for kRequest at `now` and stores kAnswer.
void StoreAnswer(RequestReplay& cache, const std::string& request_id, absl::Time now) {
  RequestReplay::Decision first = cache.Begin("user-1", request_id, kRequest, now);
  ASSERT_EQ(first.outcome, Outcome::kProceed);
  ASSERT_TRUE(first.reservation.held());
  first.reservation.Store(kAnswer, now);
}

TEST(RequestReplay, ReservesTheFirstCallThenReplaysItsStoredAnswer) {
  RequestReplay cache(Bounded(10));
  ASSERT_TRUE(cache.enabled());
  RequestReplay::Decision first = cache.Begin("user-1", "rid-1", kRequest, kStart);
  EXPECT_EQ(first.outcome, Outcome::kProceed);
  EXPECT_TRUE(first.reservation.held());
  EXPECT_EQ(cache.size(), 1);

  first.reservation.Store(kAnswer, kStart + absl::Seconds(1));
  EXPECT_FALSE(first.reservation.held());

  for (int i = 0; i < 2; ++i) {  // a replay leaves the entry as it was
    RequestReplay::Decision retry =
        cache.Begin("user-1", "rid-1", kRequest, kStart + absl::Seconds(2));
    EXPECT_EQ(retry.outcome, Outcome::kReplay);
    EXPECT_EQ(retry.response, kAnswer);
    EXPECT_FALSE(retry.reservation.held());
  }
  EXPECT_EQ(cache.size(), 1);
}

TEST(RequestReplay, AnotherRequestWithTheKeyIsAMismatchStoredOrInFlight) {
  RequestReplay cache(Bounded(10));
  RequestReplay::Decision in_flight = cache.Begin("user-1", "rid-1", kRequest, kStart);
  ASSERT_EQ(in_flight.outcome, Outcome::kProceed);
  RequestReplay::Decision early = cache.Begin("user-1", "rid-1", kOtherRequest, kStart);
  EXPECT_EQ(early.outcome, Outcome::kMismatch);
  EXPECT_FALSE(early.reservation.held());

  in_flight.reservation.Store(kAnswer, kStart);
  RequestReplay::Decision late = cache.Begin("user-1", "rid-1", kOtherRequest, kStart);
  EXPECT_EQ(late.outcome, Outcome::kMismatch);
  EXPECT_TRUE(late.response.empty()) << "a mismatch must not see the stored answer";
  // The first request still replays.
  EXPECT_EQ(cache.Begin("user-1", "rid-1", kRequest, kStart).outcome, Outcome::kReplay);
}

TEST(RequestReplay, TheSameRequestWhileTheFirstIsInFlightIsInProgress) {
  RequestReplay cache(Bounded(10));
  RequestReplay::Decision first = cache.Begin("user-1", "rid-1", kRequest, kStart);
  ASSERT_EQ(first.outcome, Outcome::kProceed);
  RequestReplay::Decision second = cache.Begin("user-1", "rid-1", kRequest, kStart);
  EXPECT_EQ(second.outcome, Outcome::kInProgress);
  EXPECT_FALSE(second.reservation.held());
  EXPECT_EQ(cache.size(), 1);
}

TEST(RequestReplay, AReleasedKeyIsFreeAgainForTheNextCall) {
  RequestReplay cache(Bounded(10));
  RequestReplay::Decision failed = cache.Begin("user-1", "rid-1", kRequest, kStart);
  ASSERT_EQ(failed.outcome, Outcome::kProceed);
  failed.reservation.Release();
  EXPECT_FALSE(failed.reservation.held());
  EXPECT_EQ(cache.size(), 0);

  RequestReplay::Decision retry = cache.Begin("user-1", "rid-1", kRequest, kStart);
  EXPECT_EQ(retry.outcome, Outcome::kProceed);
  EXPECT_TRUE(retry.reservation.held());
}

TEST(RequestReplay, ADroppedReservationReleasesItsKey) {
  RequestReplay cache(Bounded(10));
  {
    RequestReplay::Decision abandoned = cache.Begin("user-1", "rid-1", kRequest, kStart);
    ASSERT_EQ(abandoned.outcome, Outcome::kProceed);
    // Moved from: only the new holder releases, once.
    RequestReplay::Reservation moved = std::move(abandoned.reservation);
    // NOLINTNEXTLINE(bugprone-use-after-move): what a move leaves is the point
    EXPECT_FALSE(abandoned.reservation.held());
    EXPECT_TRUE(moved.held());
    EXPECT_EQ(cache.size(), 1);
  }
  EXPECT_EQ(cache.size(), 0);
  EXPECT_EQ(cache.Begin("user-1", "rid-1", kRequest, kStart).outcome, Outcome::kProceed);
}

TEST(RequestReplay, KeysAreTheUserAndTheRequestIdTogether) {
  RequestReplay cache(Bounded(10));
  StoreAnswer(cache, "rid-1", kStart);
  // Another user, or another request_id: an unrelated call.
  EXPECT_EQ(cache.Begin("user-2", "rid-1", kOtherRequest, kStart).outcome,
            Outcome::kProceed);
  EXPECT_EQ(cache.Begin("user-1", "rid-2", kOtherRequest, kStart).outcome,
            Outcome::kProceed);
  // Pieces that concatenate alike are still different keys.
  StoreAnswer(cache, "ab", kStart);
  EXPECT_EQ(cache.Begin("user-1a", "b", kRequest, kStart).outcome, Outcome::kProceed);
}

TEST(RequestReplay, AnEntryExpiresTtlAfterItsAnswerAndIsDropped) {
  const absl::Duration ttl = absl::Seconds(60);
  RequestReplay cache(Bounded(10, ttl));
  const absl::Time answered = kStart + absl::Seconds(5);
  RequestReplay::Decision first = cache.Begin("user-1", "rid-1", kRequest, kStart);
  first.reservation.Store(kAnswer, answered);

  EXPECT_EQ(
      cache.Begin("user-1", "rid-1", kRequest, answered + ttl - absl::Nanoseconds(1))
          .outcome,
      Outcome::kReplay);
  // A replay did not extend it; at ttl it is gone, and the call goes to MX.
  RequestReplay::Decision expired =
      cache.Begin("user-1", "rid-1", kRequest, answered + ttl);
  EXPECT_EQ(expired.outcome, Outcome::kProceed);
  EXPECT_TRUE(expired.reservation.held());
  EXPECT_EQ(cache.size(), 1);  // the new reservation only
}

TEST(RequestReplay, ExpiredEntriesOfOtherKeysAreDroppedByTheNextCall) {
  const absl::Duration ttl = absl::Seconds(60);
  RequestReplay cache(Bounded(10, ttl));
  StoreAnswer(cache, "rid-1", kStart);
  StoreAnswer(cache, "rid-2", kStart + absl::Seconds(30));
  ASSERT_EQ(cache.size(), 2);

  const RequestReplay::Decision other =
      cache.Begin("user-9", "rid-9", kRequest, kStart + ttl);
  EXPECT_EQ(other.outcome, Outcome::kProceed);
  EXPECT_EQ(cache.size(), 2);  // rid-1 dropped, rid-9 reserved
  EXPECT_EQ(cache.Begin("user-1", "rid-2", kRequest, kStart + ttl).outcome,
            Outcome::kReplay);
}

TEST(RequestReplay, AnInFlightEntryExpiresTooAndItsLateAnswerIsNotStored) {
  const absl::Duration ttl = absl::Seconds(60);
  RequestReplay cache(Bounded(10, ttl));
  RequestReplay::Decision slow = cache.Begin("user-1", "rid-1", kRequest, kStart);
  RequestReplay::Decision next = cache.Begin("user-1", "rid-1", kRequest, kStart + ttl);
  ASSERT_EQ(next.outcome, Outcome::kProceed);

  // The first call's answer comes after its entry expired: the key now
  // belongs to the second call, which the late answer must not touch.
  slow.reservation.Store("late answer", kStart + ttl);
  EXPECT_EQ(cache.Begin("user-1", "rid-1", kRequest, kStart + ttl).outcome,
            Outcome::kInProgress);
  next.reservation.Store(kAnswer, kStart + ttl);
  RequestReplay::Decision replay = cache.Begin("user-1", "rid-1", kRequest, kStart + ttl);
  EXPECT_EQ(replay.outcome, Outcome::kReplay);
  EXPECT_EQ(replay.response, kAnswer);
}

TEST(RequestReplay, EvictsTheOldestEntryAtTheBound) {
  RequestReplay cache(Bounded(3));
  StoreAnswer(cache, "rid-1", kStart);
  StoreAnswer(cache, "rid-2", kStart + absl::Seconds(1));
  StoreAnswer(cache, "rid-3", kStart + absl::Seconds(2));
  ASSERT_EQ(cache.size(), 3);

  StoreAnswer(cache, "rid-4", kStart + absl::Seconds(3));
  EXPECT_EQ(cache.size(), 3);
  // rid-2 to rid-4 replay; rid-1, the oldest, went and goes to MX again
  // (which reserves it and evicts rid-2 in turn).
  for (const char* kept : {"rid-2", "rid-3", "rid-4"}) {
    EXPECT_EQ(cache.Begin("user-1", kept, kRequest, kStart + absl::Seconds(4)).outcome,
              Outcome::kReplay)
        << kept;
  }
  const RequestReplay::Decision again =
      cache.Begin("user-1", "rid-1", kRequest, kStart + absl::Seconds(4));
  EXPECT_EQ(again.outcome, Outcome::kProceed);
  EXPECT_EQ(cache.size(), 3);
}

TEST(RequestReplay, AnAnswerMakesItsEntryTheNewestForEviction) {
  RequestReplay cache(Bounded(2));
  RequestReplay::Decision slow = cache.Begin("user-1", "rid-1", kRequest, kStart);
  StoreAnswer(cache, "rid-2", kStart + absl::Seconds(1));
  slow.reservation.Store(kAnswer, kStart + absl::Seconds(2));  // now newer than rid-2

  StoreAnswer(cache, "rid-3", kStart + absl::Seconds(3));  // evicts rid-2
  EXPECT_EQ(cache.Begin("user-1", "rid-1", kRequest, kStart + absl::Seconds(4)).outcome,
            Outcome::kReplay);
  EXPECT_EQ(cache.Begin("user-1", "rid-2", kRequest, kStart + absl::Seconds(4)).outcome,
            Outcome::kProceed);
}

TEST(RequestReplay, AnEvictedReservationsAnswerIsNotStored) {
  RequestReplay cache(Bounded(1));
  RequestReplay::Decision evicted = cache.Begin("user-1", "rid-1", kRequest, kStart);
  StoreAnswer(cache, "rid-2", kStart);
  evicted.reservation.Store(kAnswer, kStart);
  EXPECT_EQ(cache.size(), 1);
  EXPECT_EQ(cache.Begin("user-1", "rid-2", kRequest, kStart).outcome, Outcome::kReplay);
}

TEST(RequestReplay, ZeroEntriesTurnsTheCacheOff) {
  RequestReplay cache(Bounded(0));
  EXPECT_FALSE(cache.enabled());
  EXPECT_FALSE(cache.FingerprintOf(kRequest).has_value()) << "no key was drawn";
  for (int i = 0; i < 2; ++i) {
    RequestReplay::Decision decision = cache.Begin("user-1", "rid-1", kRequest, kStart);
    EXPECT_EQ(decision.outcome, Outcome::kProceed);
    EXPECT_FALSE(decision.reservation.held());
    decision.reservation.Store(kAnswer, kStart);  // a no-op
  }
  EXPECT_EQ(cache.size(), 0);
}

TEST(RequestReplay, FingerprintsAreKeyedPerCache) {
  RequestReplay one(Bounded(10));
  RequestReplay two(Bounded(10));
  const auto a = one.FingerprintOf(kRequest);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(one.FingerprintOf(kRequest), a);
  EXPECT_NE(one.FingerprintOf(kOtherRequest), a);
  // Another key: the same request hashes otherwise, so a fingerprint says
  // nothing outside the process that made it.
  EXPECT_NE(two.FingerprintOf(kRequest), a);
}

// Threads race over a few keys. Each key's answer names the key, so a
// replay of the wrong answer, a lost reservation (a key forever in flight)
// or a broken bound shows. Under TSan (./scripts/test's tsan stage) any
// unguarded access shows too.
TEST(RequestReplay, StaysConsistentUnderConcurrentCalls) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  constexpr int kKeys = 16;
  constexpr int kBound = 8;
  RequestReplay cache(Bounded(kBound));
  std::atomic<int> wrong{0};
  std::atomic<int> replays{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string id = absl::StrCat("rid-", (i * 7 + t) % kKeys);
        RequestReplay::Decision decision =
            cache.Begin("user-1", id, kRequest, kStart + absl::Milliseconds(i));
        switch (decision.outcome) {
          case Outcome::kProceed:
            if (i % 3 == 0) {
              decision.reservation.Release();
            } else if (i % 3 == 1) {
              decision.reservation.Store("answer of " + id,
                                         kStart + absl::Milliseconds(i));
            }  // else dropped: released by its destructor
            break;
          case Outcome::kReplay:
            ++replays;
            if (decision.response != "answer of " + id) ++wrong;
            break;
          case Outcome::kInProgress:
            break;
          case Outcome::kMismatch:
            ++wrong;  // every call sends the same request
            break;
        }
        if (cache.size() > kBound) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(replays.load(), 0);
  // Nothing is left in flight: every key answers at once again.
  for (int k = 0; k < kKeys; ++k) {
    const Outcome outcome =
        cache.Begin("user-1", absl::StrCat("rid-", k), kRequest, kStart).outcome;
    EXPECT_NE(outcome, Outcome::kInProgress) << "rid-" << k;
  }
}

}  // namespace
}  // namespace mxgate
