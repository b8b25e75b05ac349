// How many threads libnn's CPU kernels use.
//
// libnn runs its parallel loops on threads of its own (src/cpu/thread_pool.hpp), as many as
// OpenMP's setting for the calling thread: OMP_NUM_THREADS at start, then
// omp_set_num_threads() or set_num_threads() below (both set the same value). As with OpenMP,
// the setting belongs to the thread that makes it: a thread of your own starts with the
// process's default (OMP_NUM_THREADS, else one per core). Results do not depend on it (the
// same bits for any thread count; docs/libnn.md, "Threads").
#pragma once

namespace nn {

// Sets the number of threads the calling thread's libnn calls use (>= 1; throws
// std::invalid_argument otherwise).
void set_num_threads(int threads);

// The number of threads the calling thread's libnn calls use.
int get_num_threads();

}  // namespace nn
