// The CPU caching allocator (libnn/cpu/memory.hpp).
//
// Free blocks are kept in a map from size class to blocks; an allocation takes the smallest
// cached block of its class or above, if at most kMaxOversize times its class: a training
// step's sizes vary with its batch's sequence lengths, and with exact classes only, 9% of
// the JSB training's large allocations missed (each a fresh, page-faulted block) and the
// cache grew to 190 MB; with best fit, 3% miss and it holds ~50 MB (docs/perf.md).
//
// A block does not carry its size: on free, malloc_usable_size (glibc) gives at least the
// size asked for, and less than the next size class above it (malloc's slack is at most a
// page, a class step at least 8 KiB), so the block's class is the largest class not above its
// usable size. A block malloc'ed before the cache was turned on, at a size between classes,
// lands in the class below its size: still large enough for anything that class hands out.
#include "core/cpu_allocator.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "libnn/cpu/memory.hpp"

namespace nn {

namespace {

constexpr std::size_t kAlignment = 64;  // a cache line; what AVX-512 loads like
constexpr std::size_t kMinCached = std::size_t{64} << 10;
constexpr std::size_t kDefaultLimit = std::size_t{1} << 30;
constexpr int kClassesPerPowerOfTwo = 8;
constexpr std::size_t kMaxOversize = 2;

// The step between size classes around n (n >= kMinCached): 1/8 of the power of two below n.
std::size_t class_step(std::size_t n) {
  std::size_t power = std::size_t{1} << (63 - __builtin_clzll(n));
  return power / kClassesPerPowerOfTwo;
}

// The smallest class >= n.
std::size_t class_above(std::size_t n) {
  const std::size_t step = class_step(n);
  return (n + step - 1) / step * step;
}

// The largest class <= n.
std::size_t class_below(std::size_t n) { return n / class_step(n) * class_step(n); }

bool enabled_by_default() {
#if defined(__SANITIZE_ADDRESS__)
  return false;  // ASan must see every free, to report a use after it
#else
  const char* env = std::getenv("LIBNN_CPU_CACHING_ALLOCATOR");
  return env == nullptr || std::strcmp(env, "0") != 0;
#endif
}

class Cache {
 public:
  void* allocate(std::size_t nbytes) {
    if (nbytes < kMinCached) return system_allocate(round_to_alignment(nbytes));
    const std::size_t size = class_above(nbytes);
    {
      const std::lock_guard lock(mutex_);
      ++stats_.allocations;
      // Best fit: the smallest cached block of this class or above, up to kMaxOversize times
      // the class (the sizes of a training step vary with its batch's sequence lengths).
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= size * kMaxOversize) {
        void* ptr = it->second.back();
        it->second.pop_back();
        stats_.cached -= it->first;
        if (it->second.empty()) free_.erase(it);
        ++stats_.cache_hits;
        return ptr;
      }
    }
    return system_allocate(size);
  }

  void deallocate(void* ptr) {
    if (ptr == nullptr) return;
    const std::size_t usable = malloc_usable_size(ptr);
    if (usable >= kMinCached) {
      const std::size_t size = class_below(usable);
      const std::lock_guard lock(mutex_);
      if (enabled_ && stats_.cached + size <= limit_) {
        free_[size].push_back(ptr);
        stats_.cached += size;
        return;
      }
      ++stats_.released;
    }
    std::free(ptr);
  }

  cpu::MemoryStats stats() {
    const std::lock_guard lock(mutex_);
    return stats_;
  }

  void empty() { shrink_to(0); }

  void set_enabled(bool enabled) {
    {
      const std::lock_guard lock(mutex_);
      enabled_ = enabled;
    }
    if (!enabled) empty();
  }
  bool enabled() {
    const std::lock_guard lock(mutex_);
    return enabled_;
  }

  void set_limit(std::size_t bytes) {
    {
      const std::lock_guard lock(mutex_);
      limit_ = bytes;
    }
    shrink_to(bytes);
  }
  std::size_t limit() {
    const std::lock_guard lock(mutex_);
    return limit_;
  }

 private:
  static std::size_t round_to_alignment(std::size_t nbytes) {
    return (std::max<std::size_t>(nbytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  }

  static void* system_allocate(std::size_t size) {
    void* ptr = std::aligned_alloc(kAlignment, size);
    if (ptr == nullptr) throw std::bad_alloc();
    return ptr;
  }

  // Frees cached blocks (outside the lock) until at most `bytes` are cached.
  void shrink_to(std::size_t bytes) {
    std::vector<void*> to_free;
    {
      const std::lock_guard lock(mutex_);
      for (auto it = free_.begin(); it != free_.end() && stats_.cached > bytes;) {
        auto& blocks = it->second;
        while (!blocks.empty() && stats_.cached > bytes) {
          to_free.push_back(blocks.back());
          blocks.pop_back();
          stats_.cached -= it->first;
        }
        it = blocks.empty() ? free_.erase(it) : std::next(it);
      }
    }
    for (void* ptr : to_free) std::free(ptr);
  }

  std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;  // size class -> free blocks
  cpu::MemoryStats stats_;
  bool enabled_ = enabled_by_default();
  std::size_t limit_ = kDefaultLimit;
};

Cache& cache() {
  // Never destroyed: tensors in other static objects may be freed after this one's
  // destructor would have run.
  static Cache* const instance = new Cache;
  return *instance;
}

}  // namespace

void* detail::cpu_allocate(std::size_t nbytes) { return cache().allocate(nbytes); }
void detail::cpu_deallocate(void* ptr) { cache().deallocate(ptr); }

namespace cpu {

MemoryStats memory_stats() { return cache().stats(); }
void empty_cache() { cache().empty(); }
void set_caching_allocator(bool enabled) { cache().set_enabled(enabled); }
bool caching_allocator_enabled() { return cache().enabled(); }
void set_cache_limit(std::size_t bytes) { cache().set_limit(bytes); }
std::size_t cache_limit() { return cache().limit(); }

}  // namespace cpu

}  // namespace nn
