// The CUDA caching allocator: cudaMalloc is slow (it synchronizes the device) and training
// frees and re-allocates the same sizes every step, so freed blocks are kept and handed out
// again. Never managed memory: plain cudaMalloc only.
//
// - Size classes: a request is rounded up to one of 8 classes per power of two (at least
//   512 bytes), so a reused block is at most 12.5% larger than asked, and each class has its
//   own free list (no splitting, no fragmentation of one segment by another size).
// - Streams: a block remembers the stream it was handed out for. Freed, it is reused at once
//   for a request on the same stream (the stream's order makes that safe). For a request on
//   another stream, the allocator records an event on the block's stream and makes the new
//   stream wait for it: the block is reused only after all work queued where it was freed.
//   A tensor used on a second stream must be kept alive by its user until that work is done
//   (PyTorch's record_stream is not offered yet).
// - Freeing is bookkeeping only, no CUDA call: safe from any destructor, even after the CUDA
//   runtime has shut down at exit.
// - Out of memory: every cached block is returned to the driver and the cudaMalloc retried;
//   if it fails again the error says what was asked, what libnn holds and what is free.
// - Statistics per device: allocated, reserved, their peaks, hits (libnn/cuda.hpp).
#include <cuda_runtime.h>

#include <atomic>
#include <bit>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/allocator.hpp"
#include "cuda/common.cuh"
#include "libnn/cuda.hpp"

namespace nn::cuda {

namespace {

constexpr std::size_t kMinBlock = 512;

std::size_t size_class(std::size_t nbytes) {
  if (nbytes <= kMinBlock) return kMinBlock;
  // 8 classes per power of two: round up to a multiple of 2^(floor(log2 n) - 3).
  const int log2 = std::bit_width(nbytes) - 1;
  const std::size_t step = std::size_t{1} << (log2 - 3);
  return (nbytes + step - 1) / step * step;
}

struct Block {
  void* ptr = nullptr;
  std::size_t size = 0;  // the size class: what cudaMalloc gave
  cudaStream_t stream = nullptr;
};

struct DeviceCache {
  std::mutex mutex;
  std::unordered_map<void*, Block> in_use;
  std::unordered_map<std::size_t, std::vector<Block>> free_blocks;  // by size class
  cudaEvent_t event = nullptr;  // recorded on a block's stream for a cross-stream reuse
  MemoryStats stats;
};

std::vector<std::unique_ptr<DeviceCache>>& caches() {
  // Never destroyed: tensors freed by static destructors still find their cache.
  static auto* all = [] {
    auto* v = new std::vector<std::unique_ptr<DeviceCache>>();
    for (int d = 0; d < device_count(); ++d) v->push_back(std::make_unique<DeviceCache>());
    return v;
  }();
  return *all;
}

DeviceCache& cache_of(int device) {
  NN_CHECK(device >= 0 && device < static_cast<int>(caches().size()),
           "CUDA allocator: no device cuda:{} ({} device(s))", device, caches().size());
  return *caches()[static_cast<std::size_t>(device)];
}

std::atomic<bool> g_poison{false};

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Returns every free block of `cache` to the driver. The caller holds the lock and has made
// the device current; cudaFree waits for the device, so no queued work still uses a block.
void release_free_blocks(DeviceCache& cache) {
  for (auto& [size, blocks] : cache.free_blocks) {
    for (const Block& b : blocks) {
      NN_CUDA_CHECK(cudaFree(b.ptr));
      cache.stats.reserved -= b.size;
      ++cache.stats.cuda_frees;
    }
  }
  cache.free_blocks.clear();
}

[[noreturn]] void throw_out_of_memory(DeviceCache& cache, int device, std::size_t asked,
                                      std::size_t rounded) {
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) (void)cudaGetLastError();
  throw Error(fmt::format(
      "CUDA out of memory on cuda:{}: tried to allocate {:.1f} MiB ({} bytes, {} with its size "
      "class); libnn holds {:.1f} MiB in tensors and {:.1f} MiB reserved in all (its cache "
      "was emptied and the allocation retried); the device has {:.1f} MiB free of {:.1f} MiB. "
      "Free tensors you no longer need or use a smaller batch.",
      device, mib(asked), asked, rounded, mib(cache.stats.allocated), mib(cache.stats.reserved),
      mib(free_bytes), mib(total_bytes)));
}

}  // namespace

void* caching_allocate(std::size_t nbytes, int device_index) {
  activate(Device::cuda(device_index));
  const cudaStream_t stream = current_stream();
  const std::size_t size = size_class(nbytes);
  DeviceCache& cache = cache_of(device_index);
  std::lock_guard<std::mutex> lock(cache.mutex);

  Block block;
  bool reused = false;
  auto it = cache.free_blocks.find(size);
  if (it != cache.free_blocks.end() && !it->second.empty()) {
    std::vector<Block>& blocks = it->second;
    // Most recently freed first: its memory is likeliest to be in the L2.
    for (std::size_t i = blocks.size(); i-- > 0;) {
      if (blocks[i].stream == stream) {
        block = blocks[i];
        blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i));
        reused = true;
        break;
      }
    }
    if (!reused) {  // freed on another stream: wait there for everything queued so far
      block = blocks.back();
      blocks.pop_back();
      if (cache.event == nullptr) {
        NN_CUDA_CHECK(cudaEventCreateWithFlags(&cache.event, cudaEventDisableTiming));
      }
      NN_CUDA_CHECK(cudaEventRecord(cache.event, block.stream));
      NN_CUDA_CHECK(cudaStreamWaitEvent(stream, cache.event, 0));
      block.stream = stream;
      reused = true;
    }
  }
  if (!reused) {
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_free_blocks(cache);
      status = cudaMalloc(&ptr, size);
      if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        throw_out_of_memory(cache, device_index, nbytes, size);
      }
    }
    NN_CUDA_CHECK(status);
    ++cache.stats.cuda_mallocs;
    cache.stats.reserved += size;
    cache.stats.peak_reserved = std::max(cache.stats.peak_reserved, cache.stats.reserved);
    block = {ptr, size, stream};
  } else {
    ++cache.stats.cache_hits;
  }
  ++cache.stats.allocations;
  cache.stats.allocated += block.size;
  cache.stats.peak_allocated = std::max(cache.stats.peak_allocated, cache.stats.allocated);
  cache.in_use.emplace(block.ptr, block);
  if (g_poison.load(std::memory_order_relaxed)) {
    NN_CUDA_CHECK(cudaMemsetAsync(block.ptr, 0xFF, block.size, stream));
  }
  return block.ptr;
}

void caching_deallocate(void* ptr, int device_index) {
  if (ptr == nullptr) return;
  DeviceCache& cache = *caches()[static_cast<std::size_t>(device_index)];
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.in_use.find(ptr);
  if (it == cache.in_use.end()) return;  // not ours: nothing to return
  const Block block = it->second;
  cache.in_use.erase(it);
  cache.stats.allocated -= block.size;
  cache.free_blocks[block.size].push_back(block);
}

MemoryStats memory_stats(int device) {
  if (!is_available()) return {};
  DeviceCache& cache = cache_of(device);
  std::lock_guard<std::mutex> lock(cache.mutex);
  return cache.stats;
}

std::string memory_summary(int device) {
  if (!is_available()) return "CUDA memory: " + unavailable_reason();
  const MemoryStats s = memory_stats(device);
  const double hit_rate =
      s.allocations > 0 ? 100.0 * static_cast<double>(s.cache_hits) / static_cast<double>(s.allocations) : 0.0;
  return fmt::format(
      "CUDA memory on cuda:{}\n"
      "  allocated  {:10.1f} MiB   (peak {:.1f} MiB)\n"
      "  reserved   {:10.1f} MiB   (peak {:.1f} MiB)\n"
      "  blocks handed out {}, from the cache {} ({:.1f}%), cudaMalloc {}, cudaFree {}\n",
      device, mib(s.allocated), mib(s.peak_allocated), mib(s.reserved), mib(s.peak_reserved),
      s.allocations, s.cache_hits, hit_rate, s.cuda_mallocs, s.cuda_frees);
}

void reset_peak_memory_stats(int device) {
  if (!is_available()) return;
  DeviceCache& cache = cache_of(device);
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.stats.peak_allocated = cache.stats.allocated;
  cache.stats.peak_reserved = cache.stats.reserved;
}

void empty_cache() {
  if (!is_available()) return;
  for (int d = 0; d < device_count(); ++d) {
    DeviceCache& cache = cache_of(d);
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (cache.free_blocks.empty()) continue;
    activate(Device::cuda(d));
    release_free_blocks(cache);
  }
}

void set_poison_allocations(bool on) { g_poison.store(on); }

}  // namespace nn::cuda
