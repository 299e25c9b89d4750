// Lets ThreadSanitizer see abseil's synchronisation in a TSan build against
// Debian's uninstrumented abseil (and the gRPC built on it).
//
// TSan learns "happens before" from the synchronisation it intercepts:
// pthread, atomics in instrumented code. `absl::Mutex`, `absl::CondVar` and
// `absl::Notification` are futex-based code inside libabsl_synchronization.so;
// built without -fsanitize=thread they tell TSan nothing, so every access
// guarded by them was reported as a race (747 reports in mx_transport_test
// alone). An instrumented abseil annotates its own locks; this file does the
// same from the outside: linked into every executable of a TSan build
// (CMakeLists.txt, MXGATE_SANITIZE=thread), it defines the public entry
// points, calls the library's own through dlsym(RTLD_NEXT), and tells TSan
// around each what the call did to the lock. The reference count of a
// shared absl::Status is modelled the same way. gRPC's own locks (gpr_mu,
// grpc_core::Mutex) are absl::Mutex and reach these functions through the
// dynamic linker too, so its lock-based hand-offs become visible.
//
// What it cannot model: gRPC's lock-free hand-offs, which stay invisible
// (docs/RELIABILITY.md, Sanitizers). Linked into TSan builds only.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

// The library's definition of the function this file replaced: the next
// one in the dynamic linker's search order after the executable.
template <typename Function>
Function Real(const char* mangled_name) {
  void* symbol = dlsym(RTLD_NEXT, mangled_name);
  if (symbol == nullptr) {
    std::fprintf(stderr, "tsan_abseil_sync: %s not found in abseil\n", mangled_name);
    std::abort();
  }
  return reinterpret_cast<Function>(symbol);
}

// The names are abseil's own mangled ones (namespace absl::debian3, Debian's
// inline namespace); a different abseil fails loudly at the first call.
#define MXGATE_ABSL_SYMBOL(name) "_ZN4absl7debian3" name
#define MXGATE_ABSL_CONST_SYMBOL(name) "_ZNK4absl7debian3" name

// abseil's deadlock detector keeps a graph of every lock behind its own
// spin lock, which this file does not (cannot) annotate: TSan would report
// the graph's updates. TSan itself detects lock-order inversions of the
// locks it sees.
const bool kDeadlockDetectionOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// --- Mutex ------------------------------------------------------------------
// Each entry point is bracketed by TSan's mutex annotations, as an
// instrumented abseil does it: TSan then orders what one holder did before
// the next, checks lock order (deadlocks), and ignores the accesses inside
// the call (abseil evaluates waiters' Conditions while it unlocks).

namespace {
constexpr unsigned kExclusive = 0;
constexpr unsigned kShared = __tsan_mutex_read_lock;

// abseil's entry points call each other (LockWhenWithTimeout calls
// LockWhenWithDeadline, through the dynamic linker, so through this file):
// only the outermost call on a thread is annotated.
thread_local int abseil_depth = 0;

// Runs `call` between `before` and `after` (TSan annotations) when it is the
// outermost abseil call on this thread, else just runs it.
template <typename Before, typename Call, typename After>
auto Outermost(Before before, Call call, After after) {
  if (abseil_depth > 0) return call();
  ++abseil_depth;
  before();
  auto result = call();
  after(result);
  --abseil_depth;
  return result;
}

template <typename Call>
auto Locking(void* mu, unsigned mode, Call call) {
  return Outermost([&] { __tsan_mutex_pre_lock(mu, mode); }, call,
                   [&](const auto& /*result*/) { __tsan_mutex_post_lock(mu, mode, 0); });
}

template <typename Call>
bool TryLocking(void* mu, unsigned mode, Call call) {
  mode |= __tsan_mutex_try_lock;
  return Outermost([&] { __tsan_mutex_pre_lock(mu, mode); }, call,
                   [&](bool locked) {
                     __tsan_mutex_post_lock(
                         mu, locked ? mode : mode | __tsan_mutex_try_lock_failed, 0);
                   });
}

template <typename Call>
void Unlocking(void* mu, unsigned mode, Call call) {
  Outermost([&] { __tsan_mutex_pre_unlock(mu, mode); }, [&] { return (call(), 0); },
            [&](int /*unused*/) { __tsan_mutex_post_unlock(mu, mode); });
}

// Await and CondVar waits give the (exclusively held) lock up while they
// wait and hold it again on return.
template <typename Call>
auto Waiting(void* mu, Call call) {
  return Outermost(
      [&] {
        __tsan_mutex_pre_unlock(mu, kExclusive);
        __tsan_mutex_post_unlock(mu, kExclusive);
        __tsan_mutex_pre_lock(mu, kExclusive);
      },
      call, [&](const auto& /*result*/) { __tsan_mutex_post_lock(mu, kExclusive, 0); });
}
}  // namespace

Mutex::~Mutex() {
  static const auto real = Real<void (*)(Mutex*)>(MXGATE_ABSL_SYMBOL("5MutexD1Ev"));
  __tsan_mutex_destroy(this, 0);
  real(this);
}

void Mutex::Lock() {
  static const auto real = Real<void (*)(Mutex*)>(MXGATE_ABSL_SYMBOL("5Mutex4LockEv"));
  Locking(this, kExclusive, [&] { return (real(this), 0); });
}

void Mutex::ReaderLock() {
  static const auto real =
      Real<void (*)(Mutex*)>(MXGATE_ABSL_SYMBOL("5Mutex10ReaderLockEv"));
  Locking(this, kShared, [&] { return (real(this), 0); });
}

bool Mutex::TryLock() {
  static const auto real = Real<bool (*)(Mutex*)>(MXGATE_ABSL_SYMBOL("5Mutex7TryLockEv"));
  return TryLocking(this, kExclusive, [&] { return real(this); });
}

bool Mutex::ReaderTryLock() {
  static const auto real =
      Real<bool (*)(Mutex*)>(MXGATE_ABSL_SYMBOL("5Mutex13ReaderTryLockEv"));
  return TryLocking(this, kShared, [&] { return real(this); });
}

void Mutex::Unlock() {
  static const auto real = Real<void (*)(Mutex*)>(MXGATE_ABSL_SYMBOL("5Mutex6UnlockEv"));
  Unlocking(this, kExclusive, [&] { real(this); });
}

void Mutex::ReaderUnlock() {
  static const auto real =
      Real<void (*)(Mutex*)>(MXGATE_ABSL_SYMBOL("5Mutex12ReaderUnlockEv"));
  Unlocking(this, kShared, [&] { real(this); });
}

// LockWhen* returns holding the lock, even when a timeout ran out.
void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      MXGATE_ABSL_SYMBOL("5Mutex8LockWhenERKNS0_9ConditionE"));
  Locking(this, kExclusive, [&] { return (real(this, cond), 0); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      MXGATE_ABSL_SYMBOL("5Mutex14ReaderLockWhenERKNS0_9ConditionE"));
  Locking(this, kShared, [&] { return (real(this, cond), 0); });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      MXGATE_ABSL_SYMBOL("5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  return Locking(this, kExclusive, [&] { return real(this, cond, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      MXGATE_ABSL_SYMBOL("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  return Locking(this, kExclusive, [&] { return real(this, cond, deadline); });
}

void Mutex::Await(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      MXGATE_ABSL_SYMBOL("5Mutex5AwaitERKNS0_9ConditionE"));
  Waiting(this, [&] { return (real(this, cond), 0); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      MXGATE_ABSL_SYMBOL("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  return Waiting(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      MXGATE_ABSL_SYMBOL("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  return Waiting(this, [&] { return real(this, cond, deadline); });
}

// --- CondVar ------------------------------------------------------------------

void CondVar::Wait(Mutex* mu) {
  static const auto real =
      Real<void (*)(CondVar*, Mutex*)>(MXGATE_ABSL_SYMBOL("7CondVar4WaitEPNS0_5MutexE"));
  Waiting(mu, [&] { return (real(this, mu), 0); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      MXGATE_ABSL_SYMBOL("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE"));
  return Waiting(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, absl::Time)>(
      MXGATE_ABSL_SYMBOL("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE"));
  return Waiting(mu, [&] { return real(this, mu, deadline); });
}

// --- Notification -------------------------------------------------------------
// Notify and the waits lock the notification's Mutex (through the functions
// above), except on the fast path: a wait, or the inline HasBeenNotified(),
// that finds the flag already set returns after an acquire load of it, done
// in the uninstrumented library or in the caller. So Notify also releases
// into the flag's address, and a wait that saw it set acquires from there:
// the same place an instrumented HasBeenNotified() acquires from.

namespace {
void* NotifiedFlag(const Notification* notification) {
  // Notification is { Mutex mutex_; std::atomic<bool> notified_yet_; }.
  static_assert(sizeof(Notification) >= sizeof(Mutex) + sizeof(std::atomic<bool>));
  return const_cast<char*>(reinterpret_cast<const char*>(notification) + sizeof(Mutex));
}
}  // namespace

void Notification::Notify() {
  static const auto real =
      Real<void (*)(Notification*)>(MXGATE_ABSL_SYMBOL("12Notification6NotifyEv"));
  __tsan_release(NotifiedFlag(this));
  real(this);
}

void Notification::WaitForNotification() const {
  static const auto real = Real<void (*)(const Notification*)>(
      MXGATE_ABSL_CONST_SYMBOL("12Notification19WaitForNotificationEv"));
  real(this);
  __tsan_acquire(NotifiedFlag(this));
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  static const auto real =
      Real<bool (*)(const Notification*, absl::Duration)>(MXGATE_ABSL_CONST_SYMBOL(
          "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE"));
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(NotifiedFlag(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  static const auto real =
      Real<bool (*)(const Notification*, absl::Time)>(MXGATE_ABSL_CONST_SYMBOL(
          "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE"));
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(NotifiedFlag(this));
  return notified;
}

// --- Status: the reference count of a shared (non-OK) status ---------------
// Copies of a Status share one heap StatusRep; the last Unref frees it, in
// the library, after an acq_rel decrement TSan does not see. A status made
// on one thread and dropped on another (every upstream error mxgate passes
// from the libcurl loop to gRPC's threads) is then reported as a race of
// the free with the reads before it. Each Unref is modelled as what it is,
// an acq_rel operation on the StatusRep.
void Status::UnrefNonInlined(uintptr_t rep) {
  static const auto real =
      Real<void (*)(uintptr_t)>(MXGATE_ABSL_SYMBOL("6Status15UnrefNonInlinedEm"));
  // abseil passes the StatusRep's address as an integer.
  auto* shared = reinterpret_cast<void*>(rep);  // NOLINT(performance-no-int-to-ptr)
  __tsan_release(shared);
  __tsan_acquire(shared);
  real(rep);
}

ABSL_NAMESPACE_END
}  // namespace absl
