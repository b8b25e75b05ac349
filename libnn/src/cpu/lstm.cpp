// CPU LSTM kernels (src/kernels/lstm.hpp): one layer over a whole sequence, fused.
//
// Forward. The input projection of all T steps is one GEMM, G = x w_ih^T (T·B × 4H). Then
// each step adds h_{t-1} w_hh^T to G_t and applies the gates and the cell update:
//   - at batch > 4, with w_hh packed once per call into the GEMM micro-kernel's layout
//     (GatePanels below) and the steps run in one parallel region: each thread owns a set
//     of hidden units, computes the four gate columns of those units with the micro-kernel,
//     adds the bias, applies sigmoid / tanh (vectorized) and updates c and h there. Steps
//     are separated by one barrier (step t+1 needs all of h_t); nothing is repacked.
//   - at batch <= 4 (generation), with matrix-vector products straight from the weights
//     (lstm_gemv.hpp), for a single step the x and h products in the same pass.
// Backward through time, in one parallel region with w_hh packed once: per step each thread
// turns dh, dc into the gate gradients dG_t of its units (and dc_{t-1}), a barrier, then the
// micro-kernel gives its units' part of dh_{t-1} = dG_t w_hh. After the loop dx, dw_ih,
// dw_hh are whole-sequence GEMMs and the bias gradient a column sum of dG.
//
// Determinism: every output element is computed by one thread with the same blocking
// whatever the number of threads (the split is over hidden units, never over a sum), so the
// results are the same bits with 1 or 2 threads.
#include "kernels/lstm.hpp"

#include <libnn/cpu/gemm.hpp>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/gemm/gemm_kernel.hpp"
#include "cpu/lstm_gemv.hpp"
#include "cpu/parallel.hpp"
#include "cpu/vec_math.hpp"

namespace nn::cpu {
namespace {

using gemm_detail::KernelSet;

constexpr std::int64_t kChunk = 256;  // hidden units per stack buffer in the unit kernels

// Below this many multiply-adds per step the recurrence runs on one thread (gemm.cpp's
// threshold: a fork or a barrier costs about as much as a 64×64×64 product).
constexpr std::int64_t kMinParallelWork = std::int64_t{1} << 18;

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Splits `length` into blocks of at most `block`, evenly (gemm.cpp's rule for KC).
std::int64_t even_block(std::int64_t length, std::int64_t block) {
  return ceil_div(length, ceil_div(length, block));
}

// b = b_ih + b_hh (either may be absent); empty when both are.
std::vector<float> combined_bias(const Tensor& b_ih, const Tensor& b_hh, std::int64_t n) {
  const float* pi = data_or_null(b_ih);
  const float* ph = data_or_null(b_hh);
  if (!pi && !ph) return {};
  std::vector<float> b(static_cast<std::size_t>(n), 0.0f);
  for (std::int64_t k = 0; k < n; ++k) b[k] = (pi ? pi[k] : 0.0f) + (ph ? ph[k] : 0.0f);
  return b;
}

// The GEMM micro-kernel and packing routines sgemm uses on this CPU.
const KernelSet& gemm_kernels() {
  switch (gemm_isa()) {
#if defined(LIBNN_X86)
    case GemmIsa::Avx512: return gemm_detail::kernel_set_avx512();
    case GemmIsa::Avx2: return gemm_detail::kernel_set_avx2();
#endif
    default: return gemm_detail::kernel_set_generic();
  }
}

// Threads for a recurrence with `work` multiply-adds per step over `parts` units of work.
int team_size(std::int64_t work, std::int64_t parts) {
  if (omp_in_parallel() || work < kMinParallelWork) return 1;
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(omp_get_max_threads(), parts)));
}

// [begin, end) of `n` items for thread `id` of `threads`, contiguous and in order.
std::pair<std::int64_t, std::int64_t> share(std::int64_t n, int id, int threads) {
  return {n * id / threads, n * (id + 1) / threads};
}

// A 64-byte aligned float buffer (the micro-kernel loads packed panels aligned).
Tensor buffer(std::int64_t floats) { return empty({std::max<std::int64_t>(1, floats)}); }

// --- the step kernels, on a range of hidden units [j0, j1) of one batch row --------------

// g (4H): the pre-activations x_t w_ih^T + h_{t-1} w_hh^T in, the activations i, f, g, o
// out (at those units); bias (4H) or null; c_prev (H, null = zeros), c and h (H): the cell
// update. c = f * c_prev + i * g, h = o * tanh(c).
void gates_forward_units(float* g, const float* bias, const float* c_prev, float* c, float* h,
                         std::int64_t H, std::int64_t j0, std::int64_t j1) {
  const std::int64_t n = j1 - j0;
  float* gi = g + j0;
  float* gf = g + H + j0;
  float* gg = g + 2 * H + j0;
  float* go = g + 3 * H + j0;
  if (bias) {
    for (std::int64_t q = 0; q < 4; ++q) {
      float* gq = g + q * H + j0;
      const float* bq = bias + q * H + j0;
      for (std::int64_t j = 0; j < n; ++j) gq[j] += bq[j];
    }
  }
  if (n == H) {
    vsigmoid(gi, gi, 2 * n);  // i and f side by side
  } else {
    vsigmoid(gi, gi, n);
    vsigmoid(gf, gf, n);
  }
  vtanh(gg, gg, n);
  vsigmoid(go, go, n);
  float tanh_c[kChunk];
  for (std::int64_t o = 0; o < n; o += kChunk) {
    const std::int64_t m = std::min(kChunk, n - o);
    float* cc = c + j0 + o;
    if (c_prev) {
      const float* cp = c_prev + j0 + o;
      for (std::int64_t j = 0; j < m; ++j) cc[j] = gf[o + j] * cp[j] + gi[o + j] * gg[o + j];
    } else {
      for (std::int64_t j = 0; j < m; ++j) cc[j] = gi[o + j] * gg[o + j];
    }
    vtanh(cc, tanh_c, m);
    float* hh = h + j0 + o;
    for (std::int64_t j = 0; j < m; ++j) hh[j] = go[o + j] * tanh_c[j];
  }
}

// One step backward. a (4H): the activations i, f, g, o; c, c_prev (H, c_prev null =
// zeros): the cells; dy (H): the gradient arriving at h_t from the output, dh_rec (H) the one
// from step t+1. dc (H): in, the gradient at c_t from step t+1; out, the one at c_{t-1}.
// Writes dg (4H), the gradient at the pre-activations, at units [j0, j1).
void gates_backward_units(const float* a, const float* c, const float* c_prev, const float* dy,
                          const float* dh_rec, float* dc, float* dg, std::int64_t H,
                          std::int64_t j0, std::int64_t j1) {
  const float* ai = a;
  const float* af = a + H;
  const float* ag = a + 2 * H;
  const float* ao = a + 3 * H;
  float* dgi = dg;
  float* dgf = dg + H;
  float* dgg = dg + 2 * H;
  float* dgo = dg + 3 * H;
  float tanh_c[kChunk];
  for (std::int64_t b0 = j0; b0 < j1; b0 += kChunk) {
    const std::int64_t n = std::min(kChunk, j1 - b0);
    vtanh(c + b0, tanh_c, n);
    for (std::int64_t jj = 0; jj < n; ++jj) {
      const std::int64_t j = b0 + jj;
      const float i = ai[j], f = af[j], gv = ag[j], o = ao[j], tc = tanh_c[jj];
      // h = o * tanh(c);  c = f * c_prev + i * g
      const float dh = dy[j] + dh_rec[j];
      const float dcj = dc[j] + dh * o * (1.0f - tc * tc);
      const float cp = c_prev ? c_prev[j] : 0.0f;
      dgo[j] = dh * tc * o * (1.0f - o);
      dgi[j] = dcj * gv * i * (1.0f - i);
      dgf[j] = dcj * cp * f * (1.0f - f);
      dgg[j] = dcj * i * (1.0f - gv * gv);
      dc[j] = dcj * f;
    }
  }
}

void sgemm_nt(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
              const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  sgemm(Trans::No, Trans::Yes, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

// --- forward at batch > 4: the step GEMM on gate-interleaved panels ----------------------

// w_hh packed once per call for the steps' C (B,4H) = h (B,H) · w_hh^T, in the micro-kernel's
// B layout (gemm_kernel.hpp) with the columns permuted: the NR columns of panel p hold the
// four gates of U = NR/4 consecutive hidden units, column q*U + u = gate q of unit p*U + u
// (zero past H). So a thread that owns whole panels owns whole units: it can finish their
// cell update without waiting for the other threads.
struct GatePanels {
  std::int64_t H, nr, U, panels, kc_step;
  Tensor data;

  GatePanels(const KernelSet& ks, const float* w_hh, std::int64_t H_)
      : H(H_), nr(ks.nr), U(ks.nr / 4), panels(ceil_div(H_, ks.nr / 4)),
        kc_step(even_block(H_, ks.kc)), data(buffer(H_ * panels * ks.nr)) {
    parallel_for(panels, 4, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t pc = 0; pc < H; pc += kc_step) {
        const std::int64_t kc = std::min(kc_step, H - pc);
        for (std::int64_t p = begin; p < end; ++p) {
          float* dst = data.data_ptr<float>() + offset(pc, p);
          for (std::int64_t q = 0; q < 4; ++q) {
            for (std::int64_t u = 0; u < U; ++u) {
              const std::int64_t j = p * U + u, col = q * U + u;
              if (j < H) {
                const float* src = w_hh + (q * H + j) * H + pc;
                for (std::int64_t k = 0; k < kc; ++k) dst[k * nr + col] = src[k];
              } else {
                for (std::int64_t k = 0; k < kc; ++k) dst[k * nr + col] = 0.0f;
              }
            }
          }
        }
      }
    });
  }
  // Where the kc×NR panel p of the K block starting at pc begins.
  std::int64_t offset(std::int64_t pc, std::int64_t p) const {
    return pc * panels * nr + p * std::min(kc_step, H - pc) * nr;
  }
  const float* panel(std::int64_t pc, std::int64_t p) const {
    return data.data_ptr<float>() + offset(pc, p);
  }
};

struct Forward {
  std::int64_t T, B, I, H;
  const float* w_ih;
  const float* w_hh;
  const float* bias;  // (4H) or null
  const float* h0;    // (B,H) or null
  const float* c0;
  const float* x;
  float* g;  // (T,B,4H): x w_ih^T in, the activations out
  float* c;  // (T,B,H) when saving, else (2,B,H) used in turn
  bool save;
  float* y;  // (T,B,H)

  float* c_at(std::int64_t t) const { return c + (save ? t : t % 2) * B * H; }
  const float* h_before(std::int64_t t) const { return t == 0 ? h0 : y + (t - 1) * B * H; }
  const float* c_before(std::int64_t t) const { return t == 0 ? c0 : c_at(t - 1); }
};

void forward_steps_gemm(const Forward& f) {
  const KernelSet& ks = gemm_kernels();
  const std::int64_t B = f.B, H = f.H, G4 = 4 * H, mr = ks.mr, nr = ks.nr;
  const GatePanels w(ks, f.w_hh, H);
  const std::int64_t U = w.U, row_panels = ceil_div(B, mr);
  // Panels a thread handles per pass over the rows: their C tile (MR × 16·NR) stays in L1/L2.
  constexpr std::int64_t kPanelsPerPass = 16;
  const int threads = team_size(B * G4 * H, w.panels);
  Tensor a_bufs = buffer(threads * row_panels * mr * H);
  Tensor tiles = buffer(threads * mr * kPanelsPerPass * nr);

#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int id = omp_get_thread_num();
    const auto [p_begin, p_end] = share(w.panels, id, threads);
    float* a_pack = a_bufs.data_ptr<float>() + id * row_panels * mr * H;
    float* tile = tiles.data_ptr<float>() + id * mr * kPanelsPerPass * nr;
    const std::int64_t ldt = kPanelsPerPass * nr;
    for (std::int64_t t = 0; t < f.T; ++t) {
      const float* h_prev = f.h_before(t);
      const float* c_prev = f.c_before(t);
      float* g_t = f.g + t * B * G4;
      float* c_t = f.c_at(t);
      float* h_t = f.y + t * B * H;
      // h_{t-1} packed into the micro-kernel's A panels (each thread its own copy: 128 KB at
      // B = 64, H = 512, cheaper than a barrier). Row panel i, K block pc at i*MR*H + pc*MR.
      if (h_prev) {
        for (std::int64_t i = 0; i < row_panels; ++i) {
          const std::int64_t m = std::min(mr, B - i * mr);
          for (std::int64_t pc = 0; pc < H; pc += w.kc_step) {
            ks.pack_a(false, h_prev + i * mr * H + pc, H, m, std::min(w.kc_step, H - pc),
                      a_pack + i * mr * H + pc * mr);
          }
        }
      }
      for (std::int64_t p0 = p_begin; p0 < p_end; p0 += kPanelsPerPass) {
        const std::int64_t p1 = std::min(p_end, p0 + kPanelsPerPass);
        const std::int64_t j0 = p0 * U, j1 = std::min(H, p1 * U);
        for (std::int64_t i = 0; i < row_panels; ++i) {
          const std::int64_t r0 = i * mr, m = std::min(mr, B - r0);
          if (h_prev) {
            // tile (m × (p1-p0)·NR) = h_prev[r0:r0+m] · w_hh^T on these panels' columns
            for (std::int64_t pc = 0; pc < H; pc += w.kc_step) {
              const std::int64_t kc = std::min(w.kc_step, H - pc);
              for (std::int64_t p = p0; p < p1; ++p) {
                ks.kernel(kc, a_pack + i * mr * H + pc * mr, w.panel(pc, p),
                          tile + (p - p0) * nr, ldt, static_cast<int>(m), static_cast<int>(nr),
                          1.0f, pc == 0 ? 0.0f : 1.0f);
              }
            }
          }
          for (std::int64_t r = 0; r < m; ++r) {
            float* g_row = g_t + (r0 + r) * G4;
            if (h_prev) {
              // G_t += the tile, columns back in gate-major order
              const float* t_row = tile + r * ldt;
              for (std::int64_t p = p0; p < p1; ++p) {
                for (std::int64_t q = 0; q < 4; ++q) {
                  const float* src = t_row + (p - p0) * nr + q * U;
                  float* dst = g_row + q * H + p * U;
                  const std::int64_t n = std::min(U, H - p * U);
                  for (std::int64_t u = 0; u < n; ++u) dst[u] += src[u];
                }
              }
            }
            gates_forward_units(g_row, f.bias, c_prev ? c_prev + (r0 + r) * H : nullptr,
                                c_t + (r0 + r) * H, h_t + (r0 + r) * H, H, j0, j1);
          }
        }
      }
      if (t + 1 < f.T && threads > 1) {
#pragma omp barrier
      }
    }
  }
}

// --- forward at batch <= 4: matrix-vector products -------------------------------------

// The instruction set follows the GEMM's (set_gemm_isa forces both, for tests).
lstm_detail::GemvFn gemv_kernel() {
#if defined(LIBNN_X86)
  if (gemm_isa() == GemmIsa::Avx512) return lstm_detail::gemv_avx512;
#endif
  return lstm_detail::gemv_generic;
}

// Each step streams the weights once, in one parallel region over blocks of 16 hidden units:
// a thread computes the four gate rows of its units (for T = 1 the x product too: `fuse_x`,
// G then holds nothing yet) and their cell update, so the step needs no other
// synchronization.
void forward_steps_gemv(const Forward& f, bool fuse_x) {
  constexpr std::int64_t kUnits = 16;
  const std::int64_t B = f.B, I = f.I, H = f.H, G4 = 4 * H;
  const lstm_detail::GemvFn gemv = gemv_kernel();
  const std::int64_t blocks = ceil_div(H, kUnits);
  for (std::int64_t t = 0; t < f.T; ++t) {
    const float* h_prev = f.h_before(t);
    const float* c_prev = f.c_before(t);
    const float* x_t = fuse_x ? f.x + t * B * I : nullptr;
    float* g_t = f.g + t * B * G4;
    float* c_t = f.c_at(t);
    float* h_t = f.y + t * B * H;
    const std::int64_t work = 4 * kUnits * B * ((x_t ? I : 0) + (h_prev ? H : 0));
    // About 64K multiply-adds per task for a fork to pay.
    parallel_for(blocks, std::max<std::int64_t>(1, (1 << 16) / std::max<std::int64_t>(1, work)),
                 [&](std::int64_t begin, std::int64_t end) {
                   const std::int64_t j0 = begin * kUnits, j1 = std::min(H, end * kUnits);
                   const std::int64_t n = j1 - j0;
                   for (std::int64_t q = 0; q < 4; ++q) {
                     float* out = g_t + q * H + j0;
                     if (x_t) {
                       for (std::int64_t b = 0; b < B; ++b) std::fill(out + b * G4, out + b * G4 + n, 0.0f);
                       gemv(f.w_ih + (q * H + j0) * I, n, I, x_t, I, static_cast<int>(B), out, G4);
                     }
                     if (h_prev) {
                       gemv(f.w_hh + (q * H + j0) * H, n, H, h_prev, H, static_cast<int>(B), out, G4);
                     }
                   }
                   for (std::int64_t b = 0; b < B; ++b) {
                     gates_forward_units(g_t + b * G4, f.bias, c_prev ? c_prev + b * H : nullptr,
                                         c_t + b * H, h_t + b * H, H, j0, j1);
                   }
                 });
  }
}

void lstm_forward_cpu(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                      const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, Tensor& y,
                      Tensor& h_n, Tensor& c_n, Tensor& gates, Tensor& cells) {
  const std::int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1);
  const std::int64_t G4 = 4 * H;
  const bool save = gates.defined();
  Tensor g_work = save ? gates : empty({T, B, G4}, x.options());
  Tensor c_work = save ? cells : empty({2, B, H}, x.options());
  const std::vector<float> bias = combined_bias(b_ih, b_hh, G4);
  const Forward f{T, B, I, H, w_ih.data_ptr<float>(), w_hh.data_ptr<float>(),
                  bias.empty() ? nullptr : bias.data(), data_or_null(h0), data_or_null(c0),
                  x.data_ptr<float>(), g_work.data_ptr<float>(), c_work.data_ptr<float>(), save,
                  y.data_ptr<float>()};
  if (B > 0) {
    const bool small = B <= lstm_detail::kGemvMaxBatch;
    // G = x w_ih^T for all steps at once: one GEMM, except for a single step at small batch,
    // where the step's matrix-vector pass computes it along with h w_hh^T.
    const bool fuse_x = small && T == 1;
    if (!fuse_x) sgemm_nt(T * B, G4, I, f.x, I, f.w_ih, I, 0.0f, f.g, G4);
    if (small) {
      forward_steps_gemv(f, fuse_x);
    } else {
      forward_steps_gemm(f);
    }
  }
  std::memcpy(h_n.data_ptr<float>(), f.y + (T - 1) * B * H, sizeof(float) * B * H);
  std::memcpy(c_n.data_ptr<float>(), f.c_at(T - 1), sizeof(float) * B * H);
}

// --- backward ------------------------------------------------------------------------

// out (n) = sum over the m rows of a (m,n), each column summed in row order; columns split
// between threads.
void column_sums(const float* a, std::int64_t m, std::int64_t n, float* out) {
  constexpr std::int64_t kCols = 64;
  const std::int64_t blocks = ceil_div(n, kCols);
  parallel_for(blocks, std::max<std::int64_t>(1, (1 << 16) / std::max<std::int64_t>(1, m * kCols)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t blk = begin; blk < end; ++blk) {
                   const std::int64_t j0 = blk * kCols, w = std::min(kCols, n - j0);
                   float acc[kCols] = {};
                   for (std::int64_t r = 0; r < m; ++r) {
                     const float* row = a + r * n + j0;
                     for (std::int64_t j = 0; j < w; ++j) acc[j] += row[j];
                   }
                   std::memcpy(out + j0, acc, sizeof(float) * w);
                 }
               });
}

// The recurrence backward: dG (T,B,4H) for all steps, dc0 left in dc, dh0 written if given.
// w_hh is packed once (standard B panels over its H columns, K = 4H); each thread owns
// whole panels, i.e. hidden units [j0, j1): it computes dG_t at those units, then, after a
// barrier (the product needs all of dG_t), its units' columns of dh_{t-1} = dG_t w_hh.
void backward_steps(std::int64_t T, std::int64_t B, std::int64_t H, const float* w_hh,
                    const float* a, const float* cells, const float* c0, const float* dy,
                    float* dh, float* dc, float* dh0, float* dg) {
  const KernelSet& ks = gemm_kernels();
  const std::int64_t G4 = 4 * H, mr = ks.mr, nr = ks.nr;
  const std::int64_t panels = ceil_div(H, nr), kc_step = even_block(G4, ks.kc);
  // Panel p of the K block at pc: w_packed + pc*panels*NR + p*kc*NR.
  Tensor packed = buffer(G4 * panels * nr);
  float* w_packed = packed.data_ptr<float>();
  parallel_for(panels, 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t pc = 0; pc < G4; pc += kc_step) {
      const std::int64_t kc = std::min(kc_step, G4 - pc);
      for (std::int64_t p = begin; p < end; ++p) {
        ks.pack_b(false, w_hh + pc * H + p * nr, H, kc, std::min(nr, H - p * nr),
                  w_packed + pc * panels * nr + p * kc * nr);
      }
    }
  });
  const int threads = team_size(B * G4 * H, panels);
  Tensor a_bufs = buffer(threads * mr * kc_step);

#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int id = omp_get_thread_num();
    const auto [p_begin, p_end] = share(panels, id, threads);
    const std::int64_t j0 = p_begin * nr, j1 = std::min(H, p_end * nr);
    float* a_pack = a_bufs.data_ptr<float>() + id * mr * kc_step;
    for (std::int64_t t = T - 1; t >= 0; --t) {
      const float* a_t = a + t * B * G4;
      const float* c_t = cells + t * B * H;
      const float* c_prev = t == 0 ? c0 : cells + (t - 1) * B * H;
      const float* dy_t = dy + t * B * H;
      float* dg_t = dg + t * B * G4;
      if (j0 < j1) {
        for (std::int64_t b = 0; b < B; ++b) {
          gates_backward_units(a_t + b * G4, c_t + b * H, c_prev ? c_prev + b * H : nullptr,
                               dy_t + b * H, dh + b * H, dc + b * H, dg_t + b * G4, H, j0, j1);
        }
      }
      if (threads > 1) {
#pragma omp barrier
      }
      // dh_{t-1} (its recurrent part) = dG_t w_hh; at t = 0 it is dh0.
      float* dst = t > 0 ? dh : dh0;
      if (!dst) continue;
      for (std::int64_t pc = 0; pc < G4; pc += kc_step) {
        const std::int64_t kc = std::min(kc_step, G4 - pc);
        for (std::int64_t r0 = 0; r0 < B; r0 += mr) {
          const std::int64_t m = std::min(mr, B - r0);
          ks.pack_a(false, dg_t + r0 * G4 + pc, G4, m, kc, a_pack);
          for (std::int64_t p = p_begin; p < p_end; ++p) {
            ks.kernel(kc, a_pack, w_packed + pc * panels * nr + p * kc * nr, dst + r0 * H + p * nr,
                      H, static_cast<int>(m), static_cast<int>(std::min(nr, H - p * nr)), 1.0f,
                      pc == 0 ? 0.0f : 1.0f);
          }
        }
      }
    }
  }
}

void lstm_backward_cpu(const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n, const Tensor& x,
                       const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                       const Tensor& y, const Tensor& gates, const Tensor& cells, Tensor& dx,
                       Tensor& dh0, Tensor& dc0, Tensor& dw_ih, Tensor& dw_hh, Tensor& db_ih,
                       Tensor& db_hh) {
  const std::int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1);
  const std::int64_t G4 = 4 * H;
  Tensor dg_work = empty({T, B, G4}, x.options());
  Tensor dh_work = dh_n.clone();
  Tensor dc_work = dc_n.clone();
  float* pdg = dg_work.data_ptr<float>();
  if (B > 0) {
    backward_steps(T, B, H, w_hh.data_ptr<float>(), gates.data_ptr<float>(),
                   cells.data_ptr<float>(), data_or_null(c0), dy.data_ptr<float>(),
                   dh_work.data_ptr<float>(), dc_work.data_ptr<float>(),
                   dh0.defined() ? dh0.data_ptr<float>() : nullptr, pdg);
  } else {
    dg_work.zero_();
  }
  if (dh0.defined() && B == 0) dh0.zero_();
  if (dc0.defined()) std::memcpy(dc0.data_ptr<float>(), dc_work.data_ptr<float>(), sizeof(float) * B * H);

  // G = x w_ih^T + h_prev w_hh^T + b over all T·B rows: the weight and bias gradients.
  if (dx.defined()) {
    sgemm(Trans::No, Trans::No, T * B, I, G4, 1.0f, pdg, G4, w_ih.data_ptr<float>(), I, 0.0f,
          dx.data_ptr<float>(), I);
  }
  if (dw_ih.defined()) {
    sgemm(Trans::Yes, Trans::No, G4, I, T * B, 1.0f, pdg, G4, x.data_ptr<float>(), I, 0.0f,
          dw_ih.data_ptr<float>(), I);
  }
  if (dw_hh.defined()) {
    // h_prev = (h0, y_0 .. y_{T-2}): the rows of steps 1.. use y, step 0 uses h0 (or zeros).
    float* pdw = dw_hh.data_ptr<float>();
    float beta = 0.0f;
    if (T > 1) {
      sgemm(Trans::Yes, Trans::No, G4, H, (T - 1) * B, 1.0f, pdg + B * G4, G4,
            y.data_ptr<float>(), H, 0.0f, pdw, H);
      beta = 1.0f;
    }
    if (h0.defined()) {
      sgemm(Trans::Yes, Trans::No, G4, H, B, 1.0f, pdg, G4, h0.data_ptr<float>(), H, beta, pdw,
            H);
    } else if (T == 1) {
      std::fill(pdw, pdw + G4 * H, 0.0f);
    }
  }
  if (db_ih.defined() || db_hh.defined()) {
    Tensor db = db_ih.defined() ? db_ih : db_hh;
    column_sums(pdg, T * B, G4, db.data_ptr<float>());
    if (db_ih.defined() && db_hh.defined()) {
      std::memcpy(db_hh.data_ptr<float>(), db.data_ptr<float>(), sizeof(float) * G4);
    }
  }
}

}  // namespace

namespace lstm_detail {

// The portable kernel: 8 partial sums per product, which the compiler turns into vector
// code for the base instruction set.
void gemv_generic(const float* w, std::int64_t rows, std::int64_t K, const float* v,
                  std::int64_t ldv, int nb, float* out, std::int64_t ldo) {
  constexpr int kLanes = 8;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* wr = w + r * K;
    for (int b = 0; b < nb; ++b) {
      const float* vb = v + b * ldv;
      float acc[kLanes] = {};
      std::int64_t k = 0;
      for (; k + kLanes <= K; k += kLanes) {
        for (int l = 0; l < kLanes; ++l) acc[l] += wr[k + l] * vb[k + l];
      }
      for (; k < K; ++k) acc[k % kLanes] += wr[k] * vb[k];
      float sum = 0.0f;
      for (float s : acc) sum += s;
      out[b * ldo + r] += sum;
    }
  }
}

}  // namespace lstm_detail
}  // namespace nn::cpu

namespace nn::kernels {
Table<LstmForwardFn> lstm_forward{"lstm_forward", cpu::lstm_forward_cpu};
Table<LstmBackwardFn> lstm_backward{"lstm_backward", cpu::lstm_backward_cpu};
}  // namespace nn::kernels
