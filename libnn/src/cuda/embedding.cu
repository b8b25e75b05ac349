// CUDA embedding kernels (src/kernels/embedding.hpp): the index check, the row gather of the
// forward, and the backward's per-row sums.
//
// The backward is deterministic without atomics, as the CPU kernel is: the positions are
// sorted by index with a stable radix sort (so each row's positions stay in ascending n), the
// boundaries of each row's run are marked, and one thread per (row, column) sums its run in
// ascending n, in double, then rounds to float -- the same additions in the same order as
// embedding_backward_cpu, so the two devices give the same bits.
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <bit>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/register.hpp"
#include "kernels/embedding.hpp"

namespace nn::cuda {
namespace {

Tensor int64_scratch(std::int64_t count, Device device) {
  return nn::empty({count}, TensorOptions().dtype(DType::Int64).device(device));
}

bool aligned16(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; }

// --- embedding_check ----------------------------------------------------------------------
// Block b finds the first bad position in its contiguous range (or N for none) and writes it
// to partial[b]; one block then takes the min of the partials. A min over integers has one
// answer whatever the order, so the result never depends on scheduling.

constexpr std::int64_t kCheckMinChunk = 8192;  // positions per block, at least
constexpr std::int64_t kCheckMaxBlocks = 1024;

__device__ std::int64_t block_min(std::int64_t v, std::int64_t* scratch, std::int64_t none) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v = min(v, static_cast<std::int64_t>(__shfl_xor_sync(0xffffffffu, v, offset)));
  }
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : none;
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v = min(v, static_cast<std::int64_t>(__shfl_xor_sync(0xffffffffu, v, offset)));
  }
  __syncthreads();
  return v;
}

__global__ void __launch_bounds__(kBlock) first_bad_partial_kernel(
    const std::int64_t* __restrict__ idx, std::int64_t N, std::int64_t V, std::int64_t chunk,
    std::int64_t* partial) {
  __shared__ std::int64_t scratch[kWarp];
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * chunk;
  const std::int64_t end = std::min(N, begin + chunk);
  std::int64_t first = N;
  // Each thread's positions ascend, so its first hit is its smallest.
  for (std::int64_t n = begin + threadIdx.x; n < end; n += blockDim.x) {
    const std::int64_t v = idx[n];
    if (v < 0 || v >= V) {
      first = n;
      break;
    }
  }
  first = block_min(first, scratch, N);
  if (threadIdx.x == 0) partial[blockIdx.x] = first;
}

// One block: partial[count] = min of partial[0..count), or -1 when that is N (no bad index).
__global__ void __launch_bounds__(kBlock) first_bad_final_kernel(std::int64_t* partial,
                                                                 std::int64_t count,
                                                                 std::int64_t N) {
  __shared__ std::int64_t scratch[kWarp];
  std::int64_t first = N;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) first = min(first, partial[i]);
  first = block_min(first, scratch, N);
  if (threadIdx.x == 0) partial[count] = first == N ? -1 : first;
}

std::int64_t embedding_check_cuda(const Tensor& indices, std::int64_t N, std::int64_t V) {
  if (N == 0) return -1;
  const std::int64_t chunk =
      std::max(kCheckMinChunk, (N + kCheckMaxBlocks - 1) / kCheckMaxBlocks);
  const std::int64_t blocks = (N + chunk - 1) / chunk;
  Tensor scratch = int64_scratch(blocks + 1, indices.device());
  std::int64_t* partial = scratch.data_ptr<std::int64_t>();

  first_bad_partial_kernel<<<static_cast<unsigned>(blocks), kBlock, 0, current_stream()>>>(
      indices.data_ptr<std::int64_t>(), N, V, chunk, partial);
  NN_CUDA_CHECK_LAUNCH();
  first_bad_final_kernel<<<1, kBlock, 0, current_stream()>>>(partial, blocks, N);
  NN_CUDA_CHECK_LAUNCH();

  std::int64_t first = -1;
  copy_to_host(&first, partial + blocks, sizeof(first));
  return first;
}

// --- embedding_forward --------------------------------------------------------------------
// out viewed as (N, cols) elements of T: consecutive threads copy consecutive elements of a
// row, so both the read of weight's row and the write of out's are coalesced. T is float4
// when D is a multiple of 4 and both buffers are 16-byte aligned.

template <class T>
__global__ void __launch_bounds__(kBlock) gather_rows_kernel(const T* __restrict__ weight,
                                                            const std::int64_t* __restrict__ idx,
                                                            T* __restrict__ out, std::int64_t N,
                                                            std::int64_t cols) {
  NN_CUDA_KERNEL_LOOP(i, N * cols) {
    const std::int64_t n = i / cols;
    const std::int64_t c = i - n * cols;
    out[i] = weight[idx[n] * cols + c];
  }
}

void embedding_forward_cuda(const Tensor& weight, const Tensor& indices, Tensor& out,
                            std::int64_t N, std::int64_t /*V*/, std::int64_t D) {
  if (N == 0 || D == 0) return;
  const float* w = weight.data_ptr<float>();
  const std::int64_t* idx = indices.data_ptr<std::int64_t>();
  float* o = out.data_ptr<float>();
  if (D % 4 == 0 && aligned16(w) && aligned16(o)) {
    const std::int64_t cols = D / 4;
    gather_rows_kernel<<<grid_for(N * cols), kBlock, 0, current_stream()>>>(
        reinterpret_cast<const float4*>(w), idx, reinterpret_cast<float4*>(o), N, cols);
  } else {
    gather_rows_kernel<<<grid_for(N * D), kBlock, 0, current_stream()>>>(w, idx, o, N, D);
  }
  NN_CUDA_CHECK_LAUNCH();
}

// --- embedding_backward -------------------------------------------------------------------

__global__ void __launch_bounds__(kBlock) iota_kernel(std::int64_t* out, std::int64_t n) {
  NN_CUDA_KERNEL_LOOP(i, n) out[i] = i;
}

// keys are the sorted indices: row v's positions are order[start[v] .. end[v]); rows never
// indexed keep start = end = 0 (zeroed before).
__global__ void __launch_bounds__(kBlock) mark_runs_kernel(const std::uint64_t* __restrict__ keys,
                                                          std::int64_t N, std::int64_t* start,
                                                          std::int64_t* end) {
  NN_CUDA_KERNEL_LOOP(k, N) {
    const std::uint64_t key = keys[k];
    if (k == 0 || keys[k - 1] != key) start[key] = k;
    if (k == N - 1 || keys[k + 1] != key) end[key] = k + 1;
  }
}

// One thread per (row v, column d), d fastest so that the reads of each dout row coalesce.
// Every element of dweight is written (zero for a row never indexed).
__global__ void __launch_bounds__(kBlock) sum_runs_kernel(const float* __restrict__ dout,
                                                         const std::int64_t* __restrict__ order,
                                                         const std::int64_t* __restrict__ start,
                                                         const std::int64_t* __restrict__ end,
                                                         float* __restrict__ dweight,
                                                         std::int64_t V, std::int64_t D) {
  NN_CUDA_KERNEL_LOOP(i, V * D) {
    const std::int64_t v = i / D;
    const std::int64_t d = i - v * D;
    const std::int64_t last = end[v];
    double acc = 0.0;  // in double and ascending n, as embedding_backward_cpu
    for (std::int64_t k = start[v]; k < last; ++k) acc += dout[order[k] * D + d];
    dweight[i] = static_cast<float>(acc);
  }
}

void embedding_backward_cuda(const Tensor& dout, const Tensor& indices, Tensor& dweight,
                             std::int64_t N, std::int64_t V, std::int64_t D) {
  if (V == 0 || D == 0) return;
  const cudaStream_t stream = current_stream();
  float* dw = dweight.data_ptr<float>();
  if (N == 0) {
    NN_CUDA_CHECK(cudaMemsetAsync(dw, 0, static_cast<std::size_t>(V * D) * sizeof(float), stream));
    return;
  }

  // positions (0..N-1), then the sorted keys, then the positions in sorted order.
  Tensor scratch = int64_scratch(3 * N, dout.device());
  std::int64_t* positions = scratch.data_ptr<std::int64_t>();
  std::int64_t* sorted_keys = positions + N;
  std::int64_t* order = positions + 2 * N;
  iota_kernel<<<grid_for(N), kBlock, 0, stream>>>(positions, N);
  NN_CUDA_CHECK_LAUNCH();

  // The indices are valid (checked before the op runs), so they are non-negative and sort as
  // unsigned keys, over the low bits that can differ only.
  const auto* keys_in = reinterpret_cast<const std::uint64_t*>(indices.data_ptr<std::int64_t>());
  auto* keys_out = reinterpret_cast<std::uint64_t*>(sorted_keys);
  const int end_bit = std::max(1, static_cast<int>(std::bit_width(static_cast<std::uint64_t>(V - 1))));
  std::size_t temp_bytes = 0;
  NN_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, positions,
                                                order, N, 0, end_bit, stream));
  Tensor temp = int64_scratch(static_cast<std::int64_t>((temp_bytes + 7) / 8) + 1, dout.device());
  NN_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data_ptr<std::int64_t>(), temp_bytes, keys_in,
                                                keys_out, positions, order, N, 0, end_bit, stream));

  Tensor runs = int64_scratch(2 * V, dout.device());
  std::int64_t* start = runs.data_ptr<std::int64_t>();
  std::int64_t* end = start + V;
  NN_CUDA_CHECK(cudaMemsetAsync(start, 0, static_cast<std::size_t>(2 * V) * sizeof(std::int64_t),
                                stream));
  mark_runs_kernel<<<grid_for(N), kBlock, 0, stream>>>(keys_out, N, start, end);
  NN_CUDA_CHECK_LAUNCH();

  sum_runs_kernel<<<grid_for(V * D), kBlock, 0, stream>>>(dout.data_ptr<float>(), order, start,
                                                          end, dw, V, D);
  NN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void register_embedding_kernels() {
  kernels::embedding_check.set(DeviceType::CUDA, embedding_check_cuda);
  kernels::embedding_forward.set(DeviceType::CUDA, embedding_forward_cuda);
  kernels::embedding_backward.set(DeviceType::CUDA, embedding_backward_cuda);
}

}  // namespace nn::cuda
