#include "service/request_replay.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <iterator>
#include <memory>

namespace mxgate {
namespace {

// Fetched once: OpenSSL 3 looks the digest up in its provider tables on
// every call otherwise (access_log.cc measured 118 vs 433 ns).
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// Fills `key` from OpenSSL's CSPRNG; false when it cannot.
bool DrawKey(std::array<unsigned char, 32>& key) {
  return RAND_bytes(key.data(), static_cast<int>(key.size())) == 1 && Sha256() != nullptr;
}

}  // namespace

RequestReplay::Reservation::Reservation(RequestReplay* cache, absl::string_view user,
                                        absl::string_view request_id, uint64_t token)
    : cache_(cache), user_(user), request_id_(request_id), token_(token) {}

RequestReplay::Reservation::Reservation(Reservation&& other) noexcept
    : cache_(std::exchange(other.cache_, nullptr)),
      user_(std::move(other.user_)),
      request_id_(std::move(other.request_id_)),
      token_(other.token_) {}

RequestReplay::Reservation& RequestReplay::Reservation::operator=(
    Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    cache_ = std::exchange(other.cache_, nullptr);
    user_ = std::move(other.user_);
    request_id_ = std::move(other.request_id_);
    token_ = other.token_;
  }
  return *this;
}

RequestReplay::Reservation::~Reservation() { Release(); }

void RequestReplay::Reservation::Store(std::string response, absl::Time now) {
  if (cache_ == nullptr) return;
  cache_->Finish(*this, &response, now);
  cache_ = nullptr;
}

void RequestReplay::Reservation::Release() {
  if (cache_ == nullptr) return;
  cache_->Finish(*this, nullptr, absl::InfinitePast());
  cache_ = nullptr;
}

RequestReplay::RequestReplay(const Options& options)
    : max_entries_(options.max_entries > 0 && DrawKey(key_)
                       ? static_cast<size_t>(options.max_entries)
                       : 0),
      ttl_(options.ttl) {}

absl::optional<RequestReplay::Fingerprint> RequestReplay::FingerprintOf(
    absl::string_view request) const {
  if (!enabled()) return absl::nullopt;
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                        &EVP_MD_CTX_free);
  Fingerprint fingerprint;
  unsigned int length = 0;
  if (context == nullptr || EVP_DigestInit_ex(context.get(), Sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), key_.data(), key_.size()) != 1 ||
      EVP_DigestUpdate(context.get(), request.data(), request.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), fingerprint.data(), &length) != 1 ||
      length != fingerprint.size()) {
    return absl::nullopt;
  }
  return fingerprint;
}

RequestReplay::Decision RequestReplay::Begin(absl::string_view user,
                                             absl::string_view request_id,
                                             absl::string_view request, absl::Time now) {
  Decision decision;
  if (!enabled()) return decision;
  // Hashed before the lock: it is the costly part.
  const absl::optional<Fingerprint> fingerprint = FingerprintOf(request);
  if (!fingerprint.has_value()) return decision;  // as if the cache were off

  absl::MutexLock lock(&mu_);
  DropExpired(now);
  auto found = index_.find(KeyView(user, request_id));
  // The order is by time only as far as `now` never goes back: check each.
  if (found != index_.end() && Expired(*found->second, now)) {
    Erase(found->second);
    found = index_.end();
  }
  if (found != index_.end()) {
    const Entry& entry = *found->second;
    if (entry.fingerprint != *fingerprint) {
      decision.outcome = Outcome::kMismatch;
    } else if (!entry.stored) {
      decision.outcome = Outcome::kInProgress;
    } else {
      decision.outcome = Outcome::kReplay;
      decision.response = entry.response;
    }
    return decision;
  }

  while (order_.size() >= max_entries_) Erase(order_.begin());
  const uint64_t token = next_token_++;
  order_.push_back(Entry{std::string(user), std::string(request_id), *fingerprint, token,
                         /*stored=*/false, now, /*response=*/{}});
  const Entry& entry = order_.back();
  index_.emplace(KeyView(entry.user, entry.request_id), std::prev(order_.end()));
  decision.reservation = Reservation(this, user, request_id, token);
  return decision;
}

int RequestReplay::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(order_.size());
}

void RequestReplay::Finish(const Reservation& reservation, std::string* response,
                           absl::Time now) {
  absl::MutexLock lock(&mu_);
  const auto found = index_.find(KeyView(reservation.user_, reservation.request_id_));
  // Gone (expired, evicted), or reserved again since by another call.
  if (found == index_.end() || found->second->token != reservation.token_) return;
  const Order::iterator entry = found->second;
  if (response == nullptr) {
    Erase(entry);
    return;
  }
  entry->stored = true;
  entry->since = now;
  entry->response = std::move(*response);
  order_.splice(order_.end(), order_, entry);  // iterators stay valid
}

bool RequestReplay::Expired(const Entry& entry, absl::Time now) const {
  return entry.since + ttl_ <= now;
}

void RequestReplay::DropExpired(absl::Time now) {
  while (!order_.empty() && Expired(order_.front(), now)) Erase(order_.begin());
}

void RequestReplay::Erase(Order::iterator entry) {
  index_.erase(KeyView(entry->user, entry->request_id));  // views into *entry
  order_.erase(entry);
}

}  // namespace mxgate
