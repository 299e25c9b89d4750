// Spaces out WatchMemberStatus's polls of MX, so that many watchers cannot
// flood MX: at most one poll of a member per `member_interval`, and at most
// `polls_per_second` polls overall. Polls are not refused, they are placed
// later: Reserve() says when a poll may go. Thread-safe, no I/O.
#ifndef MXGATE_SERVICE_POLL_LIMITER_H_
#define MXGATE_SERVICE_POLL_LIMITER_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mxgate {

class PollLimiter {
 public:
  struct Options {
    absl::Duration member_interval = absl::Milliseconds(500);
    double polls_per_second = 50;
  };

  explicit PollLimiter(Options options);

  // Call when a poll of `member` is due (`now`). Returns the time it may be
  // sent, `now` or later, and takes that slot. Call it only when due, not
  // ahead of time: a slot reserved far ahead would hold back every poll.
  absl::Time Reserve(absl::string_view member, absl::Time now);

 private:
  const absl::Duration member_interval_;
  const absl::Duration global_interval_;
  absl::Mutex mu_;
  absl::Time next_global_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::flat_hash_map<std::string, absl::Time> next_by_member_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_POLL_LIMITER_H_
