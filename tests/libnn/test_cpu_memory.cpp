// The CPU caching allocator (libnn/cpu/memory.hpp): a freed buffer of at least 64 KiB is
// handed out again for the next tensor of its size class (or up to half its size), small
// ones are not cached, the
// limit, empty_cache and turning it off return blocks to malloc, concurrent use from several
// threads keeps every tensor's contents its own, and it is off by default under ASan.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "libnn/cpu/memory.hpp"
#include "libnn/libnn.hpp"

namespace {

// Turns the cache on with a known limit and an empty cache for a test, and restores the
// previous state afterwards.
class CacheScope {
 public:
  explicit CacheScope(bool enabled, std::size_t limit = std::size_t{1} << 30)
      : was_enabled_(nn::cpu::caching_allocator_enabled()), old_limit_(nn::cpu::cache_limit()) {
    nn::cpu::empty_cache();
    nn::cpu::set_cache_limit(limit);
    nn::cpu::set_caching_allocator(enabled);
  }
  ~CacheScope() {
    nn::cpu::set_caching_allocator(was_enabled_);
    nn::cpu::set_cache_limit(old_limit_);
    nn::cpu::empty_cache();
  }
  CacheScope(const CacheScope&) = delete;
  CacheScope& operator=(const CacheScope&) = delete;

 private:
  bool was_enabled_;
  std::size_t old_limit_;
};

const void* address(const nn::Tensor& t) { return t.data_ptr<float>(); }

TEST(CpuMemory, ALargeFreedBufferIsReusedForTheSameSizeClass) {
  const CacheScope scope(true);
  const nn::cpu::MemoryStats before = nn::cpu::memory_stats();
  const void* first = nullptr;
  {
    const nn::Tensor t = nn::empty({1000, 1000});  // 4 MB
    first = address(t);
  }
  const nn::cpu::MemoryStats freed = nn::cpu::memory_stats();
  EXPECT_GE(freed.cached, std::size_t{4000000});
  EXPECT_LT(freed.cached, std::size_t{4000000} * 9 / 8 + 1);
  // 3.95 MB rounds up to the same class (8 classes per power of two: 3.5..4 MiB).
  const nn::Tensor again = nn::empty({1000, 988});
  EXPECT_EQ(address(again), first) << "the cached block was not reused";
  const nn::cpu::MemoryStats after = nn::cpu::memory_stats();
  EXPECT_EQ(after.cached, 0u);
  EXPECT_EQ(after.allocations - before.allocations, 2);
  EXPECT_EQ(after.cache_hits - before.cache_hits, 1);
}

// A reused block holds what its last tensor wrote; zeros() still gives zeros.
TEST(CpuMemory, ZerosOnAReusedBlockAreZeros) {
  const CacheScope scope(true);
  const void* dirty_address = nullptr;
  {
    const nn::Tensor dirty = nn::empty({1000, 988});
    float* p = dirty.data_ptr<float>();
    for (int i = 0; i < 1000 * 988; ++i) p[i] = 1.0f;
    dirty_address = address(dirty);
  }
  const nn::Tensor z = nn::zeros({1000, 988});
  ASSERT_EQ(address(z), dirty_address) << "the block was not reused: this test tests nothing";
  for (float x : z.to_vector<float>()) ASSERT_EQ(x, 0.0f);
}

TEST(CpuMemory, ASmallerCachedBlockIsNotUsedForALargerTensor) {
  const CacheScope scope(true);
  { const nn::Tensor t = nn::empty({1 << 18}); }  // 1 MiB: class 1 MiB
  const nn::cpu::MemoryStats freed = nn::cpu::memory_stats();
  EXPECT_EQ(freed.cached, std::size_t{1} << 20);
  const nn::Tensor bigger = nn::empty({(1 << 18) + 1});  // just above: the next class
  EXPECT_EQ(nn::cpu::memory_stats().cached, std::size_t{1} << 20);
  EXPECT_EQ(nn::cpu::memory_stats().cache_hits, freed.cache_hits);
}

// Best fit: a cached 2 MiB block serves a 1.5 MiB tensor (at most twice its class), but not
// a 0.9 MiB one; the smallest fitting block is taken.
TEST(CpuMemory, ALargerCachedBlockServesUpToTwiceItsClass) {
  const CacheScope scope(true);
  const void* two_mib = nullptr;
  const void* four_mib = nullptr;
  {
    const nn::Tensor a = nn::empty({1 << 19}), b = nn::empty({1 << 20});  // 2 and 4 MiB
    two_mib = address(a);
    four_mib = address(b);
  }
  EXPECT_EQ(nn::cpu::memory_stats().cached, std::size_t{6} << 20);
  const std::int64_t hits = nn::cpu::memory_stats().cache_hits;
  const nn::Tensor small = nn::empty({235929});  // 0.9 MiB: both blocks more than twice as big
  EXPECT_NE(address(small), two_mib);
  EXPECT_NE(address(small), four_mib);
  EXPECT_EQ(nn::cpu::memory_stats().cache_hits, hits);
  const nn::Tensor mid = nn::empty({3 << 17});  // 1.5 MiB: the 2 MiB block, not the 4 MiB one
  EXPECT_EQ(address(mid), two_mib);
  EXPECT_EQ(nn::cpu::memory_stats().cached, std::size_t{4} << 20);
  EXPECT_EQ(nn::cpu::memory_stats().cache_hits, hits + 1);
}

TEST(CpuMemory, SmallBuffersAreNotCached) {
  const CacheScope scope(true);
  { const nn::Tensor t = nn::empty({1000}); }  // 4 KB
  EXPECT_EQ(nn::cpu::memory_stats().cached, 0u);
}

TEST(CpuMemory, TheLimitEmptyCacheAndTurningItOffReturnBlocks) {
  const CacheScope scope(true, std::size_t{3} << 20);  // room for 3 MiB
  {
    std::vector<nn::Tensor> four;
    for (int i = 0; i < 4; ++i) four.push_back(nn::empty({1 << 18}));  // 1 MiB each
  }
  nn::cpu::MemoryStats s = nn::cpu::memory_stats();
  EXPECT_EQ(s.cached, std::size_t{3} << 20) << "the cache went past its limit";
  nn::cpu::set_cache_limit(std::size_t{1} << 20);
  EXPECT_EQ(nn::cpu::memory_stats().cached, std::size_t{1} << 20);
  nn::cpu::empty_cache();
  EXPECT_EQ(nn::cpu::memory_stats().cached, 0u);
  nn::cpu::set_cache_limit(std::size_t{1} << 30);
  { const nn::Tensor t = nn::empty({1 << 18}); }
  EXPECT_EQ(nn::cpu::memory_stats().cached, std::size_t{1} << 20);
  nn::cpu::set_caching_allocator(false);
  EXPECT_FALSE(nn::cpu::caching_allocator_enabled());
  EXPECT_EQ(nn::cpu::memory_stats().cached, 0u) << "turning the cache off did not empty it";
  const std::int64_t released = nn::cpu::memory_stats().released;
  { const nn::Tensor t = nn::empty({1 << 18}); }
  EXPECT_EQ(nn::cpu::memory_stats().cached, 0u);
  EXPECT_EQ(nn::cpu::memory_stats().released, released + 1);
}

// Four threads allocate, fill, check and free tensors of a few large sizes at once: each
// tensor keeps its own contents (no block is handed to two tensors).
TEST(CpuMemory, ConcurrentThreadsGetBlocksOfTheirOwn) {
  const CacheScope scope(true, std::size_t{64} << 20);
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int id = 0; id < 4; ++id) {
    threads.emplace_back([id, &bad] {
      for (int round = 0; round < 200; ++round) {
        std::vector<nn::Tensor> held;
        for (int k = 0; k < 3; ++k) {
          nn::Tensor t = nn::empty({(1 << 15) * (1 + (round + k) % 3)});
          const float value = static_cast<float>(id * 100000 + round * 10 + k);
          float* p = t.data_ptr<float>();
          for (std::int64_t i = 0; i < t.numel(); i += 64) p[i] = value;
          held.push_back(t);
        }
        std::this_thread::yield();
        for (int k = 0; k < 3; ++k) {
          const float value = static_cast<float>(id * 100000 + round * 10 + k);
          const float* p = held[static_cast<std::size_t>(k)].data_ptr<float>();
          for (std::int64_t i = 0; i < held[static_cast<std::size_t>(k)].numel(); i += 64)
            bad[static_cast<std::size_t>(id)] += p[i] != value;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int id = 0; id < 4; ++id) EXPECT_EQ(bad[static_cast<std::size_t>(id)], 0) << "thread " << id;
  EXPECT_GT(nn::cpu::memory_stats().cache_hits, 0);
}

TEST(CpuMemory, OffByDefaultUnderAddressSanitizer) {
#if defined(__SANITIZE_ADDRESS__)
  // Unless a test turned it on and forgot to restore it, the default is off.
  EXPECT_FALSE(nn::cpu::caching_allocator_enabled())
      << "the cache would hide use-after-free from ASan";
#else
  GTEST_SKIP() << "not an AddressSanitizer build";
#endif
}

}  // namespace
