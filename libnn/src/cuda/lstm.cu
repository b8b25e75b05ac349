// CUDA LSTM kernels (src/kernels/lstm.hpp): lstm_forward and lstm_backward (through time),
// the same functions as the CPU kernels of src/cpu/lstm.cpp (lstm_step, nn::LSTMStepper's
// kernel, is in lstm_step.cu).
//
// Three algorithms, picked by nn::cuda::set_lstm_algorithm (libnn/cuda.hpp):
// - stepwise (here, the default): the matrix products go through the gemm table (cuBLAS),
//   and each time step adds one fused pointwise kernel for the gates and the cell update
//   (forward) or the gate gradients (backward). So a step is two launches and the weights
//   are read from memory again at every step.
// - persistent (lstm_persistent.cu): the same GEMMs around the recurrence, and the recurrence
//   of all steps in one cooperative kernel that keeps w_hh on chip; a shape that does not
//   fit (kernels/lstm_plan.hpp) runs stepwise, and last_lstm_run() says why.
// - cudnn (lstm_cudnn.cu): cuDNN's RNN for the whole layer.
//
// Precision (nn::set_float32_matmul_precision): every product here goes through the gemm
// table, so TF32 ("high") and bf16 ("medium") operands apply to all of them; the pointwise
// kernels, the gates and the cell state are float32 whatever the setting. Under "medium" the
// stepwise recurrence keeps its own bf16 copies: w_hh converted once per pass, h_t (forward)
// and dG_t (backward) written in bf16 by the pointwise kernels beside their float32 values,
// and the step's product h_{t-1} w_hh^T (dG_{t+1} w_hh) takes them as CUDA_R_16BF operands
// (gemm_bf16.hpp): half the bytes a step reads, the same rounding (to nearest even) as the
// emulation the tests derive their bounds from. The persistent kernels keep w_hh on chip in
// bf16 under "medium" (lstm_persistent.cu). cuDNN has no bf16 math for float32 tensors, so
// the cudnn algorithm runs stepwise under "medium".
//
// Forward: G = x w_ih^T for all T steps in one GEMM; per step G_t += h_{t-1} w_hh^T, then
// the pointwise kernel. Backward: per step in reverse the pointwise kernel turns dh and dc
// into dG_t, then dh_{t-1} = dG_t w_hh; after the loop dx, dw_ih and dw_hh are single GEMMs
// over all T*B rows and the bias gradient a column sum of dG.
//
// Determinism: the pointwise kernels compute each element in one thread, the column sum
// adds in a fixed order, and there are no atomics; everything runs on the current stream.
#include <cuda_bf16.h>

#include "core/lstm_algorithm.hpp"
#include "cuda/common.cuh"
#include "cuda/gemm_bf16.hpp"
#include "cuda/lstm_paths.hpp"
#include "cuda/register.hpp"
#include "kernels/gemm.hpp"
#include "kernels/lstm.hpp"
#include "libnn/cuda.hpp"

namespace nn::cuda {
namespace {

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* data_or_null(Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

Tensor scratch(std::int64_t n, Device device) {
  return empty({n}, TensorOptions().device(device));
}

void copy_device(float* dst, const float* src, std::int64_t n) {
  if (n == 0) return;
  NN_CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(float) * static_cast<std::size_t>(n),
                                cudaMemcpyDeviceToDevice, current_stream()));
}

// C (M,N) = op(A) op(B) + beta C through the gemm table (which handles the empty sizes: an
// empty sum, K = 0 at I = 0 or B = 0, gives C = beta C, zeros here).
void run_gemm(Device device, bool ta, bool tb, std::int64_t M, std::int64_t N,
              std::int64_t K, const float* A, std::int64_t lda, const float* B,
              std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  kernels::gemm(device, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

// A device array of bf16 values (the recurrence's operands under the bf16 precision), freed
// with its tensor.
struct Bf16Array {
  Tensor storage;
  __nv_bfloat16* p = nullptr;
};

Bf16Array bf16_scratch(std::int64_t n, Device device) {
  Bf16Array a;
  a.storage = empty({n}, TensorOptions().dtype(DType::BFloat16).device(device));
  a.p = static_cast<__nv_bfloat16*>(a.storage.raw_data());
  return a;
}

__global__ void to_bf16_kernel(const float* in, __nv_bfloat16* out, std::int64_t n) {
  NN_CUDA_KERNEL_LOOP(i, n) out[i] = __float2bfloat16_rn(in[i]);
}

// in (n floats) rounded to bf16, to nearest even.
Bf16Array to_bf16(const float* in, std::int64_t n, Device device) {
  Bf16Array a = bf16_scratch(n, device);
  if (n > 0) {
    to_bf16_kernel<<<grid_for(n), kBlock, 0, current_stream()>>>(in, a.p, n);
    NN_CUDA_CHECK_LAUNCH();
  }
  return a;
}

__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// --- forward ---------------------------------------------------------------------------

// One step's gates and cell update, one thread per (batch row, hidden unit).
// g (B,4H): the pre-activations x_t w_ih^T + h_{t-1} w_hh^T in; with `save`, the
// activations i, f, g, o out (what the backward reads). b_ih, b_hh (4H) or null; c_prev
// (B,H) or null (zeros); c, h (B,H) out; h_bf16 (B,H) or null: h again, rounded to bf16.
__global__ void lstm_cell_forward_kernel(float* g, const float* b_ih, const float* b_hh,
                                         const float* c_prev, float* c, float* h,
                                         __nv_bfloat16* h_bf16, bool save, std::int64_t B,
                                         std::int64_t H) {
  const std::int64_t G4 = 4 * H;
  NN_CUDA_KERNEL_LOOP(k, B * H) {
    const std::int64_t b = k / H, j = k % H;
    float* g_row = g + b * G4;
    float a[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const std::int64_t n = q * H + j;
      a[q] = g_row[n];
      // b_ih + b_hh summed first, absent ones as 0, as the CPU's combined_bias does.
      if (b_ih || b_hh) a[q] += (b_ih ? b_ih[n] : 0.0f) + (b_hh ? b_hh[n] : 0.0f);
    }
    const float i = sigmoid(a[0]), f = sigmoid(a[1]), gv = tanhf(a[2]), o = sigmoid(a[3]);
    const float cc = c_prev ? f * c_prev[k] + i * gv : i * gv;
    c[k] = cc;
    const float hv = o * tanhf(cc);
    h[k] = hv;
    if (h_bf16) h_bf16[k] = __float2bfloat16_rn(hv);
    if (save) {
      g_row[j] = i;
      g_row[H + j] = f;
      g_row[2 * H + j] = gv;
      g_row[3 * H + j] = o;
    }
  }
}

void lstm_cell_forward_cuda(float* g, const float* b_ih, const float* b_hh, const float* c_prev,
                            float* c, float* h, __nv_bfloat16* h_bf16, bool save, std::int64_t B,
                            std::int64_t H) {
  const std::int64_t n = B * H;
  if (n == 0) return;
  lstm_cell_forward_kernel<<<grid_for(n), kBlock, 0, current_stream()>>>(g, b_ih, b_hh, c_prev, c,
                                                                         h, h_bf16, save, B, H);
  NN_CUDA_CHECK_LAUNCH();
}

// x (T,B,I); h0, c0 (B,H) or undefined; w_ih (4H,I); w_hh (4H,H); b_ih, b_hh (4H) or
// undefined. Writes y (T,B,H), h_n, c_n (B,H), and gates (T,B,4H), cells (T,B,H) when
// defined.
void lstm_forward_cuda(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                       const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, Tensor& y,
                       Tensor& h_n, Tensor& c_n, Tensor& gates, Tensor& cells) {
  const cuda::LstmAlgorithm algorithm = cuda::lstm_algorithm();
  const bool bf16 = float32_matmul_precision() == MatmulPrecision::Medium;
  if (algorithm == cuda::LstmAlgorithm::Cudnn && x.size(1) > 0 && x.size(2) > 0 && !bf16) {
    lstm::cudnn_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, h_n, c_n, gates, cells);
    detail::record_lstm_run(false, "cudnn");
    return;
  }
  const std::int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1);
  const std::int64_t G4 = 4 * H, BH = B * H;
  const Device device = x.device();
  const bool save = gates.defined() && cells.defined();
  // Inference keeps no history: the gate buffer is scratch (still T steps long, as the
  // input projection of all steps is one GEMM) and two cell buffers take turns.
  Tensor g_work = save ? gates : scratch(T * B * G4, device);
  Tensor c_work = save ? cells : scratch(2 * BH, device);
  float* g = g_work.data_ptr<float>();
  float* cbuf = c_work.data_ptr<float>();
  float* py = y.data_ptr<float>();
  const float* w_hh_p = w_hh.data_ptr<float>();
  auto c_at = [&](std::int64_t t) { return cbuf + (save ? t : t % 2) * BH; };

  // G = x w_ih^T: (T*B,I) x (I,4H)
  run_gemm(device, false, true, T * B, G4, I, x.data_ptr<float>(), I, w_ih.data_ptr<float>(),
           I, 0.0f, g, G4);
  if (algorithm == cuda::LstmAlgorithm::Cudnn && bf16) {
    // cuDNN's RNN takes bf16 math only with bf16 tensors; its float32 data allows TF32 at most.
    detail::record_lstm_run(false, "stepwise (cudnn: no bf16 math for float32 tensors)");
  } else if (algorithm == cuda::LstmAlgorithm::Cudnn) {  // an empty batch or input: cuDNN refuses
    detail::record_lstm_run(false, "stepwise (cudnn: an empty batch or input)");
  } else if (algorithm == cuda::LstmAlgorithm::Persistent) {
    const kernels::LstmPersistentPlan plan = lstm::persistent_plan(B, H, bf16);
    if (plan.fits) {
      lstm::persistent_forward(plan, g, data_or_null(b_ih), data_or_null(b_hh), data_or_null(h0),
                               data_or_null(c0), w_hh_p, py, cbuf, save, T, B, H);
      copy_device(h_n.data_ptr<float>(), py + (T - 1) * BH, BH);
      copy_device(c_n.data_ptr<float>(), c_at(T - 1), BH);
      detail::record_lstm_run(false, "persistent");
      return;
    }
    detail::record_lstm_run(false, "stepwise (persistent does not fit: " + plan.reason + ")");
  } else {
    detail::record_lstm_run(false, "stepwise");
  }
  // bf16: w_hh and h_{t-1} as bf16 operands (one buffer for h: step t's product reads it
  // before step t's pointwise kernel overwrites it with h_t, in stream order).
  Bf16Array w_hh_bf16, h_bf16;
  if (bf16) {
    w_hh_bf16 = to_bf16(w_hh_p, G4 * H, device);
    h_bf16 = h0.defined() ? to_bf16(h0.data_ptr<float>(), BH, device) : bf16_scratch(BH, device);
  }
  for (std::int64_t t = 0; t < T; ++t) {
    const float* h_prev = t == 0 ? data_or_null(h0) : py + (t - 1) * BH;
    const float* c_prev = t == 0 ? data_or_null(c0) : c_at(t - 1);
    float* g_t = g + t * B * G4;
    // G_t += h_{t-1} w_hh^T (nothing to add from an undefined h0)
    if (h_prev && bf16) {
      gemm_bf16(false, true, B, G4, H, h_bf16.p, H, w_hh_bf16.p, H, 1.0f, g_t, G4);
    } else if (h_prev) {
      run_gemm(device, false, true, B, G4, H, h_prev, H, w_hh_p, H, 1.0f, g_t, G4);
    }
    lstm_cell_forward_cuda(g_t, data_or_null(b_ih), data_or_null(b_hh), c_prev, c_at(t),
                           py + t * BH, h_bf16.p, save, B, H);
  }
  copy_device(h_n.data_ptr<float>(), py + (T - 1) * BH, BH);
  copy_device(c_n.data_ptr<float>(), c_at(T - 1), BH);
}

// --- backward --------------------------------------------------------------------------

// One step's gate gradients, one thread per (batch row, hidden unit). It differentiates
//   i, f, o = sigmoid(G_i, G_f, G_o), g = tanh(G_g)
//   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
// a (B,4H): the activations i, f, g, o; c (B,H): c_t; c_prev (B,H) or null (zeros);
// dy (B,H): the gradient at h_t from y; dh_rec (B,H): the one from step t+1 (dh_n at the
// last step); dc_in (B,H): the gradient at c_t. Writes dg (B,4H), the gradient at the
// pre-activations G_t, and dc_out (B,H), the one at c_{t-1}; dc_out may be dc_in.
// dg_bf16 (B,4H) or null: dg again, rounded to bf16.
__global__ void lstm_cell_backward_kernel(const float* a, const float* c, const float* c_prev,
                                          const float* dy, const float* dh_rec, const float* dc_in,
                                          float* dc_out, float* dg, __nv_bfloat16* dg_bf16,
                                          std::int64_t B, std::int64_t H) {
  const std::int64_t G4 = 4 * H;
  NN_CUDA_KERNEL_LOOP(k, B * H) {
    const std::int64_t b = k / H, j = k % H;
    const float* a_row = a + b * G4;
    float* dg_row = dg + b * G4;
    const float i = a_row[j], f = a_row[H + j], gv = a_row[2 * H + j], o = a_row[3 * H + j];
    const float tc = tanhf(c[k]);
    // h = o * tanh(c): dh reaches o and, through tanh, c (adding to what c_t gets from t+1)
    const float dh = dy[k] + dh_rec[k];
    const float dc = dc_in[k] + dh * o * (1.0f - tc * tc);
    float d[4];
    d[3] = dh * tc * o * (1.0f - o);
    // c = f * c_prev + i * g; sigmoid' = s (1 - s), tanh' = 1 - t^2
    d[0] = dc * gv * i * (1.0f - i);
    d[1] = c_prev ? dc * c_prev[k] * f * (1.0f - f) : 0.0f;
    d[2] = dc * i * (1.0f - gv * gv);
#pragma unroll
    for (int q = 0; q < 4; ++q) dg_row[q * H + j] = d[q];
    if (dg_bf16) {
#pragma unroll
      for (int q = 0; q < 4; ++q) dg_bf16[b * G4 + q * H + j] = __float2bfloat16_rn(d[q]);
    }
    dc_out[k] = dc * f;
  }
}

void lstm_cell_backward_cuda(const float* a, const float* c, const float* c_prev, const float* dy,
                             const float* dh_rec, const float* dc_in, float* dc_out, float* dg,
                             __nv_bfloat16* dg_bf16, std::int64_t B, std::int64_t H) {
  const std::int64_t n = B * H;
  if (n == 0) return;
  lstm_cell_backward_kernel<<<grid_for(n), kBlock, 0, current_stream()>>>(
      a, c, c_prev, dy, dh_rec, dc_in, dc_out, dg, dg_bf16, B, H);
  NN_CUDA_CHECK_LAUNCH();
}

// out (n) = the column sums of a (m,n). A block owns kSumCols adjacent columns (a warp reads
// a row segment coalesced); its kSumRows thread rows each sum every kSumRows-th row in row
// order, then the kSumRows partials are added in thread-row order. The order depends on
// m and n only, so the same bits every run, without atomics.
constexpr int kSumCols = 32, kSumRows = 16;

__global__ void column_sums_kernel(const float* a, std::int64_t m, std::int64_t n, float* out) {
  __shared__ float partial[kSumRows][kSumCols + 1];
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kSumCols + threadIdx.x;
  float acc = 0.0f;
  if (col < n) {
    for (std::int64_t r = threadIdx.y; r < m; r += kSumRows) acc += a[r * n + col];
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < n) {
    float total = partial[0][threadIdx.x];
#pragma unroll
    for (int s = 1; s < kSumRows; ++s) total += partial[s][threadIdx.x];
    out[col] = total;
  }
}

void column_sums_cuda(const float* a, std::int64_t m, std::int64_t n, float* out) {
  if (n == 0) return;
  const auto blocks = static_cast<unsigned>((n + kSumCols - 1) / kSumCols);
  column_sums_kernel<<<blocks, dim3(kSumCols, kSumRows), 0, current_stream()>>>(a, m, n, out);
  NN_CUDA_CHECK_LAUNCH();
}

// dy (T,B,H), dh_n, dc_n (B,H); x (T,B,I); h0, c0 (B,H) or undefined; w_ih (4H,I),
// w_hh (4H,H); y (T,B,H), gates (T,B,4H), cells (T,B,H) from the forward. Writes those of
// dx (T,B,I), dh0, dc0 (B,H), dw_ih (4H,I), dw_hh (4H,H), db_ih, db_hh (4H) that are defined.
void lstm_backward_cuda(const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n, const Tensor& x,
                        const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                        const Tensor& y, const Tensor& gates, const Tensor& cells, Tensor& dx,
                        Tensor& dh0, Tensor& dc0, Tensor& dw_ih, Tensor& dw_hh, Tensor& db_ih,
                        Tensor& db_hh) {
  if (lstm::is_cudnn_saved(gates)) {  // a cuDNN forward: its reserve space, whatever the setting
    lstm::cudnn_backward(dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y, gates, cells, dx, dh0, dc0,
                         dw_ih, dw_hh, db_ih, db_hh);
    detail::record_lstm_run(true, "cudnn");
    return;
  }
  const std::int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1);
  const std::int64_t G4 = 4 * H, BH = B * H, TB = T * B;
  const Device device = x.device();
  Tensor dg_work = scratch(TB * G4, device);  // dG (T,B,4H)
  Tensor dh_work = scratch(BH, device);       // dh_t's recurrent part, dG_{t+1} w_hh
  Tensor dc_work = scratch(BH, device);       // the gradient at c_t, carried down the steps
  float* dg = dg_work.data_ptr<float>();
  float* dh_buf = dh_work.data_ptr<float>();
  float* dc_buf = dc_work.data_ptr<float>();
  const float* a = gates.data_ptr<float>();
  const float* cs = cells.data_ptr<float>();
  const float* pdy = dy.data_ptr<float>();
  const float* w_hh_p = w_hh.data_ptr<float>();
  float* pdc0 = data_or_null(dc0);

  const bool bf16 = float32_matmul_precision() == MatmulPrecision::Medium;
  bool recurrence_done = false;
  if (cuda::lstm_algorithm() == cuda::LstmAlgorithm::Persistent) {
    const kernels::LstmPersistentPlan plan = lstm::persistent_plan(B, H, bf16);
    if (plan.fits) {
      lstm::persistent_backward(plan, a, cs, data_or_null(c0), pdy, dh_n.data_ptr<float>(),
                                dc_n.data_ptr<float>(), w_hh_p, dg, dc_buf, pdc0, T, B, H);
      recurrence_done = true;
      detail::record_lstm_run(true, "persistent");
    } else {
      detail::record_lstm_run(true, "stepwise (persistent does not fit: " + plan.reason + ")");
    }
  } else {
    detail::record_lstm_run(true, "stepwise");
  }
  // bf16: w_hh and dG_{t+1} as bf16 operands (one buffer for dG: step t's product reads it
  // before step t's pointwise kernel overwrites it with dG_t, in stream order).
  Bf16Array w_hh_bf16, dg_bf16;
  if (bf16 && !recurrence_done) {
    w_hh_bf16 = to_bf16(w_hh_p, G4 * H, device);
    dg_bf16 = bf16_scratch(B * G4, device);
  }
  for (std::int64_t t = recurrence_done ? -1 : T - 1; t >= 0; --t) {
    // G_{t+1} = ... + h_t w_hh^T, so h_t gets dG_{t+1} w_hh: (B,4H) x (4H,H)
    if (t + 1 < T && bf16) {
      gemm_bf16(false, false, B, H, G4, dg_bf16.p, G4, w_hh_bf16.p, H, 0.0f, dh_buf, H);
    } else if (t + 1 < T) {
      run_gemm(device, false, false, B, H, G4, dg + (t + 1) * B * G4, G4, w_hh_p, H, 0.0f,
               dh_buf, H);
    }
    const float* dh_rec = t + 1 < T ? dh_buf : dh_n.data_ptr<float>();
    const float* dc_in = t + 1 < T ? dc_buf : dc_n.data_ptr<float>();
    float* dc_out = t == 0 && pdc0 ? pdc0 : dc_buf;
    const float* c_prev = t == 0 ? data_or_null(c0) : cs + (t - 1) * BH;
    lstm_cell_backward_cuda(a + t * B * G4, cs + t * BH, c_prev, pdy + t * BH, dh_rec, dc_in,
                            dc_out, dg + t * B * G4, dg_bf16.p, B, H);
  }
  if (dh0.defined()) {
    run_gemm(device, false, false, B, H, G4, dg, G4, w_hh_p, H, 0.0f, dh0.data_ptr<float>(),
             H);
  }

  // G = x w_ih^T + h_prev w_hh^T + b over all T*B rows: the weight and bias gradients.
  if (dx.defined()) {  // dx = dG w_ih: (T*B,4H) x (4H,I)
    run_gemm(device, false, false, TB, I, G4, dg, G4, w_ih.data_ptr<float>(), I, 0.0f,
             dx.data_ptr<float>(), I);
  }
  if (dw_ih.defined()) {  // dw_ih = dG^T x: (4H,T*B) x (T*B,I)
    run_gemm(device, true, false, G4, I, TB, dg, G4, x.data_ptr<float>(), I, 0.0f,
             dw_ih.data_ptr<float>(), I);
  }
  if (dw_hh.defined()) {  // dw_hh = dG^T h_prev, h_prev = (h0, y_0 .. y_{T-2}): (T*B,H)
    float* pdw = dw_hh.data_ptr<float>();
    const float* py = y.data_ptr<float>();
    if (h0.defined()) {
      Tensor h_prev = scratch(TB * H, device);
      float* hp = h_prev.data_ptr<float>();
      copy_device(hp, h0.data_ptr<float>(), BH);
      copy_device(hp + BH, py, (T - 1) * BH);
      run_gemm(device, true, false, G4, H, TB, dg, G4, hp, H, 0.0f, pdw, H);
    } else {
      // Zero h0: step 0 adds nothing, so the product over steps 1.. reads y in place (an
      // empty sum, so zeros, at T = 1).
      run_gemm(device, true, false, G4, H, (T - 1) * B, dg + B * G4, G4, py, H, 0.0f, pdw, H);
    }
  }
  // b_ih and b_hh enter G the same way: both gradients are the column sums of dG.
  float* pdb_ih = data_or_null(db_ih);
  float* pdb_hh = data_or_null(db_hh);
  if (pdb_ih || pdb_hh) {
    float* first = pdb_ih ? pdb_ih : pdb_hh;
    column_sums_cuda(dg, TB, G4, first);
    if (pdb_ih && pdb_hh) copy_device(pdb_hh, pdb_ih, G4);
  }
}

}  // namespace

void register_lstm_kernels() {
  kernels::lstm_forward.set(DeviceType::CUDA, lstm_forward_cuda);
  kernels::lstm_backward.set(DeviceType::CUDA, lstm_backward_cuda);
}

}  // namespace nn::cuda
