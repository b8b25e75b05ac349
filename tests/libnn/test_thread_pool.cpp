// libnn's worker threads (src/cpu/thread_pool.hpp) as a busy machine treats them: a worker
// the scheduler sets aside before it joins a region must not be waited for, one set aside
// while it holds work must not change a single bit of the result, and the pool must stay
// usable after both, after exceptions, and with several calling threads.
//
// Slowness is played with the pool's test delays (nn::cpu::testing::set_worker_delays), not
// measured: nothing here asserts a time.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/thread_pool.hpp"
#include "libnn/cpu/gemm.hpp"
#include "libnn/libnn.hpp"

#include "thread_scope.hpp"

namespace {

using namespace std::chrono_literals;
using nn::Tensor;

// Worker delays for the scope of a test.
class DelayScope {
 public:
  DelayScope(std::chrono::microseconds before_join, std::chrono::microseconds after_join) {
    nn::cpu::testing::set_worker_delays(before_join, after_join);
  }
  ~DelayScope() { nn::cpu::testing::set_worker_delays(0us, 0us); }
  DelayScope(const DelayScope&) = delete;
  DelayScope& operator=(const DelayScope&) = delete;
};

// parallel_for visits every index exactly once.
void expect_each_index_once(std::int64_t n, std::int64_t grain, const std::string& what) {
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(n));
  nn::cpu::parallel_for(n, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) seen[static_cast<std::size_t>(i)].fetch_add(1);
  });
  std::int64_t wrong = 0;
  for (const auto& s : seen) wrong += s.load() != 1;
  EXPECT_EQ(wrong, 0) << what << ": indices not visited exactly once";
}

TEST(ThreadPool, EveryIndexOnceForAnyTeamAndSize) {
  for (const int threads : {1, 2, 3, 8}) {
    const test_util::ThreadScope scope(threads);
    for (const std::int64_t n : {1, 7, 64, 1000, 100003}) {
      for (const std::int64_t grain : {1, 16, 4096}) {
        expect_each_index_once(n, grain, std::to_string(threads) + " threads, n " + std::to_string(n) +
                                             ", grain " + std::to_string(grain));
      }
    }
  }
}

TEST(ThreadPool, SetNumThreadsChecksAndIsOpenMpsSetting) {
  const test_util::ThreadScope scope(3);
  EXPECT_EQ(nn::get_num_threads(), 3);
  EXPECT_EQ(omp_get_max_threads(), 3);
  EXPECT_THROW(nn::set_num_threads(0), std::invalid_argument);
  EXPECT_THROW(nn::set_num_threads(-2), std::invalid_argument);
  EXPECT_EQ(nn::get_num_threads(), 3);
}

// A worker that wakes late finds the region closed and turns away: the caller did all the
// work and returned without it. Then the late worker's wake-up must not disturb later regions.
TEST(ThreadPool, AWorkerThatWakesLateIsNotWaitedFor) {
  const test_util::ThreadScope scope(2);
  std::mutex mutex;
  std::set<int> slots;
  {
    const DelayScope delays(300ms, 0us);
    nn::cpu::run_team(2, [&](int slot) {
      const std::lock_guard lock(mutex);
      slots.insert(slot);
    });
  }
  EXPECT_EQ(slots, (std::set<int>{0})) << "the caller waited for a worker still asleep in its delay";
  // The worker wakes up during these regions, with a ticket that is no longer its own.
  const auto until = std::chrono::steady_clock::now() + 500ms;
  int regions = 0;
  while (std::chrono::steady_clock::now() < until) {
    expect_each_index_once(50000, 64, "after a late worker, region " + std::to_string(regions));
    if (::testing::Test::HasFailure()) break;
    ++regions;
  }
  EXPECT_GT(regions, 0);
}

// A worker that joins and is then held up (its core taken) holds only its own piece; results
// are the same bits as on one thread.
TEST(ThreadPool, ASlowedWorkerChangesNoBitOfTheGemmOrTheLstm) {
  nn::Generator gen(5);
  const Tensor a = nn::randn({96, 200}, &gen), b = nn::randn({200, 150}, &gen);
  const Tensor x = nn::randn({6, 24, 64}, &gen), h0 = nn::randn({24, 96}, &gen),
               c0 = nn::randn({24, 96}, &gen), w_ih = nn::randn({384, 64}, &gen),
               w_hh = nn::randn({384, 96}, &gen), b_ih = nn::randn({384}, &gen),
               b_hh = nn::randn({384}, &gen);
  const Tensor gy = nn::randn({6, 24, 96}, &gen);
  auto run = [&](int threads) {
    const test_util::ThreadScope scope(threads);
    std::vector<float> c(96 * 150, 0.0f);
    nn::cpu::sgemm(nn::cpu::Trans::No, nn::cpu::Trans::No, 96, 150, 200, 1.0f, a.data_ptr<float>(), 200,
                   b.data_ptr<float>(), 150, 0.0f, c.data(), 150);
    std::vector<Tensor> leaves;
    for (const Tensor& t : {x, h0, c0, w_ih, w_hh, b_ih, b_hh}) leaves.push_back(t.clone().set_requires_grad(true));
    const nn::LSTMLayerResult r =
        nn::lstm_layer(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], leaves[6]);
    nn::backward({r.output}, {gy});
    std::vector<std::vector<float>> out{c, r.output.to_vector<float>()};
    for (const Tensor& t : leaves) out.push_back(t.grad().to_vector<float>());
    return out;
  };
  const auto one = run(1);
  const DelayScope delays(0us, 2000us);
  const auto two = run(2);
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i], two[i]) << "result " << i << " differs";
}

TEST(ThreadPool, AnExceptionReachesTheCallerAndThePoolGoesOn) {
  const test_util::ThreadScope scope(2);
  for (int round = 0; round < 20; ++round) {
    EXPECT_THROW(nn::cpu::parallel_for(10000, 16,
                                       [&](std::int64_t begin, std::int64_t end) {
                                         if (begin <= 5000 && 5000 < end) throw std::runtime_error("piece 5000");
                                       }),
                 std::runtime_error);
    expect_each_index_once(10000, 16, "after an exception, round " + std::to_string(round));
  }
}

// Several threads of the program call libnn at once (a server's two generations): one region
// runs on the pool at a time and the others run on their callers; nested loops run inline.
TEST(ThreadPool, ConcurrentAndNestedCallsAreCorrect) {
  const test_util::ThreadScope scope(2);
  std::atomic<int> failures{0};
  auto caller = [&] {
    nn::set_num_threads(2);  // a new thread starts with the process's default
    for (int round = 0; round < 200; ++round) {
      std::vector<std::atomic<int>> seen(3000);
      nn::cpu::parallel_for(30, 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          nn::cpu::parallel_for(100, 1, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t j = b; j < e; ++j) seen[static_cast<std::size_t>(i * 100 + j)].fetch_add(1);
          });
        }
      });
      for (const auto& s : seen) failures += s.load() != 1;
    }
  };
  std::thread first(caller), second(caller);
  first.join();
  second.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
