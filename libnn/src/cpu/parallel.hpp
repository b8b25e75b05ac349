// parallel_for over [0, n) on libnn's threads (thread_pool.hpp); serial below `grain`
// elements (waking a worker costs microseconds). The range is cut into pieces of at least
// `grain` elements, about kPiecesPerThread per thread, which the threads claim first come,
// first served: a thread that starts late (its core busy with another process) takes fewer,
// and none waits for it. Each index is handled by exactly one call, so kernels that write
// out[i] from inputs at i stay deterministic whatever the thread count or the claiming order.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "cpu/thread_pool.hpp"

namespace nn::cpu {

inline constexpr std::int64_t kPiecesPerThread = 4;

template <class Fn>
void parallel_for(std::int64_t n, std::int64_t grain, const Fn& fn) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(1, grain);
  const std::int64_t most = (n + grain - 1) / grain;  // pieces of at least `grain`
  const int team = static_cast<int>(std::min<std::int64_t>(max_team(), most));
  if (n <= grain || team <= 1) {
    fn(std::int64_t{0}, n);
    return;
  }
  const std::int64_t pieces = std::min<std::int64_t>(most, kPiecesPerThread * team);
  const std::int64_t size = (n + pieces - 1) / pieces;
  std::atomic<std::int64_t> next{0};
  run_team(team, [&](int) {
    for (std::int64_t p = next.fetch_add(1, std::memory_order_relaxed); p * size < n;
         p = next.fetch_add(1, std::memory_order_relaxed)) {
      fn(p * size, std::min(n, (p + 1) * size));
    }
  });
}

}  // namespace nn::cpu
