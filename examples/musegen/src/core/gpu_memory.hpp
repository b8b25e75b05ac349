// What the commands say about GPU memory: the amount in use for the progress line, and an
// out-of-memory error turned into advice ("try a smaller --batch").
//
// libnn reports CUDA out of memory as an nn::Error whose message starts "CUDA out of memory"
// (its caching allocator, after emptying its cache and retrying cudaMalloc; docs/libnn.md,
// "The caching allocator"); cuBLAS and the runtime say "out of memory" in their own words
// (CUBLAS_STATUS_ALLOC_FAILED, cudaErrorMemoryAllocation), so the test is on those phrases.
#pragma once

#include <exception>
#include <libnn/dtype.hpp>
#include <string>

namespace musegen {

// Bytes held by tensors on `device` now (nn::cuda::memory_stats().allocated), in GiB; 0 on
// the CPU. Host bookkeeping only: no synchronization, cheap enough for every progress line.
double gpu_gib_in_use(nn::Device device);

// "GPU 1.23 GiB" for a CUDA device, "" on the CPU: the progress line's memory field.
std::string gpu_memory_field(nn::Device device);

// Whether `error` is a device running out of memory (see above).
bool is_out_of_memory(const std::exception& error);

// The message for an out-of-memory error on `device` at `where` ("step 12", "batch 3 of 8"):
// "out of GPU memory at step 12 (3.10 GiB in use, peak 3.90 GiB): <advice>; libnn said: ...".
std::string out_of_memory_message(nn::Device device, const std::string& where,
                                  const std::string& advice, const std::exception& error);

}  // namespace musegen
