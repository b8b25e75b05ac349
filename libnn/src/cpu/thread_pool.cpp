// The worker pool behind run_team (thread_pool.hpp says why it is not OpenMP).
//
// One region at a time. The region's state is published in one 64-bit ticket:
//   bits 63..32  the region's number (its generation)
//   bit  31      closed: the caller has finished its own share; nobody may join any more
//   bits 30..0   how many workers have joined
// A worker joins by a compare-and-swap that adds one to an open ticket of the generation it
// was woken for, while the count is below team - 1; the count before its swap is its seat
// (slot = seat + 1). The caller closes the ticket with one fetch_or, which also tells it how
// many joined, then waits for that many to finish. Every atomic here is sequentially
// consistent: the protocol relies on one order of all of them (a worker's reads of the
// region's team and body come before its successful swap, and a later region's writes come
// after the close that made that swap impossible), and its cost is nothing next to a region.
//
// Generations are 32-bit: a worker would have to sleep through 2^32 regions between reading a
// ticket and swapping it to be confused by a reused number.
#include "cpu/thread_pool.hpp"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace nn::cpu {

namespace {

thread_local bool tl_in_region = false;

std::atomic<std::int64_t> delay_before_join_us{0};
std::atomic<std::int64_t> delay_after_join_us{0};

void test_delay(const std::atomic<std::int64_t>& microseconds) {
  if (const std::int64_t us = microseconds.load(std::memory_order_relaxed); us > 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(us));
  }
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class ScopedRegionFlag {
 public:
  ScopedRegionFlag() : saved_(tl_in_region) { tl_in_region = true; }
  ~ScopedRegionFlag() { tl_in_region = saved_; }
  ScopedRegionFlag(const ScopedRegionFlag&) = delete;
  ScopedRegionFlag& operator=(const ScopedRegionFlag&) = delete;

 private:
  bool saved_;
};

class Pool {
 public:
  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 31;
  static constexpr std::uint64_t kJoinedMask = kClosed - 1;
  // How long an idle worker spins for the next region before it sleeps on the futex: the
  // gap between a training step's regions is mostly shorter, and a sleeping worker costs the
  // next region a wake-up (a system call, and tens of microseconds on a VM). Measured on the
  // 2-core VM, 5 JSB epochs quiet: 30, 100, 1,000 and 5,000 us all within the run-to-run noise
  // (docs/perf.md, "Threads on a busy machine"); 100 us keeps a busy machine's other work
  // from paying for long spins.
  static constexpr std::chrono::microseconds kIdleSpin{100};
  // How many times a caller spins on its joined workers before it yields its core to them.
  static constexpr int kSpins = 2000;

  void run(int team, const TeamBody& body) {
    if (busy_.exchange(true)) {  // another thread's region is running: this one runs alone
      run_alone(body);
      return;
    }
    grow(team - 1);
    std::exception_ptr error;
    body_.store(&body);
    team_.store(team);
    finished_.store(0);
    error_.store(nullptr);
    const std::uint32_t generation = generation_.load() + 1;
    ticket_.store(std::uint64_t{generation} << 32);
    generation_.store(generation);
    if (sleepers_.load() > 0) generation_.notify_all();

    try {
      const ScopedRegionFlag in_region;
      body(0);
    } catch (...) {
      error = std::current_exception();
    }
    const std::uint64_t joined = ticket_.fetch_or(kClosed) & kJoinedMask;
    for (int spins = 0; finished_.load() < joined; ++spins) {
      if (spins < kSpins) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // a joined worker may be waiting for this core
      }
    }
    // Always taken, so that a worker's exception never outlives its region (the caller's own
    // comes first when both threw).
    if (std::exception_ptr theirs = take_error(); !error) error = std::move(theirs);
    busy_.store(false);
    if (error) std::rethrow_exception(error);
  }

 private:
  static void run_alone(const TeamBody& body) {
    const ScopedRegionFlag in_region;
    body(0);
  }

  // Starts workers until there are `count`. They are never stopped: they sleep when idle, and
  // the process's exit ends them (the pool itself is never destroyed, so no exit-time
  // destructor can race a worker). When the system refuses a thread, the region runs with the
  // workers there are (the caller alone, at worst): never an error, since fewer threads give
  // the same result.
  void grow(int count) {
    if (started_.load() >= count || refused_.load()) return;
    const std::lock_guard lock(grow_mutex_);
    while (started_.load() < count) {
      try {
        std::thread([this] { work(); }).detach();
      } catch (const std::system_error&) {
        refused_.store(true);
        return;
      }
      started_.fetch_add(1);
    }
  }

  void work() {
    pthread_setname_np(pthread_self(), "libnn-worker");
    std::uint32_t seen = generation_.load();
    for (;;) {
      std::uint32_t now = generation_.load();
      const auto spin_until = std::chrono::steady_clock::now() + kIdleSpin;
      for (int spins = 0; now == seen; ++spins) {
        cpu_relax();
        now = generation_.load();
        if ((spins & 63) == 63 && std::chrono::steady_clock::now() > spin_until) break;
      }
      if (now == seen) {
        sleepers_.fetch_add(1);
        generation_.wait(seen);
        sleepers_.fetch_sub(1);
        continue;
      }
      seen = now;
      join(now);
    }
  }

  void join(std::uint32_t generation) {
    test_delay(delay_before_join_us);
    std::uint64_t ticket = ticket_.load();
    for (;;) {
      if ((ticket >> 32) != generation || (ticket & kClosed) != 0) return;
      const std::uint64_t seat = ticket & kJoinedMask;
      if (seat + 1 >= static_cast<std::uint64_t>(team_.load())) return;
      if (ticket_.compare_exchange_weak(ticket, ticket + 1)) {
        const TeamBody* body = body_.load();
        test_delay(delay_after_join_us);
        try {
          const ScopedRegionFlag in_region;
          (*body)(static_cast<int>(seat) + 1);
        } catch (...) {
          keep_error(std::current_exception());
        }
        finished_.fetch_add(1);
        return;
      }
    }
  }

  void keep_error(std::exception_ptr error) {
    const std::lock_guard lock(error_mutex_);
    if (!first_error_) first_error_ = std::move(error);
    error_.store(&first_error_);
  }

  std::exception_ptr take_error() {
    if (error_.load() == nullptr) return nullptr;
    const std::lock_guard lock(error_mutex_);
    return std::exchange(first_error_, nullptr);
  }

  std::atomic<bool> busy_{false};
  std::atomic<std::uint64_t> ticket_{0};
  std::atomic<std::uint32_t> generation_{0};
  std::atomic<const TeamBody*> body_{nullptr};
  std::atomic<int> team_{1};
  std::atomic<std::uint64_t> finished_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> started_{0};
  std::atomic<bool> refused_{false};  // the system refused a thread: grow no more
  std::mutex grow_mutex_;
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
  std::atomic<std::exception_ptr*> error_{nullptr};
};

Pool& pool() {
  static Pool* const instance = new Pool;  // never destroyed: see Pool::grow
  return *instance;
}

}  // namespace

int max_team() {
  if (tl_in_region || omp_in_parallel()) return 1;
  return std::max(1, omp_get_max_threads());
}

void run_team(int team, const TeamBody& body) {
  if (team <= 1 || tl_in_region || omp_in_parallel()) {
    const ScopedRegionFlag in_region;
    body(0);
    return;
  }
  pool().run(team, body);
}

namespace testing {
void set_worker_delays(std::chrono::microseconds before_join, std::chrono::microseconds after_join) {
  delay_before_join_us.store(before_join.count());
  delay_after_join_us.store(after_join.count());
}
}  // namespace testing

}  // namespace nn::cpu
