// The persistent LSTM recurrence (the Persistent RNN idea): one cooperative kernel runs all T
// steps; each block keeps its hidden units' slice of w_hh in shared memory for the whole
// sequence (the plan: src/kernels/lstm_plan.hpp), and one grid-wide synchronisation per step
// publishes the step's h (forward) or dG (backward) to every block. The input projection of
// all steps and, after the backward, dx, dw_ih, dw_hh and the bias gradients stay single
// GEMMs (src/cuda/lstm.cu).
//
// Inside a block a warp takes one item at a time, the same items at every step: one unit
// and kRows (4) adjacent batch rows. Its 32 lanes stride the dot products over H (forward:
// the unit's four w_hh rows against each row's h_{t-1}) or 4H (backward: the unit's w_hh
// column against each row's dG_{t+1}), so each shared-memory load of w_hh serves 4 rows; a
// butterfly of shuffles adds the lanes, and lane r does row r's pointwise work, exactly the
// formulas of the stepwise kernels in lstm.cu. Every sum has a fixed order: the same bits every run
// (not the stepwise path's bits: cuBLAS adds in another order).
//
// What other blocks wrote in this launch (h_{t-1}, dG_{t+1}) is read with __ldcg, from L2,
// after the grid sync; the cells and dc a thread reads are its own.
//
// Precision: each kernel is a template on how w_hh is kept on chip (OnChip<W>). float: the
// float32 products of the default precision. __nv_bfloat16, under the bf16 matmul precision
// ("medium"): w_hh rounded to bf16 (to nearest even) as it is loaded, half the shared memory
// per unit (so twice the weights fit), and the other operand (h_{t-1}, or dG_{t+1}) rounded
// to bf16 as it is read; the products of two bf16 values are exact in float32 and summed in
// float32, the gates and cells float32: the same arithmetic as the stepwise path's bf16
// GEMMs, in another order. TF32 ("high") keeps the float32 kernels.
#include <cooperative_groups.h>
#include <cuda_bf16.h>

#include <mutex>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/lstm_paths.hpp"

namespace cg = cooperative_groups;

namespace nn::cuda::lstm {
namespace {

// Batch rows per warp item: each shared-memory load of w_hh serves this many rows.
constexpr int kRows = 4;

__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// How a w_hh value is kept in shared memory, and how the other operand of its products is
// rounded: float (as it is) or __nv_bfloat16 (both rounded to bf16).
template <class W>
struct OnChip;

template <>
struct OnChip<float> {
  static __device__ __forceinline__ float store(float v) { return v; }
  static __device__ __forceinline__ float load(float v) { return v; }
  static __device__ __forceinline__ float operand(float v) { return v; }
};

template <>
struct OnChip<__nv_bfloat16> {
  static __device__ __forceinline__ __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }
  static __device__ __forceinline__ float load(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ float operand(float v) {
    return __bfloat162float(__float2bfloat16_rn(v));
  }
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

struct ForwardArgs {
  float* g;
  const float* b_ih;
  const float* b_hh;
  const float* h0;
  const float* c0;
  const float* w_hh;
  float* y;
  float* cbuf;
  int save;
  std::int64_t T, B, H, units;
};

// Shared memory: unit u's gate q row of w_hh at smem[(u * 4 + q) * H .. + H), as W.
template <class W>
__global__ void lstm_persistent_forward_kernel(ForwardArgs p) {
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  W* smem = reinterpret_cast<W*>(smem_bytes);
  cg::grid_group grid = cg::this_grid();
  const std::int64_t H = p.H, B = p.B, G4 = 4 * H, BH = B * H;
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * p.units;
  const std::int64_t nu = j0 < H ? (p.units < H - j0 ? p.units : H - j0) : 0;
  for (std::int64_t e = threadIdx.x; e < nu * G4; e += blockDim.x) {
    const std::int64_t u = e / G4, q = (e % G4) / H, k = e % H;
    smem[e] = OnChip<W>::store(p.w_hh[(q * H + j0 + u) * H + k]);
  }
  __syncthreads();
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  const std::int64_t groups = (B + kRows - 1) / kRows;
  for (std::int64_t t = 0; t < p.T; ++t) {
    const float* h_prev = t == 0 ? p.h0 : p.y + (t - 1) * BH;
    const float* c_prev = t == 0 ? p.c0 : p.cbuf + (p.save ? t - 1 : (t - 1) % 2) * BH;
    float* c_t = p.cbuf + (p.save ? t : t % 2) * BH;
    for (std::int64_t item = warp; item < groups * nu; item += nwarps) {
      const std::int64_t b0 = (item / nu) * kRows, u = item % nu, j = j0 + u;
      float acc[kRows][4];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int q = 0; q < 4; ++q) acc[r][q] = 0.0f;
      }
      if (h_prev) {
        const W* w = smem + u * G4;
        for (std::int64_t k = lane; k < H; k += 32) {
          float wq[4];
#pragma unroll
          for (int q = 0; q < 4; ++q) wq[q] = OnChip<W>::load(w[q * H + k]);
#pragma unroll
          for (int r = 0; r < kRows; ++r) {
            if (b0 + r < B) {  // the same for the whole warp
              const float hv = OnChip<W>::operand(__ldcg(h_prev + (b0 + r) * H + k));
#pragma unroll
              for (int q = 0; q < 4; ++q) acc[r][q] += hv * wq[q];
            }
          }
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
#pragma unroll
          for (int q = 0; q < 4; ++q) acc[r][q] = warp_sum(acc[r][q]);
        }
      }
      // Lane r finishes row b0 + r (the sums are in every lane after the butterfly).
      float mine[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (lane == r) {
#pragma unroll
          for (int q = 0; q < 4; ++q) mine[q] = acc[r][q];
        }
      }
      const std::int64_t b = b0 + lane;
      if (lane < kRows && b < B) {
        float* g_row = p.g + (t * B + b) * G4;
        float a[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const std::int64_t n = q * H + j;
          a[q] = g_row[n] + mine[q];
          if (p.b_ih || p.b_hh) a[q] += (p.b_ih ? p.b_ih[n] : 0.0f) + (p.b_hh ? p.b_hh[n] : 0.0f);
        }
        const float i = sigmoid(a[0]), f = sigmoid(a[1]), gv = tanhf(a[2]), o = sigmoid(a[3]);
        const std::int64_t k = b * H + j;
        const float cc = c_prev ? f * c_prev[k] + i * gv : i * gv;
        c_t[k] = cc;
        p.y[t * BH + k] = o * tanhf(cc);
        if (p.save) {
          g_row[j] = i;
          g_row[H + j] = f;
          g_row[2 * H + j] = gv;
          g_row[3 * H + j] = o;
        }
      }
    }
    grid.sync();
  }
}

struct BackwardArgs {
  const float* a;
  const float* cs;
  const float* c0;
  const float* dy;
  const float* dh_n;
  const float* dc_n;
  const float* w_hh;
  float* dg;
  float* dc_work;
  float* dc0;
  std::int64_t T, B, H, units;
};

// Shared memory: unit u's column of w_hh (4H values) at smem[u * 4H .. + 4H), as W.
template <class W>
__global__ void lstm_persistent_backward_kernel(BackwardArgs p) {
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  W* smem = reinterpret_cast<W*>(smem_bytes);
  cg::grid_group grid = cg::this_grid();
  const std::int64_t H = p.H, B = p.B, G4 = 4 * H, BH = B * H;
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * p.units;
  const std::int64_t nu = j0 < H ? (p.units < H - j0 ? p.units : H - j0) : 0;
  for (std::int64_t e = threadIdx.x; e < nu * G4; e += blockDim.x) {
    const std::int64_t u = e / G4, n = e % G4;
    smem[e] = OnChip<W>::store(p.w_hh[n * H + j0 + u]);
  }
  __syncthreads();
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  const std::int64_t groups = (B + kRows - 1) / kRows;
  for (std::int64_t t = p.T - 1; t >= 0; --t) {
    const bool last = t + 1 == p.T;
    for (std::int64_t item = warp; item < groups * nu; item += nwarps) {
      const std::int64_t b0 = (item / nu) * kRows, u = item % nu, j = j0 + u;
      // h_t feeds G_{t+1}: its recurrent gradient is (dG_{t+1} w_hh)[b, j]
      float acc[kRows] = {};
      if (!last) {
        const W* w = smem + u * G4;
        for (std::int64_t n = lane; n < G4; n += 32) {
          const float wn = OnChip<W>::load(w[n]);
#pragma unroll
          for (int r = 0; r < kRows; ++r) {
            if (b0 + r < B) {
              acc[r] += OnChip<W>::operand(__ldcg(p.dg + ((t + 1) * B + b0 + r) * G4 + n)) * wn;
            }
          }
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) acc[r] = warp_sum(acc[r]);
      }
      float dh_rec = 0.0f;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (lane == r) dh_rec = acc[r];
      }
      const std::int64_t b = b0 + lane;
      if (lane < kRows && b < B) {
        const std::int64_t k = b * H + j;
        if (last) dh_rec = p.dh_n[k];
        const float* a_row = p.a + (t * B + b) * G4;
        float* dg_row = p.dg + (t * B + b) * G4;
        const float i = a_row[j], f = a_row[H + j], gv = a_row[2 * H + j], o = a_row[3 * H + j];
        const float tc = tanhf(p.cs[t * BH + k]);
        const float dh = p.dy[t * BH + k] + dh_rec;
        const float dc = (last ? p.dc_n[k] : p.dc_work[k]) + dh * o * (1.0f - tc * tc);
        const float* c_prev = t == 0 ? p.c0 : p.cs + (t - 1) * BH;
        dg_row[3 * H + j] = dh * tc * o * (1.0f - o);
        dg_row[j] = dc * gv * i * (1.0f - i);
        dg_row[H + j] = c_prev ? dc * c_prev[k] * f * (1.0f - f) : 0.0f;
        dg_row[2 * H + j] = dc * i * (1.0f - gv * gv);
        if (t == 0 && p.dc0) {
          p.dc0[k] = dc * f;
        } else {
          p.dc_work[k] = dc * f;
        }
      }
    }
    grid.sync();
  }
}

struct DeviceLimits {
  int sm_count = 0;
  int smem_optin = 0;
  int cooperative = 0;
};

DeviceLimits device_limits() {
  static std::mutex mutex;
  static std::vector<std::pair<bool, DeviceLimits>> cache;
  int device = 0;
  NN_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard lock(mutex);
  if (cache.size() <= static_cast<std::size_t>(device)) cache.resize(device + 1);
  auto& [known, limits] = cache[device];
  if (!known) {
    NN_CUDA_CHECK(cudaDeviceGetAttribute(&limits.sm_count, cudaDevAttrMultiProcessorCount, device));
    NN_CUDA_CHECK(cudaDeviceGetAttribute(&limits.smem_optin,
                                         cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    NN_CUDA_CHECK(
        cudaDeviceGetAttribute(&limits.cooperative, cudaDevAttrCooperativeLaunch, device));
    known = true;
  }
  return limits;
}

// Lets `kernel` take `bytes` of dynamic shared memory and returns its occupancy then.
template <class Kernel>
int occupancy(Kernel kernel, int threads, std::int64_t bytes) {
  NN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     static_cast<int>(bytes)));
  int blocks = 0;
  NN_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads,
                                                              static_cast<std::size_t>(bytes)));
  return blocks;
}

}  // namespace

kernels::LstmPersistentPlan persistent_plan(std::int64_t B, std::int64_t H, bool bf16) {
  const DeviceLimits d = device_limits();
  kernels::LstmGpuLimits limits{d.sm_count, d.smem_optin, -1};
  const int weight_bytes = bf16 ? 2 : 4;
  kernels::LstmPersistentPlan plan = kernels::plan_lstm_persistent(B, H, limits, weight_bytes);
  if (!plan.fits) return plan;
  if (!d.cooperative) {
    plan.fits = false;
    plan.reason = "the GPU does not support cooperative launches";
    return plan;
  }
  // Forward and backward take the same shared memory; both must be resident.
  if (bf16) {
    limits.blocks_per_sm = std::min(
        occupancy(lstm_persistent_forward_kernel<__nv_bfloat16>, plan.threads, plan.smem_bytes),
        occupancy(lstm_persistent_backward_kernel<__nv_bfloat16>, plan.threads, plan.smem_bytes));
  } else {
    limits.blocks_per_sm =
        std::min(occupancy(lstm_persistent_forward_kernel<float>, plan.threads, plan.smem_bytes),
                 occupancy(lstm_persistent_backward_kernel<float>, plan.threads, plan.smem_bytes));
  }
  return kernels::plan_lstm_persistent(B, H, limits, weight_bytes);
}

void persistent_forward(const kernels::LstmPersistentPlan& plan, float* g, const float* b_ih,
                        const float* b_hh, const float* h0, const float* c0, const float* w_hh,
                        float* y, float* cbuf, bool save, std::int64_t T, std::int64_t B,
                        std::int64_t H) {
  NN_CHECK(plan.fits, "lstm persistent forward: the plan does not fit ({})", plan.reason);
  ForwardArgs args{g, b_ih, b_hh, h0, c0, w_hh, y, cbuf, save ? 1 : 0, T, B, H, plan.units};
  void* params[] = {&args};
  NN_CUDA_CHECK(cudaLaunchCooperativeKernel(
      plan.weight_bytes == 2
          ? reinterpret_cast<const void*>(lstm_persistent_forward_kernel<__nv_bfloat16>)
          : reinterpret_cast<const void*>(lstm_persistent_forward_kernel<float>),
      dim3(plan.blocks), dim3(plan.threads), params, static_cast<std::size_t>(plan.smem_bytes),
      current_stream()));
}

void persistent_backward(const kernels::LstmPersistentPlan& plan, const float* a, const float* cs,
                         const float* c0, const float* dy, const float* dh_n, const float* dc_n,
                         const float* w_hh, float* dg, float* dc_work, float* dc0, std::int64_t T,
                         std::int64_t B, std::int64_t H) {
  NN_CHECK(plan.fits, "lstm persistent backward: the plan does not fit ({})", plan.reason);
  BackwardArgs args{a, cs, c0, dy, dh_n, dc_n, w_hh, dg, dc_work, dc0, T, B, H, plan.units};
  void* params[] = {&args};
  NN_CUDA_CHECK(cudaLaunchCooperativeKernel(
      plan.weight_bytes == 2
          ? reinterpret_cast<const void*>(lstm_persistent_backward_kernel<__nv_bfloat16>)
          : reinterpret_cast<const void*>(lstm_persistent_backward_kernel<float>),
      dim3(plan.blocks), dim3(plan.threads), params, static_cast<std::size_t>(plan.smem_bytes),
      current_stream()));
}

}  // namespace nn::cuda::lstm
