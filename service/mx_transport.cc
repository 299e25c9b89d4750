#include "service/mx_transport.h"

#include <curl/curl.h>
#include <string.h>  // explicit_bzero
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <map>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "service/status_details.h"

namespace mxgate {
namespace {

absl::once_flag curl_init_once;

// MX's answers carry a few hundred bytes of headers.
constexpr size_t kMaxHeaderBytes = 64 << 10;

// Zeroes `text` in a way the compiler cannot drop as a dead store.
void Wipe(std::string& text) {
  if (!text.empty()) explicit_bzero(text.data(), text.size());
}

// One transfer from Send() to its callback. Owned by the loop.
struct Transfer {
  // The body holds end users' credentials and a header the API key: zeroed
  // before their memory goes back to the allocator, not left in freed
  // blocks.
  ~Transfer() {
    Wipe(request.body);
    for (auto& [name, value] : request.headers) Wipe(value);
  }

  HttpTransport::TransferId id = 0;
  HttpRequest request;
  HttpTransport::Callback done;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpResponse response;
  size_t max_response_bytes = 0;
  size_t header_bytes = 0;
  bool too_large = false;
  bool attempted = false;       // OnPrerequest ran in this attempt
  bool resend_refused = false;  // OnPrerequest stopped a send
  int retries = 0;              // our own, after a failed attempt
  int sends = 0;                // copies handed to the wire, libcurl's included
  int max_sends = 1;            // RetryOptions::max_attempts
  char error_buffer[CURL_ERROR_SIZE] = {};
};

// Failures for which sending again could help: nothing reached MX, and the
// cause may pass (a refused or timed-out connect, a reset connection), not
// a certificate or URL that will fail the same way.
bool MayPass(CURLcode code) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return false;
    default:
      return true;
  }
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (transfer->response.body.size() + bytes > transfer->max_response_bytes) {
    transfer->too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  transfer->response.body.append(data, bytes);
  return bytes;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  // Headers count against the same limit as the body: an endless stream of
  // header lines must not grow memory either.
  transfer->header_bytes += bytes;
  if (transfer->header_bytes > kMaxHeaderBytes) {
    transfer->too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  absl::string_view line(data, bytes);
  // A new status line (after `100 Continue`, say) starts a new header set.
  if (absl::StartsWith(line, "HTTP/")) {
    transfer->response.headers.clear();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return bytes;  // blank end line
  transfer->response.headers.emplace_back(
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon))),
      std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  return bytes;
}

// Only reads may be sent twice. PUT resume answers MFA and DELETE removes a
// member: a second copy could answer twice or turn a done delete into 404.
bool IsSafeToResend(absl::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

// Runs before each copy of the request is sent. When a reused connection
// dies before any answer byte, libcurl sends the request again on a fresh
// one ("Connection died, retrying a fresh connect"), even a POST. MX may
// have acted on the first copy (created the member), so a request that is
// not a read gets one copy per attempt only. And every copy counts against
// RetryOptions::max_attempts, libcurl's as well as ours: a read whose
// connections keep dying reaches MX at most that many times.
int OnPrerequest(void* user, char* /*primary_ip*/, char* /*local_ip*/,
                 int /*primary_port*/, int /*local_port*/) {
  auto* transfer = static_cast<Transfer*>(user);
  const bool unsafe_resend = transfer->attempted &&
                             !IsSafeToResend(transfer->request.method) &&
                             !transfer->request.idempotent;
  if (unsafe_resend || transfer->sends >= transfer->max_sends) {
    transfer->resend_refused = true;
    return CURL_PREREQFUNC_ABORT;
  }
  transfer->attempted = true;
  ++transfer->sends;
  return CURL_PREREQFUNC_OK;
}

// Whether libcurl gave up before any byte of the request left: then MX
// cannot have acted on it and the failure is plain UNAVAILABLE.
bool FailedBeforeSending(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return true;
    default:
      return false;
  }
}

}  // namespace

class CurlTransport::Loop {
 public:
  // Connection counts, for metrics: curl opens and closes every socket
  // through these (the close hook is kept with the connection, so it runs
  // whichever handle closes it).
  std::atomic<int64_t> open_connections{0};
  std::atomic<int64_t> connections_opened{0};
  std::atomic<int64_t> retries{0};

  explicit Loop(Options options) : options_(std::move(options)), budget_(options_.retry) {
    absl::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = wake_;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &event);
    // One TLS session and DNS cache for every handle: a new connection to
    // MX resumes a session another handle made instead of a full
    // handshake. Only the loop thread uses them, so no lock.
    share_ = curl_share_init();
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options_.max_idle_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                      options_.max_host_connections);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, OnSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, OnTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    thread_ = std::thread([this] { Run(); });
  }

  ~Loop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    Wake();
    thread_.join();
    for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi_);
    curl_share_cleanup(share_);  // after the handles that use it
    close(wake_);
    close(epoll_);
  }

  TransferId Send(HttpRequest request, Callback done) {
    budget_.Deposit();
    auto transfer = std::make_unique<Transfer>();
    transfer->request = std::move(request);
    transfer->done = std::move(done);
    transfer->max_response_bytes = options_.max_response_bytes;
    transfer->max_sends = std::max(options_.retry.max_attempts, 1);
    TransferId id;
    bool wake;
    {
      absl::MutexLock lock(&mu_);
      id = transfer->id = next_id_++;
      incoming_.push_back(std::move(transfer));
      wake = std::exchange(sleeping_, false);
    }
    if (wake) Wake();
    return id;
  }

  void Cancel(TransferId id) {
    bool wake;
    {
      absl::MutexLock lock(&mu_);
      cancelled_.push_back(id);
      wake = std::exchange(sleeping_, false);
    }
    if (wake) Wake();
  }

 private:
  static curl_socket_t OnOpenSocket(void* user, curlsocktype /*purpose*/,
                                    curl_sockaddr* address) {
    const curl_socket_t fd =
        socket(address->family, address->socktype, address->protocol);
    if (fd != CURL_SOCKET_BAD) {
      auto* loop = static_cast<Loop*>(user);
      loop->open_connections.fetch_add(1, std::memory_order_relaxed);
      loop->connections_opened.fetch_add(1, std::memory_order_relaxed);
    }
    return fd;
  }

  static int OnCloseSocket(void* user, curl_socket_t fd) {
    static_cast<Loop*>(user)->open_connections.fetch_sub(1, std::memory_order_relaxed);
    return close(fd);
  }

  // libcurl says which sockets to watch for what; epoll watches them, so a
  // wake-up costs the sockets that are ready, not every open transfer.
  static int OnSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* user,
                      void* /*socket_data*/) {
    const int epoll = static_cast<Loop*>(user)->epoll_;
    if (what == CURL_POLL_REMOVE) {
      // Fails harmlessly when curl already closed the socket (epoll then
      // dropped it itself).
      epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
      return 0;
    }
    epoll_event event{};
    event.events = ((what & CURL_POLL_IN) != 0 ? EPOLLIN : 0u) |
                   ((what & CURL_POLL_OUT) != 0 ? EPOLLOUT : 0u);
    event.data.fd = fd;
    // curl does not say whether it has told us of this socket before.
    if (epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event) != 0 && errno == ENOENT) {
      epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
    }
    return 0;
  }

  // -1: no timeout wanted; 0: act at once.
  static int OnTimer(CURLM* /*multi*/, long timeout_ms, void* user) {
    auto* loop = static_cast<Loop*>(user);
    loop->curl_timer_ = timeout_ms < 0 ? absl::InfiniteFuture()
                                       : absl::Now() + absl::Milliseconds(timeout_ms);
    return 0;
  }

  void Wake() {
    const uint64_t one = 1;
    // Fails only when the counter is full, and then the loop wakes anyway.
    (void)!write(wake_, &one, sizeof(one));
  }

  // Takes the calls' new transfers and cancellations. When there are none,
  // marks the loop asleep, so that the next Send wakes it: while the loop
  // runs, a Send costs no system call.
  bool TakeWork(std::vector<std::unique_ptr<Transfer>>& incoming,
                std::vector<TransferId>& cancelled) {
    absl::MutexLock lock(&mu_);
    incoming.swap(incoming_);
    cancelled.swap(cancelled_);
    sleeping_ = incoming.empty() && cancelled.empty() && !stopping_;
    return stopping_;
  }

  void Run() {
    std::vector<std::unique_ptr<Transfer>> incoming;
    std::vector<TransferId> cancelled;
    epoll_event events[64];
    while (true) {
      incoming.clear();
      cancelled.clear();
      const bool stopping = TakeWork(incoming, cancelled);
      for (auto& transfer : incoming) Start(std::move(transfer));
      for (TransferId id : cancelled) {
        std::unique_ptr<Transfer> transfer = TakeRunningOrDelayed(id);
        if (transfer == nullptr) continue;  // already finished
        Complete(
            std::move(transfer),
            MakeError(absl::StatusCode::kCancelled,
                      "the call was cancelled before MX answered", kReasonCancelled));
      }
      if (stopping) break;
      StartDueTransfers();
      // Transfers just added set a timer of 0: start them before sleeping.
      RunDueCurlTimer();
      ReadMessages();

      // Asleep only when TakeWork found nothing; else just look at the
      // sockets and come back for the work.
      bool asleep;
      {
        absl::MutexLock lock(&mu_);
        asleep = sleeping_;
      }
      const int ready =
          epoll_wait(epoll_, events, std::size(events), asleep ? PollTimeoutMs() : 0);
      if (asleep) {
        absl::MutexLock lock(&mu_);
        sleeping_ = false;
      }
      for (int i = 0; i < ready; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_) {
          uint64_t count;
          (void)!read(wake_, &count, sizeof(count));
          continue;
        }
        const uint32_t got = events[i].events;
        const int mask = ((got & EPOLLIN) != 0 ? CURL_CSELECT_IN : 0) |
                         ((got & EPOLLOUT) != 0 ? CURL_CSELECT_OUT : 0) |
                         ((got & (EPOLLERR | EPOLLHUP)) != 0 ? CURL_CSELECT_ERR : 0);
        int running = 0;
        curl_multi_socket_action(multi_, fd, mask, &running);
      }
      RunDueCurlTimer();
      ReadMessages();
    }
    // Shutdown: whatever still runs or waits is cancelled, and its caller
    // told so.
    for (auto* transfers : {&running_, &delayed_}) {
      for (auto& [id, transfer] : *transfers) {
        Complete(std::move(transfer),
                 MakeError(absl::StatusCode::kCancelled, "mxgate is shutting down",
                           kReasonCancelled));
      }
      transfers->clear();
    }
    delayed_by_time_.clear();
    // Callbacks run without the lock held: one may call Send or Cancel.
    std::vector<std::unique_ptr<Transfer>> never_started;
    {
      absl::MutexLock lock(&mu_);
      never_started.swap(incoming_);
    }
    for (auto& transfer : never_started) {
      transfer->done(MakeError(absl::StatusCode::kCancelled, "mxgate is shutting down",
                               kReasonCancelled));
    }
  }

  void RunDueCurlTimer() {
    if (curl_timer_ > absl::Now()) return;
    curl_timer_ = absl::InfiniteFuture();
    int running = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  }

  // Hands each finished transfer to Finish.
  void ReadMessages() {
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      Transfer* raw = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &raw);
      const CURLcode result = message->data.result;
      auto it = running_.find(raw->id);
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      running_.erase(it);
      Finish(std::move(transfer), result);
    }
  }

  // A transfer whose `not_before` is still ahead waits in delayed_ (no
  // curl handle, no connection) until StartDueTransfers starts it.
  void Start(std::unique_ptr<Transfer> transfer) {
    const absl::Time now = absl::Now();
    const absl::Duration left = transfer->request.deadline - now;
    const int64_t timeout_ms = absl::ToInt64Milliseconds(left);
    if (transfer->request.not_before > now && timeout_ms > 0 &&
        transfer->request.not_before < transfer->request.deadline) {
      delayed_by_time_.emplace(transfer->request.not_before, transfer->id);
      const TransferId id = transfer->id;
      delayed_.emplace(id, std::move(transfer));
      return;
    }
    if (timeout_ms <= 0 || transfer->request.not_before >= transfer->request.deadline) {
      transfer->done(MakeError(absl::StatusCode::kDeadlineExceeded,
                               "the deadline passed before the request to MX "
                               "was sent; nothing was sent",
                               kReasonUpstreamTimeout));
      return;
    }
    CURL* easy = TakeEasy();
    transfer->easy = easy;
    const HttpRequest& request = transfer->request;
    curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "POST" || request.method == "PUT" || !request.body.empty()) {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    } else {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    for (const auto& [name, value] : request.headers) {
      transfer->header_list = curl_slist_append(transfer->header_list,
                                                absl::StrCat(name, ": ", value).c_str());
    }
    // No `Expect: 100-continue` round trip for larger bodies: MX answers
    // the request as a whole anyway, and the pause costs a full RTT.
    transfer->header_list = curl_slist_append(transfer->header_list, "Expect:");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->header_list);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error_buffer);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
    curl_multi_add_handle(multi_, easy);
    const TransferId id = transfer->id;
    running_.emplace(id, std::move(transfer));
  }

  void Finish(std::unique_ptr<Transfer> transfer, CURLcode result) {
    if (result == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &status);
      transfer->response.status_code = static_cast<int>(status);
      HttpResponse response = std::move(transfer->response);
      Complete(std::move(transfer), std::move(response));
      return;
    }
    // The curl message can name the host and port, never the request's
    // path, headers or body.
    std::string detail = transfer->error_buffer[0] != '\0' ? transfer->error_buffer
                                                           : curl_easy_strerror(result);
    if (transfer->resend_refused) detail = "it closed before MX answered";
    absl::Status status;
    bool may_retry = false;
    if (transfer->too_large) {
      status = MakeError(
          absl::StatusCode::kResourceExhausted,
          transfer->header_bytes > kMaxHeaderBytes
              ? absl::StrCat("MX's answer headers exceeded ", kMaxHeaderBytes, " bytes")
              : absl::StrCat("MX's answer exceeded ", transfer->max_response_bytes,
                             " bytes"),
          kReasonUpstreamResponseTooLarge);
    } else if (result == CURLE_OPERATION_TIMEDOUT &&
               (RequestLeft(transfer->easy) ||
                absl::Now() >= transfer->request.deadline)) {
      status = MakeError(absl::StatusCode::kDeadlineExceeded,
                         absl::StrCat("MX did not answer in time: ", detail),
                         kReasonUpstreamTimeout);
    } else if (!transfer->resend_refused &&
               (FailedBeforeSending(result) || !RequestLeft(transfer->easy))) {
      // Includes a connect timeout well before the call's deadline: nothing
      // was sent, so it is UNAVAILABLE, not DEADLINE_EXCEEDED.
      status = MakeError(absl::StatusCode::kUnavailable,
                         absl::StrCat("could not reach MX: ", detail),
                         kReasonUpstreamUnreachable);
      may_retry = MayPass(result);
    } else if (IsSafeToResend(transfer->request.method)) {
      // A read changes nothing at MX, whenever the connection broke.
      status = MakeError(absl::StatusCode::kUnavailable,
                         absl::StrCat("the connection to MX failed before it answered "
                                      "a read: ",
                                      detail),
                         kReasonUpstreamUnreachable);
      may_retry = true;
    } else {
      status = MakeError(absl::StatusCode::kUnknown,
                         absl::StrCat("the connection to MX failed after the request was "
                                      "sent, so MX may have acted on it: ",
                                      detail),
                         kReasonUpstreamOutcomeUnknown);
      may_retry = transfer->request.idempotent;
    }
    if (may_retry && Retry(transfer)) return;
    Complete(std::move(transfer), std::move(status));
  }

  // Sends a failed transfer again after a jittered backoff, when attempts
  // and the retry budget are left and the backoff ends before the deadline.
  // True when `transfer` was taken for that.
  bool Retry(std::unique_ptr<Transfer>& transfer) {
    const RetryOptions& retry = options_.retry;
    if (transfer->retries + 1 >= retry.max_attempts ||
        transfer->sends >= transfer->max_sends) {
      return false;
    }
    const absl::Time now = absl::Now();
    // Full jitter: uniform in [0, min(max, initial * 2^retries)].
    const absl::Duration cap =
        std::min(retry.max_backoff,
                 retry.initial_backoff * (int64_t{1} << std::min(transfer->retries, 20)));
    const absl::Duration backoff = absl::Nanoseconds(
        absl::Uniform<int64_t>(random_, 0, absl::ToInt64Nanoseconds(cap) + 1));
    if (now + backoff >= transfer->request.deadline) return false;
    if (!budget_.TryWithdraw(now)) return false;
    Release(*transfer);
    transfer->response = HttpResponse();
    transfer->too_large = false;
    transfer->header_bytes = 0;
    transfer->attempted = false;
    transfer->resend_refused = false;
    transfer->error_buffer[0] = '\0';
    ++transfer->retries;
    retries.fetch_add(1, std::memory_order_relaxed);
    transfer->request.not_before = now + backoff;
    Start(std::move(transfer));
    return true;
  }

  void StartDueTransfers() {
    const absl::Time now = absl::Now();
    while (!delayed_by_time_.empty() && delayed_by_time_.begin()->first <= now) {
      const TransferId id = delayed_by_time_.begin()->second;
      delayed_by_time_.erase(delayed_by_time_.begin());
      auto it = delayed_.find(id);
      if (it == delayed_.end()) continue;  // cancelled meanwhile
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      delayed_.erase(it);
      transfer->request.not_before = absl::InfinitePast();
      Start(std::move(transfer));
    }
  }

  // Up to 1 s, and no later than curl's timer or the next delayed start.
  int PollTimeoutMs() const {
    absl::Time wake_at = curl_timer_;
    if (!delayed_by_time_.empty())
      wake_at = std::min(wake_at, delayed_by_time_.begin()->first);
    if (wake_at == absl::InfiniteFuture()) return 1000;
    return static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(
                                absl::Ceil(wake_at - absl::Now(), absl::Milliseconds(1))),
                            0, 1000));
  }

  // Removes the transfer from running_ or delayed_; null when in neither.
  std::unique_ptr<Transfer> TakeRunningOrDelayed(TransferId id) {
    for (auto* transfers : {&running_, &delayed_}) {
      auto it = transfers->find(id);
      if (it == transfers->end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      transfers->erase(it);
      return transfer;
    }
    return nullptr;
  }

  static bool RequestLeft(CURL* easy) {
    long request_size = 0;
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
    return request_size > 0;
  }

  // Releases the transfer's curl resources and runs its callback.
  void Complete(std::unique_ptr<Transfer> transfer, absl::StatusOr<HttpResponse> result) {
    Release(*transfer);
    transfer->done(std::move(result));
  }

  // Takes the transfer's handle out of the multi handle back to the pool
  // and frees its header list; for a retry or the end.
  void Release(Transfer& transfer) {
    if (transfer.easy != nullptr) {
      curl_multi_remove_handle(multi_, transfer.easy);
      ReturnEasy(transfer.easy);
      transfer.easy = nullptr;
    }
    for (curl_slist* line = transfer.header_list; line != nullptr; line = line->next) {
      explicit_bzero(line->data, std::strlen(line->data));  // "Authorization: Basic ..."
    }
    curl_slist_free_all(transfer.header_list);
    transfer.header_list = nullptr;
  }

  // Easy handles are reused (the connections live in the multi handle, the
  // TLS sessions and DNS answers in share_). The options that are the same
  // for every transfer are set once, when the handle is made; Start sets
  // the others each time.
  CURL* TakeEasy() {
    if (!idle_easy_.empty()) {
      CURL* easy = idle_easy_.back();
      idle_easy_.pop_back();
      return easy;
    }
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_SHARE, share_);
    curl_easy_setopt(
        easy, CURLOPT_CONNECTTIMEOUT_MS,
        static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    // The receive buffer lives as long as the handle, one per call in
    // flight; MX's member answers are ~1 KiB, so 4 KiB instead of curl's
    // 16 KiB (measured: 32.3 -> 31.2 MiB of RSS per 1,000 calls in flight).
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, OnPrerequest);
    // cppcheck-suppress leakNoVarFunctionCall ; a function pointer, not an allocation
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, OnCloseSocket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
    return easy;
  }

  // Drops the handle's pointers into the finished transfer, which is
  // about to be freed.
  void ReturnEasy(CURL* easy) {
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, nullptr);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, nullptr);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, nullptr);
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, nullptr);
    idle_easy_.push_back(easy);
  }

  const Options options_;
  int epoll_ = -1;
  int wake_ = -1;  // an eventfd: Send and Cancel wake a sleeping loop with it
  CURLSH* share_ = nullptr;
  CURLM* multi_ = nullptr;
  std::thread thread_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Transfer>> incoming_ ABSL_GUARDED_BY(mu_);
  std::vector<TransferId> cancelled_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool sleeping_ ABSL_GUARDED_BY(mu_) = false;  // in or about to be in epoll_wait
  TransferId next_id_ ABSL_GUARDED_BY(mu_) = 1;

  RetryBudget budget_;

  // Loop thread only.
  absl::BitGen random_;
  absl::Time curl_timer_ = absl::InfiniteFuture();  // when curl wants to act
  std::unordered_map<TransferId, std::unique_ptr<Transfer>> running_;
  std::unordered_map<TransferId, std::unique_ptr<Transfer>> delayed_;
  std::multimap<absl::Time, TransferId> delayed_by_time_;
  std::vector<CURL*> idle_easy_;
};

CurlTransport::CurlTransport(Options options)
    : loop_(std::make_unique<Loop>(std::move(options))) {}

int64_t CurlTransport::open_connections() const {
  return loop_->open_connections.load(std::memory_order_relaxed);
}

int64_t CurlTransport::connections_opened() const {
  return loop_->connections_opened.load(std::memory_order_relaxed);
}

int64_t CurlTransport::retries() const {
  return loop_->retries.load(std::memory_order_relaxed);
}

RetryBudget::RetryBudget(const RetryOptions& options)
    : ratio_(options.budget_ratio),
      per_second_(options.budget_per_second),
      max_tokens_(std::max(1.0, options.budget_per_second)),
      tokens_(max_tokens_) {}

void RetryBudget::Deposit() {
  absl::MutexLock lock(&mu_);
  tokens_ = std::min(max_tokens_, tokens_ + ratio_);
}

bool RetryBudget::TryWithdraw(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (last_refill_ != absl::InfinitePast()) {
    tokens_ = std::min(max_tokens_,
                       tokens_ + per_second_ * absl::ToDoubleSeconds(now - last_refill_));
  }
  last_refill_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

CurlTransport::~CurlTransport() = default;

HttpTransport::TransferId CurlTransport::Send(HttpRequest request, Callback done) {
  return loop_->Send(std::move(request), std::move(done));
}

void CurlTransport::Cancel(TransferId id) { loop_->Cancel(id); }

}  // namespace mxgate
