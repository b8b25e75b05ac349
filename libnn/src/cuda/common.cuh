// What every CUDA kernel file of libnn shares: the checked-call macros, the current stream,
// launch sizes, and block-level reductions with a fixed order.
//
// A launcher (the function a kernel table calls) is an ordinary host function that takes the
// table's arguments, launches on current_stream() and checks the launch:
//
//   void relu_cuda(const Tensor& x, Tensor& out) {
//     const std::int64_t n = x.numel();
//     if (n == 0) return;
//     relu_kernel<<<grid_for(n), kBlock, 0, current_stream()>>>(x.data_ptr<float>(),
//                                                                out.data_ptr<float>(), n);
//     NN_CUDA_CHECK_LAUNCH();
//   }
//
// The dispatch (kernels::Table) has made the tensor's device current before the call.
// Kernels never use float atomics: a reduction has a fixed order, so the same inputs give
// the same bits on every run (docs/libnn.md, "Devices").
#pragma once

// fmt 9 turns its constexpr off under nvcc but keeps its consteval format-string check,
// which then cannot compile (NN_CHECK's messages). nvcc 13 handles fmt's constexpr well, so
// turn it back on. The build passes -DFMT_USE_CONSTEXPR=1 to every .cu file too, for those
// that include fmt before this header.
#ifndef FMT_USE_CONSTEXPR
#define FMT_USE_CONSTEXPR 1
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/check.hpp"
#include "libnn/tensor.hpp"

namespace nn::cuda {

// Throws nn::Error: "CUDA error: <call> failed with <name> (<description>) at <file>:<line>".
[[noreturn]] void throw_cuda_error(cudaError_t error, const char* call, const char* file, int line);

// The current stream of the current device (see libnn/cuda.hpp), as a cudaStream_t.
cudaStream_t current_stream();

// Makes `device` this thread's current device (the dispatch does it before every kernel).
// Throws nn::Error when there is no such device, saying why.
void activate(Device device);

// Copies `nbytes` from device memory to host memory on the current stream and waits for it:
// for the kernels that return a value to the host (an error flag, a norm).
void copy_to_host(void* host, const void* device, std::size_t nbytes);

}  // namespace nn::cuda

#define NN_CUDA_CHECK(call)                                                      \
  do {                                                                           \
    const cudaError_t nn_cuda_status_ = (call);                                  \
    if (nn_cuda_status_ != cudaSuccess) [[unlikely]]                             \
      ::nn::cuda::throw_cuda_error(nn_cuda_status_, #call, __FILE__, __LINE__);  \
  } while (false)

// After every launch: a bad configuration shows here, a fault in the kernel at the next
// synchronizing call.
#define NN_CUDA_CHECK_LAUNCH() NN_CUDA_CHECK(cudaGetLastError())

namespace nn::cuda {

constexpr int kBlock = 256;   // threads per block for elementwise work
constexpr int kWarp = 32;

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never more than needed.
inline unsigned grid_for(std::int64_t n, int block = kBlock) {
  const std::int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 65535LL * 16));
}

// Grid-stride loop: for (i = first; i < n; i += stride).
#define NN_CUDA_KERNEL_LOOP(i, n)                                                         \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; \
       i < (n); i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)

// --- fixed-order reductions ----------------------------------------------------------------
// The butterfly over a warp: every lane gets the sum of all 32, in an order fixed by the lane
// numbers (so the same bits every run).
template <class T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
template <class T> __device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = max(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// The sum over a block (blockDim.x a multiple of 32, at most 1024), returned to every thread.
// `scratch` holds 32 values of shared memory; the call ends with the block synchronized, so
// the same scratch can serve the next call.
template <class T> __device__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = lane < warps ? scratch[lane] : T(0);
  total = warp_sum(total);
  __syncthreads();
  return total;
}
template <class T> __device__ T block_max(T v, T* scratch, T lowest) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = lane < warps ? scratch[lane] : lowest;
  total = warp_max(total);
  __syncthreads();
  return total;
}

}  // namespace nn::cuda
