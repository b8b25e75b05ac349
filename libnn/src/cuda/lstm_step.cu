// The CUDA step kernel of nn::LSTMStepper (kernels::lstm_step, src/kernels/lstm.hpp): one
// fused launch per layer and step at small batch, float32 or float16 weights.
//
// A block owns kUnits (2) adjacent hidden units, i.e. 4 * kUnits = 8 gate rows (i, f, g, o of
// each unit), one per warp. A warp streams its row of w_ih against x and its row of w_hh
// against h_prev for up to kMaxRows (4) batch rows at once (each weight load serves every
// row), 32 lanes striding the row with 16-byte loads (4 floats, or 4 halves in 8 bytes,
// converted exactly to float); a butterfly of shuffles adds the lanes (lstm_step_detail's
// row_dot). The pre-activations go through shared memory to one thread per (row, unit), which
// adds the bias and does the cell update as the stepwise kernel of lstm.cu does. So a layer
// is one launch with no grid-wide synchronization, and the weights are read once per step
// (per group of 4 rows). Batches above 4 run in groups of 4 rows, one launch each.
//
// Precision: products and sums in float32 (half weights are converted exactly), like the CPU
// stepper; the sums run in another order (lanes, then the butterfly), so the results are
// the CPU's up to float32 rounding, not its bits. Deterministic: fixed-order sums, no
// atomics, the same bits every run.
#include <cuda_fp16.h>

#include "cuda/common.cuh"
#include "cuda/lstm_step.cuh"
#include "cuda/register.hpp"
#include "kernels/lstm.hpp"

namespace nn::cuda {
namespace lstm_step_detail {

namespace {

// Loads 4 consecutive weights as float.
__device__ __forceinline__ float4 load4(const float* w, std::int64_t k) {
  return __ldg(reinterpret_cast<const float4*>(w + k));
}
__device__ __forceinline__ float4 load4(const __half* w, std::int64_t k) {
  const uint2 raw = __ldg(reinterpret_cast<const uint2*>(w + k));
  const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
  const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
  return make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ float load1(const float* w, std::int64_t k) { return __ldg(w + k); }
__device__ __forceinline__ float load1(const __half* w, std::int64_t k) {
  return __half2float(w[k]);
}

// acc[b] += w (K) . v_b (K), v_b = v + b * ldv, over this lane's share of k; the caller adds
// the lanes. vec: K, ldv a multiple of 4 and w, v 16-byte aligned (8 for half weights).
template <int NB, class W>
__device__ __forceinline__ void row_dot(const W* w, std::int64_t K, const float* v,
                                        std::int64_t ldv, bool vec, int lane, float (&acc)[NB]) {
  if (vec) {
#pragma unroll 4
    for (std::int64_t k = 4 * lane; k < K; k += 4 * kWarp) {
      const float4 a = load4(w, k);
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        const float4 x = __ldg(reinterpret_cast<const float4*>(v + b * ldv + k));
        acc[b] = fmaf(a.x, x.x, acc[b]);
        acc[b] = fmaf(a.y, x.y, acc[b]);
        acc[b] = fmaf(a.z, x.z, acc[b]);
        acc[b] = fmaf(a.w, x.w, acc[b]);
      }
    }
  } else {
    for (std::int64_t k = lane; k < K; k += kWarp) {
      const float a = load1(w, k);
#pragma unroll
      for (int b = 0; b < NB; ++b) acc[b] = fmaf(a, __ldg(v + b * ldv + k), acc[b]);
    }
  }
}

__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

template <int NB, class W>
__global__ void __launch_bounds__(kStepThreads) lstm_step_kernel(StepArgs p) {
  __shared__ float pre[kMaxRows][4 * kUnits];  // the pre-activations, [row][q * kUnits + u]
  const int warp = static_cast<int>(threadIdx.x) / kWarp,
            lane = static_cast<int>(threadIdx.x) % kWarp;
  const std::int64_t H = p.H, G4 = 4 * H;
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * kUnits;
  {
    const int q = warp / kUnits, u = warp % kUnits;
    const std::int64_t j = j0 + u;
    if (j < H) {
      const std::int64_t r = q * H + j;  // the weight row
      float a_ih[NB], a_hh[NB];
#pragma unroll
      for (int b = 0; b < NB; ++b) a_ih[b] = a_hh[b] = 0.0f;
      if (p.x)
        row_dot<NB>(static_cast<const W*>(p.w_ih) + r * p.I, p.I, p.x, p.ldx, p.vec_ih, lane, a_ih);
      row_dot<NB>(static_cast<const W*>(p.w_hh) + r * H, H, p.h_prev, H, p.vec_hh, lane, a_hh);
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        const float s_ih = warp_sum(a_ih[b]), s_hh = warp_sum(a_hh[b]);
        if (lane == 0) {
          // (gx or x w_ih^T) + h_prev w_hh^T, as the CPU stepper adds them.
          float g = 0.0f;
          if (p.tokens) {
            g = p.table[p.tokens[b] * G4 + r];
          } else if (p.gx) {
            g = p.gx[b * G4 + r];
          }
          if (p.x) g += s_ih;
          pre[b][warp] = g + s_hh;
        }
      }
    }
  }
  __syncthreads();
  const int t = static_cast<int>(threadIdx.x);
  if (t < NB * kUnits) {
    const int b = t / kUnits, u = t % kUnits;
    const std::int64_t j = j0 + u;
    if (j < H) {
      float a[4];
#pragma unroll
      for (int q = 0; q < 4; ++q)
        a[q] = pre[b][q * kUnits + u] + (p.bias ? p.bias[q * H + j] : 0.0f);
      const float i = sigmoid(a[0]), f = sigmoid(a[1]), gv = tanhf(a[2]), o = sigmoid(a[3]);
      // c may be c_prev (the token loop updates it in place): this thread alone reads and
      // writes element (b, j).
      const float cc = f * p.c_prev[b * H + j] + i * gv;
      p.c[b * H + j] = cc;
      p.h[b * H + j] = o * tanhf(cc);
    }
  }
}

template <class W>
void launch_rows(const StepArgs& p, int nb) {
  const auto blocks = static_cast<unsigned>((p.H + kUnits - 1) / kUnits);
  switch (nb) {
    case 1:
      lstm_step_kernel<1, W><<<blocks, kStepThreads, 0, current_stream()>>>(p);
      break;
    case 2:
      lstm_step_kernel<2, W><<<blocks, kStepThreads, 0, current_stream()>>>(p);
      break;
    case 3:
      lstm_step_kernel<3, W><<<blocks, kStepThreads, 0, current_stream()>>>(p);
      break;
    default:
      lstm_step_kernel<4, W><<<blocks, kStepThreads, 0, current_stream()>>>(p);
      break;
  }
  NN_CUDA_CHECK_LAUNCH();
}

bool aligned(const void* p, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

}  // namespace

bool can_vectorize(const void* w, bool half, std::int64_t K, const float* v, std::int64_t ldv) {
  return K % 4 == 0 && ldv % 4 == 0 && aligned(w, half ? 8 : 16) && aligned(v, 16);
}

void launch_step(StepArgs p, bool half, std::int64_t B) {
  if (B == 0 || p.H == 0) return;
  // Each group of rows starts its vectors 16-byte aligned only if ld * rows keeps it so:
  // can_vectorize looks at the first group's pointers and the leading dimensions.
  for (std::int64_t b0 = 0; b0 < B; b0 += kMaxRows) {
    StepArgs q = p;
    const int nb = static_cast<int>(B - b0 < kMaxRows ? B - b0 : kMaxRows);
    if (q.x) q.x += b0 * p.ldx;
    if (q.gx) q.gx += b0 * 4 * p.H;
    if (q.tokens) q.tokens += b0;
    q.h_prev += b0 * p.H;
    q.c_prev += b0 * p.H;
    q.h += b0 * p.H;
    q.c += b0 * p.H;
    if (half) {
      launch_rows<__half>(q, nb);
    } else {
      launch_rows<float>(q, nb);
    }
  }
}

}  // namespace lstm_step_detail

namespace {

// kernels::lstm_step on CUDA: the table's contract (src/kernels/lstm.hpp).
void lstm_step_cuda(const Tensor& x, const Tensor& gx, const Tensor& w_ih, const Tensor& w_hh,
                    const Tensor& bias, const Tensor& h_prev, const Tensor& c_prev, Tensor& h,
                    Tensor& c) {
  using lstm_step_detail::StepArgs;
  const std::int64_t B = h_prev.size(0), H = w_hh.size(1);
  if (B == 0 || H == 0) return;
  const bool half = w_hh.dtype() == DType::Float16;
  StepArgs p;
  p.H = H;
  if (!gx.defined()) {
    p.x = x.data_ptr<float>();
    p.I = x.size(1);
    p.ldx = p.I;
    p.w_ih = w_ih.raw_data();
    p.vec_ih = lstm_step_detail::can_vectorize(p.w_ih, half, p.I, p.x, p.ldx);
  } else {
    p.gx = gx.data_ptr<float>();
  }
  p.w_hh = w_hh.raw_data();
  p.h_prev = h_prev.data_ptr<float>();
  p.vec_hh = lstm_step_detail::can_vectorize(p.w_hh, half, H, p.h_prev, H);
  p.c_prev = c_prev.data_ptr<float>();
  p.bias = bias.defined() ? bias.data_ptr<float>() : nullptr;
  p.h = h.data_ptr<float>();
  p.c = c.data_ptr<float>();
  lstm_step_detail::launch_step(p, half, B);
}

}  // namespace

void register_lstm_step_kernels() { kernels::lstm_step.set(DeviceType::CUDA, lstm_step_cuda); }

}  // namespace nn::cuda
