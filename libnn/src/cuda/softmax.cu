// CUDA softmax and log-softmax kernels (src/kernels/softmax.hpp), forward and backward: the
// functions of src/cpu/softmax.cpp on the GPU.
//
// Softmax is memory-bound, so with inner == 1 a row of C values is read from memory once
// where it fits in registers: it is held by one warp (short rows, 8 rows per block) or one
// block (up to C = 16384 forward, 8192 backward, which holds gy and y; half those when the rows
// are not 16-byte aligned for float4), its max and sum come from the fixed-order reductions of
// common.cuh, and it is written once. Longer rows are streamed twice: an online max-and-sum
// pass, then the output. With inner > 1 (a softmax over an earlier dim) a block takes 32
// adjacent (outer, inner) columns, 8 threads per column each walking every 8th of its C
// strided values, combined in order through shared memory.
//
// No atomics: every sum has an order fixed by the launch shape, which depends on the sizes
// only, so the same inputs give the same bits on every run. The sums are float, per thread
// then over the threads (the strided backward's in double): ~1e-7 relative from the CPU's
// double sums, well inside float32 comparisons.
#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/register.hpp"
#include "cuda/rows.cuh"
#include "kernels/softmax.hpp"

namespace nn::cuda {
namespace {

// --- rows held in registers (inner == 1) ----------------------------------------------------
// The warp/block plan and its dispatch are rows.cuh's; the register budgets are softmax's.

constexpr int kForwardFloats = 32;   // floats of the row each thread holds, forward (one array)
constexpr int kBackwardFloats = 16;  // the same per array, backward (gy and y)

// y = softmax(x) or log_softmax(x) over each row, the row in registers.
template <int W, int K, bool kWarpRows>
__global__ void __launch_bounds__(kMaxRowThreads)
    softmax_forward_rows_kernel(const float* __restrict__ x, float* __restrict__ y,
                                std::int64_t rows, std::int64_t c, bool log) {
  __shared__ float scratch[kWarp];
  const RowGroup<kWarpRows> g;
  const int nvec = static_cast<int>(c / W);  // <= 8192: plan_rows
  for (std::int64_t row = g.first; row < rows; row += g.stride) {
    const float* xr = x + row * c;
    float* yr = y + row * c;
    float v[K][W];
    float m = -INFINITY;
    load_row(g, xr, nvec, v, [&](float e) { m = fmaxf(m, e); });
    m = g.max(m, scratch);
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      if (g.tid + k * g.size < nvec) {
#pragma unroll
        for (int w = 0; w < W; ++w) {
          const float e = expf(v[k][w] - m);
          s += e;
          if (!log) v[k][w] = e;  // softmax keeps exp(x - m); log_softmax needs x - m
        }
      }
    }
    s = g.sum(s, scratch);
    const float f = log ? logf(s) : 1.0f / s;  // log(sum) or 1/sum, as the CPU
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = g.tid + k * g.size;
      if (j < nvec) {
#pragma unroll
        for (int w = 0; w < W; ++w) v[k][w] = log ? (v[k][w] - m) - f : v[k][w] * f;
        store_vec<W>(yr + j * W, v[k]);
      }
    }
  }
}

// Rows too long for registers: an online max-and-sum pass, then the output pass.
__global__ void __launch_bounds__(kMaxRowThreads)
    softmax_forward_loop_kernel(const float* __restrict__ x, float* __restrict__ y,
                                std::int64_t rows, std::int64_t c, bool log) {
  __shared__ float scratch[kWarp];
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * c;
    float* yr = y + row * c;
    float m = -INFINITY, s = 0.0f;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) online_add(m, s, xr[j]);
    const float row_max = block_max(m, scratch, -INFINITY);
    const float total = block_sum(rescale(m, s, row_max), scratch);
    const float f = log ? logf(total) : 1.0f / total;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      yr[j] = log ? (xr[j] - row_max) - f : expf(xr[j] - row_max) * f;
    }
  }
}

// gx from gy and y over each row, both held in registers:
//   y = exp(x - m) / sum_c exp(x - m)        ->  gx = y * (gy - sum_c(gy * y))
//   y = x - m - log(sum_c exp(x - m))        ->  gx = gy - exp(y) * sum_c(gy)
// gx may be gy's buffer: every element is read before its own thread writes it.
template <int W, int K, bool kWarpRows>
__global__ void __launch_bounds__(kMaxRowThreads)
    softmax_backward_rows_kernel(const float* gy, const float* y, float* gx, std::int64_t rows,
                                 std::int64_t c, bool log) {
  __shared__ float scratch[kWarp];
  const RowGroup<kWarpRows> g;
  const int nvec = static_cast<int>(c / W);  // <= 8192: plan_rows
  for (std::int64_t row = g.first; row < rows; row += g.stride) {
    const std::int64_t offset = row * c;
    float gv[K][W], yv[K][W];
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = g.tid + k * g.size;
      if (j < nvec) {
        load_vec<W>(gy + offset + j * W, gv[k]);
        load_vec<W>(y + offset + j * W, yv[k]);
#pragma unroll
        for (int w = 0; w < W; ++w) acc += log ? gv[k][w] : gv[k][w] * yv[k][w];
      }
    }
    acc = g.sum(acc, scratch);
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = g.tid + k * g.size;
      if (j < nvec) {
#pragma unroll
        for (int w = 0; w < W; ++w) {
          gv[k][w] = log ? gv[k][w] - expf(yv[k][w]) * acc : yv[k][w] * (gv[k][w] - acc);
        }
        store_vec<W>(gx + offset + j * W, gv[k]);
      }
    }
  }
}

__global__ void __launch_bounds__(kMaxRowThreads)
    softmax_backward_loop_kernel(const float* gy, const float* y, float* gx, std::int64_t rows,
                                 std::int64_t c, bool log) {
  __shared__ float scratch[kWarp];
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t offset = row * c;
    float acc = 0.0f;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      acc += log ? gy[offset + j] : gy[offset + j] * y[offset + j];
    }
    acc = block_sum(acc, scratch);
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const float yj = y[offset + j], gj = gy[offset + j];
      gx[offset + j] = log ? gj - expf(yj) * acc : yj * (gj - acc);
    }
  }
}

// --- strided columns (inner > 1) ------------------------------------------------------------
// Column q of the (outer, inner) plane is x[o, :, i], q = o * inner + i: C values inner apart.
// Adjacent threads take adjacent columns, so each of their loads is coalesced.

constexpr int kColTile = 32;  // columns per block (threadIdx.x)
constexpr int kColSplit = 8;  // threads per column (threadIdx.y), each every 8th value of C

__global__ void __launch_bounds__(kColTile* kColSplit)
    softmax_forward_cols_kernel(const float* __restrict__ x, float* __restrict__ y,
                                std::int64_t outer, std::int64_t c, std::int64_t inner, bool log) {
  __shared__ float part_max[kColSplit][kColTile], part_sum[kColSplit][kColTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const std::int64_t cols = outer * inner;
  const std::int64_t tiles = (cols + kColTile - 1) / kColTile;
  for (std::int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const std::int64_t col = tile * kColTile + tx;
    const bool active = col < cols;
    const std::int64_t base = active ? (col / inner) * c * inner + col % inner : 0;
    float m = -INFINITY, s = 0.0f;
    if (active) {
      for (std::int64_t k = ty; k < c; k += kColSplit) online_add(m, s, x[base + k * inner]);
    }
    part_max[ty][tx] = m;
    part_sum[ty][tx] = s;
    __syncthreads();
    float col_max = -INFINITY;
    for (int q = 0; q < kColSplit; ++q) col_max = fmaxf(col_max, part_max[q][tx]);
    float total = 0.0f;
    for (int q = 0; q < kColSplit; ++q) total += rescale(part_max[q][tx], part_sum[q][tx], col_max);
    __syncthreads();  // the next tile overwrites the partials
    const float f = log ? logf(total) : 1.0f / total;
    if (active) {
      for (std::int64_t k = ty; k < c; k += kColSplit) {
        const float v = x[base + k * inner];
        y[base + k * inner] = log ? (v - col_max) - f : expf(v - col_max) * f;
      }
    }
  }
}

__global__ void __launch_bounds__(kColTile* kColSplit)
    softmax_backward_cols_kernel(const float* gy, const float* y, float* gx, std::int64_t outer,
                                 std::int64_t c, std::int64_t inner, bool log) {
  __shared__ double part[kColSplit][kColTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const std::int64_t cols = outer * inner;
  const std::int64_t tiles = (cols + kColTile - 1) / kColTile;
  for (std::int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const std::int64_t col = tile * kColTile + tx;
    const bool active = col < cols;
    const std::int64_t base = active ? (col / inner) * c * inner + col % inner : 0;
    double acc = 0.0;  // sum_c(gy) for log_softmax, sum_c(gy * y) for softmax, as the CPU
    if (active) {
      for (std::int64_t k = ty; k < c; k += kColSplit) {
        const std::int64_t at = base + k * inner;
        acc += log ? static_cast<double>(gy[at]) : static_cast<double>(gy[at]) * y[at];
      }
    }
    part[ty][tx] = acc;
    __syncthreads();
    double total = 0.0;
    for (int q = 0; q < kColSplit; ++q) total += part[q][tx];
    __syncthreads();
    const float s = static_cast<float>(total);
    if (active) {
      for (std::int64_t k = ty; k < c; k += kColSplit) {
        const std::int64_t at = base + k * inner;
        const float yk = y[at], gk = gy[at];
        gx[at] = log ? gk - expf(yk) * s : yk * (gk - s);
      }
    }
  }
}

unsigned col_blocks(std::int64_t outer, std::int64_t inner) {
  const std::int64_t tiles = (outer * inner + kColTile - 1) / kColTile;
  return static_cast<unsigned>(std::clamp<std::int64_t>(tiles, 1, kMaxBlocks));
}

// --- launchers ------------------------------------------------------------------------------

void softmax_forward_cuda(const Tensor& x, Tensor& y, std::int64_t outer, std::int64_t c,
                          std::int64_t inner, bool log) {
  if (outer == 0 || c == 0 || inner == 0) return;
  const float* px = x.data_ptr<float>();
  float* py = y.data_ptr<float>();
  cudaStream_t stream = current_stream();
  if (inner > 1) {
    softmax_forward_cols_kernel<<<col_blocks(outer, inner), dim3(kColTile, kColSplit), 0, stream>>>(
        px, py, outer, c, inner, log);
    NN_CUDA_CHECK_LAUNCH();
    return;
  }
  const RowPlan plan = plan_rows(c, c % 4 == 0 && aligned16(px) && aligned16(py), kForwardFloats);
  const unsigned blocks = row_blocks(plan, outer);
  if (plan.items == 0) {
    softmax_forward_loop_kernel<<<blocks, plan.threads, 0, stream>>>(px, py, outer, c, log);
  } else {
    dispatch_cached<kForwardFloats>(plan, [&]<int W, int K, bool kWarpRows>() {
      softmax_forward_rows_kernel<W, K, kWarpRows>
          <<<blocks, plan.threads, 0, stream>>>(px, py, outer, c, log);
    });
  }
  NN_CUDA_CHECK_LAUNCH();
}

void softmax_backward_cuda(const Tensor& gy, const Tensor& y, Tensor& gx, std::int64_t outer,
                           std::int64_t c, std::int64_t inner, bool log) {
  if (outer == 0 || c == 0 || inner == 0) return;
  const float* pg = gy.data_ptr<float>();
  const float* py = y.data_ptr<float>();
  float* po = gx.data_ptr<float>();
  cudaStream_t stream = current_stream();
  if (inner > 1) {
    softmax_backward_cols_kernel<<<col_blocks(outer, inner), dim3(kColTile, kColSplit), 0, stream>>>(
        pg, py, po, outer, c, inner, log);
    NN_CUDA_CHECK_LAUNCH();
    return;
  }
  const bool vec4 = c % 4 == 0 && aligned16(pg) && aligned16(py) && aligned16(po);
  const RowPlan plan = plan_rows(c, vec4, kBackwardFloats);
  const unsigned blocks = row_blocks(plan, outer);
  if (plan.items == 0) {
    softmax_backward_loop_kernel<<<blocks, plan.threads, 0, stream>>>(pg, py, po, outer, c, log);
  } else {
    dispatch_cached<kBackwardFloats>(plan, [&]<int W, int K, bool kWarpRows>() {
      softmax_backward_rows_kernel<W, K, kWarpRows>
          <<<blocks, plan.threads, 0, stream>>>(pg, py, po, outer, c, log);
    });
  }
  NN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void register_softmax_kernels() {
  kernels::softmax_forward.set(DeviceType::CUDA, softmax_forward_cuda);
  kernels::softmax_backward.set(DeviceType::CUDA, softmax_backward_cuda);
}

}  // namespace nn::cuda
