#include "service/poll_limiter.h"

#include <algorithm>

namespace mxgate {

PollLimiter::PollLimiter(Options options)
    : member_interval_(options.member_interval),
      global_interval_(absl::Seconds(1) / std::max(options.polls_per_second, 1e-3)) {}

absl::Time PollLimiter::Reserve(absl::string_view member, absl::Time now) {
  absl::MutexLock lock(&mu_);
  // Forget members not polled for a while, so the map holds only watched
  // members (a sweep at most once per minute keeps this cheap).
  if (now - last_sweep_ > absl::Minutes(1)) {
    absl::erase_if(next_by_member_,
                   [&](const auto& entry) { return entry.second < now; });
    last_sweep_ = now;
  }
  absl::Time& next_member = next_by_member_[member];  // InfinitePast if new
  absl::Time slot = std::max({now, next_member, next_global_});
  next_member = slot + member_interval_;
  next_global_ = slot + global_interval_;
  return slot;
}

}  // namespace mxgate
