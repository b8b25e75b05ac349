// parallel_for over [0, n) on OpenMP threads, in contiguous chunks; serial below `grain`
// elements (a fork costs microseconds). Each index is handled by exactly one thread, so
// kernels that write out[i] from inputs at i stay deterministic whatever the thread count.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace nn::cpu {

template <class Fn>
void parallel_for(std::int64_t n, std::int64_t grain, const Fn& fn) {
  if (n <= 0) return;
  if (n <= grain || omp_get_max_threads() == 1 || omp_in_parallel()) {
    fn(std::int64_t{0}, n);
    return;
  }
  const std::int64_t max_chunks = (n + grain - 1) / grain;
#pragma omp parallel num_threads(static_cast<int>(std::min<std::int64_t>(omp_get_max_threads(), max_chunks)))
  {
    const std::int64_t threads = omp_get_num_threads();
    const std::int64_t id = omp_get_thread_num();
    const std::int64_t chunk = (n + threads - 1) / threads;
    const std::int64_t begin = std::min(n, id * chunk);
    const std::int64_t end = std::min(n, begin + chunk);
    if (begin < end) fn(begin, end);
  }
}

}  // namespace nn::cpu
