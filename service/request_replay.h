// The replay cache of CreateMember's `request_id` (AIP-155): on the replica
// that answered a create, a retry with the same request_id and the same
// request gets the first call's exact answer, and MX is not called again.
// A thread-safe map, bounded in entries and in time, with no I/O.
//
// What it decides, for a key (user_identifier, request_id) and a request:
//  - no entry: the key is reserved (in flight) and the caller calls MX. An
//    OK answer is then stored; any failure (a cancel too) releases the key,
//    so a retry goes to MX again. A Reservation releases itself when
//    dropped, so no path can leave a key in flight.
//  - an entry for a different request (another fingerprint): kMismatch,
//    whether that entry is stored or in flight.
//  - an entry in flight for the same request: kInProgress.
//  - a stored entry for the same request: kReplay, with the stored answer.
// Entries count for `ttl` from their reservation, then from their answer
// (a replay does not extend it); beyond `max_entries` the oldest goes, in
// flight or not. An entry that expired or went is simply absent: its
// retry calls MX, and MX's 409 on the member id keeps that safe.
//
// A request is known only by its fingerprint: SHA-256 of a random key
// drawn once per cache, followed by the request's bytes (its deterministic
// serialization, credentials included). Only those 32 bytes are kept: no
// request, no credential value. The key makes a fingerprint useless
// outside this process (it cannot confirm a guessed password).
//
// Does not: know gRPC, protobuf or MX; serialize anything; reach other
// replicas or survive a restart (there, a retry meets MX's 409 and gets
// the member read back: CREATE_MEMBER_OUTCOME_ALREADY_CREATED).
#ifndef MXGATE_SERVICE_REQUEST_REPLAY_H_
#define MXGATE_SERVICE_REQUEST_REPLAY_H_

#include <array>
#include <cstdint>
#include <list>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace mxgate {

class RequestReplay {
 public:
  struct Options {
    // Entries kept at most (in flight and stored); 0 turns the cache off.
    // Memory is about this times (an answer's size + ~300 bytes).
    int max_entries = 10000;
    // How long an entry counts: /*10 min*/ covers a client's retries with
    // backoff, and is far shorter than MX keeps the member.
    absl::Duration ttl = absl::Seconds(600);
  };

  using Fingerprint = std::array<unsigned char, 32>;

  // The right, and the duty, of the call that reserved a key to say how it
  // ended. Move-only; one that is dropped while held releases the key.
  // The cache must outlive it.
  class Reservation {
   public:
    Reservation() = default;  // holds nothing
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();

    bool held() const { return cache_ != nullptr; }

    // The call succeeded: later calls with this key and request get
    // `response` (the answer, serialized) until `now` + ttl. Then no longer
    // held. A no-op when not held, or when the entry expired or was evicted
    // meanwhile.
    void Store(std::string response, absl::Time now);
    // The call failed or was cancelled: the key is free, so its retry goes
    // to MX. Then no longer held; a no-op when not held.
    void Release();

   private:
    friend class RequestReplay;
    Reservation(RequestReplay* cache, absl::string_view user,
                absl::string_view request_id, uint64_t token);

    RequestReplay* cache_ = nullptr;
    std::string user_;
    std::string request_id_;
    uint64_t token_ = 0;  // tells this reservation from a later one of the key
  };

  enum class Outcome {
    kProceed,     // call MX; `reservation` records how the call ended
    kReplay,      // answer `response`; MX not called
    kMismatch,    // the key belongs to a different request; MX not called
    kInProgress,  // the key's first call has not ended; MX not called
  };

  struct Decision {
    Outcome outcome = Outcome::kProceed;
    // kProceed: held, except when the cache is off or could not hash.
    Reservation reservation;
    // kReplay: the stored answer.
    std::string response;
  };

  // Draws the fingerprint key. Should the system give no random bytes, the
  // cache stays off (enabled() is false) rather than use a guessable key.
  explicit RequestReplay(const Options& options);
  RequestReplay(const RequestReplay&) = delete;
  RequestReplay& operator=(const RequestReplay&) = delete;

  // False when max_entries is 0: Begin then always proceeds, holding
  // nothing, and nothing is ever kept.
  bool enabled() const { return max_entries_ > 0; }

  // The fingerprint of `request` (a request's deterministic serialization)
  // under this cache's key; nullopt when the cache is off (it then drew no
  // key) or OpenSSL fails.
  absl::optional<Fingerprint> FingerprintOf(absl::string_view request) const;

  // The decision for a call of `user` with `request_id` and `request` (its
  // serialized bytes, which are hashed and not kept), at `now`. Entries
  // expired at `now` are dropped first. Thread-safe, as is everything here.
  Decision Begin(absl::string_view user, absl::string_view request_id,
                 absl::string_view request, absl::Time now);

  // Entries kept now, expired ones included until the next Begin.
  int size() const;

 private:
  struct Entry {
    std::string user;
    std::string request_id;
    Fingerprint fingerprint;
    uint64_t token;
    bool stored;           // false: in flight
    absl::Time since;      // of the reservation, then of the answer
    std::string response;  // when stored
  };
  // Oldest first: an entry moves to the end when its answer is stored.
  using Order = std::list<Entry>;
  // (user, request_id), viewing the entry's own strings: list nodes stay
  // put, so the views stay valid until the entry is erased.
  using KeyView = std::pair<absl::string_view, absl::string_view>;

  // Stores `response`, or releases the key when it is null, if the entry
  // of `reservation` is still there.
  void Finish(const Reservation& reservation, std::string* response, absl::Time now);
  bool Expired(const Entry& entry, absl::Time now) const;
  void DropExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Erase(Order::iterator entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Declared before max_entries_, whose initializer draws it.
  std::array<unsigned char, 32> key_{};
  // 0 (off) also when no key could be drawn.
  const size_t max_entries_;
  const absl::Duration ttl_;

  mutable absl::Mutex mu_;
  Order order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<KeyView, Order::iterator> index_ ABSL_GUARDED_BY(mu_);
  uint64_t next_token_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_REQUEST_REPLAY_H_
