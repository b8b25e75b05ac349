// CPU LSTM kernels (src/kernels/lstm.hpp): one layer over a whole sequence, fused.
//
// Forward. The input projection of all T steps is one GEMM, G = x w_ih^T (T·B × 4H). Then
// each step adds h_{t-1} w_hh^T to G_t and applies the gates and the cell update:
//   - at batch > 4, with w_hh packed once per call into the GEMM micro-kernel's layout, its
//     columns permuted so that a panel holds the four gates of a few hidden units
//     (GatePanels). The steps run in one parallel region: a chunk of work is a set of
//     hidden units; whoever takes it computes their gate columns with the micro-kernel,
//     adds the bias, applies sigmoid / tanh and updates c and h there, so a step needs
//     nothing from the other chunks of the same step. Step t+1 starts when all chunks of
//     step t are done (RoundQueue). Nothing is packed again per step but h_{t-1}.
//   - at batch <= 4 (generation), with matrix-vector products straight from the weights
//     (lstm_gemv.hpp), for a single step the x and h products in the same pass.
// Backward through time, the same way with w_hh packed once: per step a chunk computes its
// units' columns of the recurrent gradient dh = dG_{t+1} w_hh, then turns dh + dy_t and dc
// into the gate gradients dG_t of its units (and dc_{t-1}). After the loop dx, dw_ih and
// dw_hh are whole-sequence GEMMs, the bias gradient a column sum of dG. The elementwise
// step work is lstm_units.hpp (AVX-512 or portable).
//
// Determinism: every output element is computed by one chunk with the same blocking
// whatever the number of threads or the thread that takes the chunk (the split is over
// hidden units, never over a sum), so the results are the same bits with 1 or 2 threads.
#include "kernels/lstm.hpp"

#include <libnn/cpu/gemm.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "cpu/gemm/gemm_kernel.hpp"
#include "cpu/lstm_gemv.hpp"
#include "cpu/lstm_units.hpp"
#include "cpu/parallel.hpp"
#include "cpu/vec_math.hpp"

namespace nn::cpu {
namespace {

using gemm_detail::KernelSet;

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
  if (work < kMinParallelWork) return 1;
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(max_team(), parts)));
}

// The chunks of a recurrence, in rounds (one per time step): the threads of a parallel
// region claim chunks first come, first served, and a chunk of round r starts only when
// every chunk of round r-1 is done. Threads wait for work, never for each other: a thread
// whose core another process holds delays only the chunk it is computing, and the others go on
// with the rest of the step, then the next steps (an OpenMP barrier per step would wait for
// it every time). Which thread computes a chunk does not change its result.
class RoundQueue {
 public:
  RoundQueue(std::int64_t rounds, std::int64_t chunks) : chunks_(chunks), total_(rounds * chunks) {}

  // Claims the next chunk once its round may start: false when none is left. A thread waits
  // for the round *before* it claims, so it never holds a chunk it cannot start yet: a thread
  // descheduled while it waits (its core taken by another process) holds nothing the others
  // need, and they take the round's chunks without it.
  bool next(std::int64_t& round, std::int64_t& chunk) {
    std::int64_t c = next_.load(std::memory_order_relaxed);
    for (int spins = 0;; ++spins) {
      if (c >= total_) return false;
      if (done_.load(std::memory_order_acquire) >= (c / chunks_) * chunks_) {
        if (next_.compare_exchange_weak(c, c + 1, std::memory_order_relaxed)) break;
        continue;  // another thread took chunk c; c is now the next one
      }
      if (spins < 4096) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // the chunk we wait for may be on a descheduled thread
      }
      c = next_.load(std::memory_order_relaxed);
    }
    round = c / chunks_;
    chunk = c % chunks_;
    return true;
  }
  // Marks a claimed chunk done (publishing what it wrote).
  void finish() { done_.fetch_add(1, std::memory_order_release); }

 private:
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  const std::int64_t chunks_, total_;
  std::atomic<std::int64_t> next_{0};
  std::atomic<std::int64_t> done_{0};
};

// Workspace kept by the calling thread from one call to the next, 64-byte aligned (the
// micro-kernel loads packed panels aligned) and grown on demand, like gemm.cpp's packing
// buffers: a training loop would otherwise fault in the same tens of megabytes of fresh
// pages at every step (the gate gradients alone are T·B·4H floats, 52 MB for the reference
// model, ~10 ms of page faults). Buffers above kMaxKeptBytes are freed after the call.
class Scratch {
 public:
  static constexpr std::size_t kMaxKeptBytes = std::size_t{256} << 20;

  float* get(std::int64_t floats) {
    const auto bytes = static_cast<std::size_t>(std::max<std::int64_t>(1, floats)) * sizeof(float);
    if (bytes > capacity_) {
      data_.reset(static_cast<float*>(::operator new(bytes, std::align_val_t{64})));
      capacity_ = bytes;
    }
    return data_.get();
  }
  // Gives the memory back if it is too large to keep.
  void trim() {
    if (capacity_ > kMaxKeptBytes) {
      data_.reset();
      capacity_ = 0;
    }
  }

 private:
  struct Free {
    void operator()(float* p) const { ::operator delete(p, std::align_val_t{64}); }
  };
  std::unique_ptr<float, Free> data_;
  std::size_t capacity_ = 0;
};

// The calling thread's workspaces: one per role, as a forward or a backward uses them
// together.
struct Workspaces {
  Scratch gates;    // the forward's gates when they are not saved; the backward's dG
  Scratch weights;  // w_hh packed for the micro-kernel
  Scratch a;        // per-thread packed A panels
  Scratch tiles;    // per-thread C tiles
  void trim() {
    for (Scratch* s : {&gates, &weights, &a, &tiles}) s->trim();
  }
};

Workspaces& workspaces() {
  thread_local Workspaces w;
  return w;
}

// The step's elementwise kernels (lstm_units.hpp) for the instruction set the GEMM uses.
const lstm_detail::UnitKernels& unit_kernels() {
#if defined(LIBNN_X86)
  if (gemm_isa() == GemmIsa::Avx512) return lstm_detail::unit_kernels_avx512();
#endif
  return lstm_detail::unit_kernels_generic();
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
  float* data;

  GatePanels(const KernelSet& ks, const float* w_hh, std::int64_t H_)
      : H(H_), nr(ks.nr), U(ks.nr / 4), panels(ceil_div(H_, ks.nr / 4)),
        kc_step(even_block(H_, ks.kc)), data(workspaces().weights.get(H_ * panels * ks.nr)) {
    parallel_for(panels, 4, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t pc = 0; pc < H; pc += kc_step) {
        const std::int64_t kc = std::min(kc_step, H - pc);
        for (std::int64_t p = begin; p < end; ++p) {
          float* dst = data + offset(pc, p);
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
    return data + offset(pc, p);
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

// Prefetches rows [r0, r1) of a step's gate block g (B,4H) at units [j0, j1) of each gate.
void prefetch_gate_rows(const float* g, std::int64_t r0, std::int64_t r1, std::int64_t H,
                        std::int64_t j0, std::int64_t j1) {
  constexpr std::int64_t kLine = 64 / sizeof(float);
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t q = 0; q < 4; ++q) {
      const float* seg = g + r * 4 * H + q * H;
      for (std::int64_t j = j0; j < j1; j += kLine) __builtin_prefetch(seg + j, 1, 3);
    }
  }
}

void forward_steps_gemm(const Forward& f) {
  const KernelSet& ks = gemm_kernels();
  const std::int64_t B = f.B, H = f.H, G4 = 4 * H, mr = ks.mr, nr = ks.nr;
  const lstm_detail::UnitKernels& units = unit_kernels();
  const GatePanels w(ks, f.w_hh, H);
  const std::int64_t U = w.U, row_panels = ceil_div(B, mr);
  // A chunk: 8 panels (64 units with AVX-512) for all rows; its B panels (512 KB at H = 512)
  // stay in L2 across the row blocks, its C tile (MR × 8·NR) in L1.
  constexpr std::int64_t kPanelsPerChunk = 8;
  const std::int64_t chunks = ceil_div(w.panels, kPanelsPerChunk);
  const int threads = team_size(B * G4 * H, chunks);
  const std::int64_t ldt = kPanelsPerChunk * nr;
  float* a_bufs = workspaces().a.get(threads * row_panels * mr * H);
  float* tiles = workspaces().tiles.get(threads * mr * ldt);
  RoundQueue queue(f.T, chunks);

  run_team(threads, [&](int id) {
    float* a_pack = a_bufs + id * row_panels * mr * H;
    float* tile = tiles + id * mr * ldt;
    std::int64_t packed_step = -1;
    std::int64_t t = 0, k = 0;
    while (queue.next(t, k)) {
      const float* h_prev = f.h_before(t);
      const float* c_prev = f.c_before(t);
      float* g_t = f.g + t * B * G4;
      float* c_t = f.c_at(t);
      float* h_t = f.y + t * B * H;
      const std::int64_t p0 = k * kPanelsPerChunk, p1 = std::min(w.panels, p0 + kPanelsPerChunk);
      const std::int64_t j0 = p0 * U, j1 = std::min(H, p1 * U);
      // h_{t-1} packed into the micro-kernel's A panels, once per step by each thread that
      // works on it (128 KB at B = 64, H = 512). Row block i, K block pc at i*MR*H + pc*MR.
      if (h_prev && packed_step != t) {
        for (std::int64_t i = 0; i < row_panels; ++i) {
          const std::int64_t m = std::min(mr, B - i * mr);
          for (std::int64_t pc = 0; pc < H; pc += w.kc_step) {
            ks.pack_a(false, h_prev + i * mr * H + pc, H, m, std::min(w.kc_step, H - pc),
                      a_pack + i * mr * H + pc * mr);
          }
        }
        packed_step = t;
      }
      prefetch_gate_rows(g_t, 0, std::min(B, mr), H, j0, j1);
      for (std::int64_t i = 0; i < row_panels; ++i) {
        const std::int64_t r0 = i * mr, m = std::min(mr, B - r0);
        // G_t's rows come from the input-projection GEMM long before, from memory: ask for
        // the next row block's part while the micro-kernel works on this one.
        if (i + 1 < row_panels) {
          prefetch_gate_rows(g_t, r0 + mr, std::min(B, r0 + 2 * mr), H, j0, j1);
        }
        if (h_prev) {
          // tile (m × (p1-p0)·NR) = h_prev[r0:r0+m] · w_hh^T on these panels' columns
          for (std::int64_t pc = 0; pc < H; pc += w.kc_step) {
            const std::int64_t kc = std::min(w.kc_step, H - pc);
            for (std::int64_t p = p0; p < p1; ++p) {
              ks.kernel(kc, a_pack + i * mr * H + pc * mr, w.panel(pc, p), tile + (p - p0) * nr,
                        ldt, static_cast<int>(m), static_cast<int>(nr), 1.0f,
                        pc == 0 ? 0.0f : 1.0f);
            }
          }
        }
        for (std::int64_t r = 0; r < m; ++r) {
          float* g_row = g_t + (r0 + r) * G4;
          if (h_prev) {
            // G_t += the tile, columns back in gate-major order (each gate's units walked
            // in order: sequential in G). The bias is added with the activations, 16-wide.
            const float* t_row = tile + r * ldt;
            for (std::int64_t q = 0; q < 4; ++q) {
              float* dst = g_row + q * H;
              for (std::int64_t p = p0; p < p1; ++p) {
                const float* src = t_row + (p - p0) * nr + q * U;
                const std::int64_t n = std::min(U, H - p * U);
                for (std::int64_t u = 0; u < n; ++u) dst[p * U + u] += src[u];
              }
            }
          }
          units.forward(g_row, f.bias, c_prev ? c_prev + (r0 + r) * H : nullptr,
                        c_t + (r0 + r) * H, h_t + (r0 + r) * H, H, j0, j1);
        }
      }
      queue.finish();
    }
  });
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
  const lstm_detail::UnitKernels& units = unit_kernels();
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
                     units.forward(g_t + b * G4, f.bias, c_prev ? c_prev + b * H : nullptr,
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
  Tensor c_work = save ? cells : empty({2, B, H}, x.options());
  const std::vector<float> bias = combined_bias(b_ih, b_hh, G4);
  const Forward f{T, B, I, H, w_ih.data_ptr<float>(), w_hh.data_ptr<float>(),
                  bias.empty() ? nullptr : bias.data(), data_or_null(h0), data_or_null(c0),
                  x.data_ptr<float>(),
                  save ? gates.data_ptr<float>() : workspaces().gates.get(T * B * G4),
                  c_work.data_ptr<float>(), save, y.data_ptr<float>()};
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
  workspaces().trim();
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
// w_hh is packed once (standard B panels over its H columns, K = 4H). A chunk owns NR-wide
// panels, i.e. hidden units [j0, j1). Round r (t = T-1-r) of a chunk: its units' columns of
// dh_rec = dG_{t+1} w_hh (r > 0; needs all of dG_{t+1}, hence the rounds), then dG_t at its
// units from dy_t + dh_rec and dc (both only at its units). Round T: dh0 = dG_0 w_hh.
void backward_steps(std::int64_t T, std::int64_t B, std::int64_t H, const float* w_hh,
                    const float* a, const float* cells, const float* c0, const float* dy,
                    float* dh, float* dc, float* dh0, float* dg) {
  const KernelSet& ks = gemm_kernels();
  const lstm_detail::UnitKernels& units = unit_kernels();
  const std::int64_t G4 = 4 * H, mr = ks.mr, nr = ks.nr;
  const std::int64_t panels = ceil_div(H, nr), kc_step = even_block(G4, ks.kc);
  // Panel p of the K block at pc: w_packed + pc*panels*NR + p*kc*NR.
  float* w_packed = workspaces().weights.get(G4 * panels * nr);
  parallel_for(panels, 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t pc = 0; pc < G4; pc += kc_step) {
      const std::int64_t kc = std::min(kc_step, G4 - pc);
      for (std::int64_t p = begin; p < end; ++p) {
        ks.pack_b(false, w_hh + pc * H + p * nr, H, kc, std::min(nr, H - p * nr),
                  w_packed + pc * panels * nr + p * kc * nr);
      }
    }
  });
  // A chunk: 2 panels (64 units with AVX-512); its B panels for one K block (2·342·32·4 =
  // 88 KB) stay in L1/L2 across the row blocks.
  constexpr std::int64_t kPanelsPerChunk = 2;
  const std::int64_t chunks = ceil_div(panels, kPanelsPerChunk);
  const std::int64_t row_panels = ceil_div(B, mr);
  const int threads = team_size(B * G4 * H, chunks);
  float* a_bufs = workspaces().a.get(threads * row_panels * mr * G4);
  RoundQueue queue(dh0 ? T + 1 : T, chunks);

  run_team(threads, [&](int id) {
    float* a_pack = a_bufs + id * row_panels * mr * G4;
    std::int64_t packed_round = -1;
    std::int64_t r = 0, k = 0;
    while (queue.next(r, k)) {
      const std::int64_t t = T - 1 - r;  // -1 in the last round (dh0 only)
      const std::int64_t p0 = k * kPanelsPerChunk, p1 = std::min(panels, p0 + kPanelsPerChunk);
      const std::int64_t j0 = p0 * nr, j1 = std::min(H, p1 * nr);
      if (t + 1 < T) {
        // dh_t's recurrent part (dh0 at t = -1) = dG_{t+1} w_hh, at these units' columns.
        // dG_{t+1} packed into A panels once per round by each thread that works on it
        // (512 KB at B = 64, H = 512). Row block i, K block pc at i*MR*4H + pc*MR.
        const float* dg_next = dg + (t + 1) * B * G4;
        if (packed_round != r) {
          for (std::int64_t i = 0; i < row_panels; ++i) {
            for (std::int64_t pc = 0; pc < G4; pc += kc_step) {
              ks.pack_a(false, dg_next + i * mr * G4 + pc, G4, std::min(mr, B - i * mr),
                        std::min(kc_step, G4 - pc), a_pack + i * mr * G4 + pc * mr);
            }
          }
          packed_round = r;
        }
        float* dst = t >= 0 ? dh : dh0;
        for (std::int64_t pc = 0; pc < G4; pc += kc_step) {
          const std::int64_t kc = std::min(kc_step, G4 - pc);
          for (std::int64_t i = 0; i < row_panels; ++i) {
            const std::int64_t r0 = i * mr, m = std::min(mr, B - r0);
            for (std::int64_t p = p0; p < p1; ++p) {
              ks.kernel(kc, a_pack + i * mr * G4 + pc * mr,
                        w_packed + pc * panels * nr + p * kc * nr, dst + r0 * H + p * nr, H,
                        static_cast<int>(m), static_cast<int>(std::min(nr, H - p * nr)), 1.0f,
                        pc == 0 ? 0.0f : 1.0f);
            }
          }
        }
      }
      if (t >= 0) {
        const float* a_t = a + t * B * G4;
        const float* c_t = cells + t * B * H;
        const float* c_prev = t == 0 ? c0 : cells + (t - 1) * B * H;
        const float* dy_t = dy + t * B * H;
        float* dg_t = dg + t * B * G4;
        for (std::int64_t b = 0; b < B; ++b) {
          units.backward(a_t + b * G4, c_t + b * H, c_prev ? c_prev + b * H : nullptr,
                         dy_t + b * H, dh + b * H, dc + b * H, dg_t + b * G4, H, j0, j1);
        }
      }
      queue.finish();
    }
  });
}

void lstm_backward_cpu(const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n, const Tensor& x,
                       const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                       const Tensor& y, const Tensor& gates, const Tensor& cells, Tensor& dx,
                       Tensor& dh0, Tensor& dc0, Tensor& dw_ih, Tensor& dw_hh, Tensor& db_ih,
                       Tensor& db_hh) {
  const std::int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1);
  const std::int64_t G4 = 4 * H;
  Tensor dh_work = dh_n.clone();
  Tensor dc_work = dc_n.clone();
  float* pdg = workspaces().gates.get(T * B * G4);  // dG (T,B,4H)
  if (B > 0) {
    backward_steps(T, B, H, w_hh.data_ptr<float>(), gates.data_ptr<float>(),
                   cells.data_ptr<float>(), data_or_null(c0), dy.data_ptr<float>(),
                   dh_work.data_ptr<float>(), dc_work.data_ptr<float>(),
                   dh0.defined() ? dh0.data_ptr<float>() : nullptr, pdg);
  }
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
  workspaces().trim();
}

}  // namespace

namespace lstm_detail {

const UnitKernels& unit_kernels_generic() {
  static const UnitKernels kernels{units_forward, units_backward};
  return kernels;
}

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
