// The CPU tensors' caching allocator (docs/libnn.md, "CPU memory").
//
// Tensor buffers of at least 64 KiB are rounded up to a size class (8 classes per power of
// two, so at most 12.5% larger than asked) and, when a tensor frees one, kept by the cache
// instead of going back to malloc. An allocation takes the smallest cached block of its
// class or larger, up to twice its class, before it asks malloc. A training step allocates
// and frees much the same sizes every time; through malloc, many of them were mmap'ed (or
// carved from a heap that malloc then trimmed) and their pages faulted in again at the next
// step, which cost ~3-5% of the CPU time of the demo's JSB training (docs/perf.md, "CPU
// memory"). Smaller buffers go to malloc directly, which keeps them in its own bins.
//
// The cache is thread-safe and bounded (1 GiB by default, set_cache_limit): a block freed
// when the cache is full goes back to malloc. It is off in AddressSanitizer builds, so that
// ASan still reports a use after free, and off when the environment has
// LIBNN_CPU_CACHING_ALLOCATOR=0; set_caching_allocator(true) turns it on anyway.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nn::cpu {

struct MemoryStats {
  std::size_t cached = 0;        // bytes in free blocks the cache holds now
  std::int64_t allocations = 0;  // buffers of at least 64 KiB handed out
  std::int64_t cache_hits = 0;   // of those, blocks reused from the cache
  std::int64_t released = 0;     // blocks freed to malloc because the cache was full or off
};
MemoryStats memory_stats();

// Returns every cached block to malloc.
void empty_cache();

// Turns the cache on or off (off empties it). Blocks freed while it is off go to malloc.
void set_caching_allocator(bool enabled);
bool caching_allocator_enabled();

// The most bytes of free blocks the cache keeps (at least 0; lowering it empties the cache
// down to the new limit).
void set_cache_limit(std::size_t bytes);
std::size_t cache_limit();

}  // namespace nn::cpu
