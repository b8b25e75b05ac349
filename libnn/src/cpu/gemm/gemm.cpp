// The GEMM driver: argument checks, the choice of micro-kernel, the cutting of C into
// chunks shared out between OpenMP threads, and the BLIS loops around the micro-kernel
// (docs/gemm.md).
//
// C is cut into chunks of at most MC rows × NC columns. For one chunk:
//   pc over K by KC              (beta is applied at pc == 0 only)
//     pack B: the chunk's KC×NC block of op(B), panels of NR columns  (stays in L2)
//     ir over the chunk's rows by MR
//       pack A: the MR×KC micro-panel of op(A)                          (stays in L1)
//       jr over the B panels     the KC×NR B micro-panels stream from L2
//         micro-kernel: MR×NR tile of C += A micro-panel × B micro-panel
// This is BLIS's order with the roles of A and B exchanged, because our C is row-major
// (BLIS's is column-major): the operand loaded as vectors (B, along a row of C) streams
// from L2 and the one broadcast (A) stays in L1.
//
// Threads take chunks first come, first served and never split K: every element of C is
// summed in the same order whatever the thread count or the thread that computes it, and
// threads need no barrier besides the end of the parallel region. Each thread packs into
// its own buffers; a row block of A or column block of B used by several chunks is packed
// once per chunk, which costs about 1/NC + 1/MC of the multiply-adds. MC does not need to
// fit any cache (A is packed one micro-panel at a time), so it is large: it only sets how
// often B is packed again.
//
// M == 1 (a matrix-vector product: linear at batch 1, the head of a generation step) skips
// all of that: packing B would cost as much as the product, whose every element of B is
// used once. gemv() streams B once with the KernelSet's gemv_rows / gemv_cols, the N
// outputs split between threads in blocks (deterministic the same way: no split of K).
#include <libnn/cpu/gemm.hpp>

#include "cpu/cpu_features.hpp"
#include "cpu/gemm/gemm_kernel.hpp"
#include "cpu/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

namespace nn::cpu {

namespace {

using gemm_detail::KernelSet;

// Below this many multiply-adds (M*N*K) the product runs on the calling thread: waking the
// OpenMP team costs a few microseconds, about the time of a 64×64×64 product.
constexpr int64_t kMinParallelWork = int64_t{1} << 18;

// With threads, C is cut into at least this many chunks per thread, handed out dynamically.
constexpr int64_t kChunksPerThread = 4;

const KernelSet* kernel_set_for(GemmIsa isa) {
  switch (isa) {
#if defined(LIBNN_X86)
    case GemmIsa::Avx512:
      return cpu_features().avx512 ? &gemm_detail::kernel_set_avx512() : nullptr;
    case GemmIsa::Avx2:
      return cpu_features().avx2_fma ? &gemm_detail::kernel_set_avx2() : nullptr;
#else
    case GemmIsa::Avx512:
    case GemmIsa::Avx2:
      return nullptr;
#endif
    case GemmIsa::Generic:
      return &gemm_detail::kernel_set_generic();
    case GemmIsa::Auto:
      for (GemmIsa candidate : {GemmIsa::Avx512, GemmIsa::Avx2})
        if (const KernelSet* set = kernel_set_for(candidate)) return set;
      return &gemm_detail::kernel_set_generic();
  }
  return nullptr;
}

std::atomic<const KernelSet*> g_kernels{nullptr};

const KernelSet& kernels() {
  const KernelSet* set = g_kernels.load(std::memory_order_acquire);
  if (set == nullptr) {
    set = kernel_set_for(GemmIsa::Auto);
    g_kernels.store(set, std::memory_order_release);
  }
  return *set;
}

// A 64-byte aligned scratch buffer that grows and is kept for the thread's lifetime, so a
// training loop calling sgemm thousands of times does not allocate.
class PackBuffer {
 public:
  float* get(int64_t floats) {
    if (floats > capacity_) {
      const int64_t rounded = (floats + 1023) & ~int64_t{1023};
      data_.reset(static_cast<float*>(
          ::operator new(static_cast<size_t>(rounded) * sizeof(float), std::align_val_t{64})));
      capacity_ = rounded;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { ::operator delete(p, std::align_val_t{64}); }
  };
  std::unique_ptr<float, Free> data_;
  int64_t capacity_ = 0;
};

struct ThreadBuffers {
  PackBuffer a;
  PackBuffer b;
};

ThreadBuffers& thread_buffers() {
  thread_local ThreadBuffers buffers;
  return buffers;
}

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// Splits `length` into chunks of at most `block` (a multiple of `unit`), evenly: 1100 with
// block 512 gives 384, 384, 332 rather than 512, 512, 76, so no chunk is a thin sliver.
int64_t even_chunk(int64_t length, int64_t block, int64_t unit) {
  const int64_t chunks = (length + block - 1) / block;
  return std::min(block, round_up((length + chunks - 1) / chunks, unit));
}

struct Problem {
  bool ta, tb;
  int64_t K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
};

// How C is cut into chunks of at most mc × nc (multiples of MR and NR).
struct Chunking {
  int64_t mc, nc;      // chunk size
  int64_t m_chunks, n_chunks;
};

// Chunks of up to MC × NC, split further (halving the larger side, down to a few register
// blocks) until there are `min_chunks` of them, so that the threads can balance the work.
Chunking choose_chunking(const KernelSet& ks, int64_t M, int64_t N, int64_t min_chunks) {
  const int64_t mr = ks.mr, nr = ks.nr;
  int64_t mc = even_chunk(M, ks.mc, mr), nc = even_chunk(N, ks.nc, nr);
  auto count = [](int64_t size, int64_t chunk) { return (size + chunk - 1) / chunk; };
  while (count(M, mc) * count(N, nc) < min_chunks) {
    const bool can_split_m = mc >= 4 * mr, can_split_n = nc >= 4 * nr;
    if (!can_split_m && !can_split_n) break;
    if (can_split_n && (!can_split_m || nc >= mc)) {
      nc = round_up(nc / 2, nr);
    } else {
      mc = round_up(mc / 2, mr);
    }
  }
  return {mc, nc, count(M, mc), count(N, nc)};
}

// The loops over one chunk of C, rows [m0, m0 + mc) × columns [n0, n0 + nc).
void gemm_chunk(const KernelSet& ks, const Problem& p, int64_t m0, int64_t mc, int64_t n0,
                int64_t nc, ThreadBuffers& buffers) {
  const int64_t mr = ks.mr, nr = ks.nr;
  const int64_t kc_step = even_chunk(p.K, ks.kc, 1);
  float* a_packed = buffers.a.get(mr * kc_step);
  float* b_packed = buffers.b.get(round_up(nc, nr) * kc_step);

  for (int64_t pc = 0; pc < p.K; pc += kc_step) {
    const int64_t kc = std::min(kc_step, p.K - pc);
    const float beta = pc == 0 ? p.beta : 1.0f;
    ks.pack_b(p.tb, p.tb ? p.B + n0 * p.ldb + pc : p.B + pc * p.ldb + n0, p.ldb, kc, nc,
              b_packed);
    for (int64_t ir = 0; ir < mc; ir += mr) {
      const int m = static_cast<int>(std::min(mr, mc - ir));
      // The A micro-panel is packed just before its use, into a buffer that stays in L1,
      // so that only the B block competes for L2.
      const int64_t row = m0 + ir;
      ks.pack_a(p.ta, p.ta ? p.A + pc * p.lda + row : p.A + row * p.lda + pc, p.lda, m, kc,
                a_packed);
      float* c_row = p.C + row * p.ldc + n0;
      for (int64_t jr = 0; jr < nc; jr += nr) {
        const int n = static_cast<int>(std::min(nr, nc - jr));
        ks.kernel(kc, a_packed, b_packed + jr * kc, c_row + jr, p.ldc, m, n, p.alpha, beta);
      }
    }
  }
}

void run_chunk(const KernelSet& ks, const Problem& p, const Chunking& ch, int64_t M, int64_t N,
               int64_t index, ThreadBuffers& buffers) {
  const int64_t m0 = (index / ch.n_chunks) * ch.mc, n0 = (index % ch.n_chunks) * ch.nc;
  gemm_chunk(ks, p, m0, std::min(ch.mc, M - m0), n0, std::min(ch.nc, N - n0), buffers);
}

// Below this many multiply-adds (N*K) a matrix-vector product (M == 1) runs on the calling
// thread. Lower than kMinParallelWork: the product is bound by reading B, one read per
// multiply-add, and a second core's share of the L3 bandwidth pays for the fork sooner.
constexpr int64_t kMinParallelGemvWork = int64_t{1} << 16;

// The unit in which the matrix-vector path splits the N outputs between threads: 64 floats,
// whole cache lines of C and whole 16-wide vectors.
constexpr int64_t kGemvBlock = 64;

// M == 1: C's row = alpha * a · op(B) + beta * C, streaming B once, nothing packed (a GEMM
// would pack all of B for one row of A). Threads split the N outputs in blocks of
// kGemvBlock; every output is summed by the same code in the same order wherever the
// blocks fall, so the result does not depend on the thread count.
void gemv(const KernelSet& ks, const Problem& p, int64_t N) {
  const float* a = p.A;
  if (p.ta && p.lda != 1) {
    // op(A) (1,K) is a column of A (K,lda): gathered to be contiguous.
    float* gathered = thread_buffers().a.get(p.K);
    for (int64_t k = 0; k < p.K; ++k) gathered[k] = p.A[k * p.lda];
    a = gathered;
  }
  auto run = [&](int64_t j0, int64_t j1) {
    if (p.tb) {
      ks.gemv_rows(j1 - j0, p.K, p.alpha, a, p.B + j0 * p.ldb, p.ldb, p.beta, p.C + j0);
    } else {
      ks.gemv_cols(j1 - j0, p.K, p.alpha, a, p.B + j0, p.ldb, p.beta, p.C + j0);
    }
  };
  const int64_t blocks = (N + kGemvBlock - 1) / kGemvBlock;
  if (N * p.K < kMinParallelGemvWork) return run(0, N);
  // Contiguous ranges of blocks, a few per thread, claimed first come, first served by
  // parallel_for (each reads its part of B once, in order): a thread that starts late takes
  // fewer, and none waits for it. Each column is computed whole by one call, whoever makes it.
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    run(b0 * kGemvBlock, std::min(N, b1 * kGemvBlock));
  });
}

// C = beta * C, for K == 0 or alpha == 0; beta == 0 writes zeros without reading C.
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + N, 0.0f);
    } else if (beta != 1.0f) {
      for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
  }
}

}  // namespace

void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M < 0 || N < 0 || K < 0)
    throw std::invalid_argument("sgemm: expected M, N, K >= 0, got M=" + std::to_string(M) +
                                " N=" + std::to_string(N) + " K=" + std::to_string(K));
  const int64_t a_cols = ta == Trans::Yes ? M : K;
  const int64_t b_cols = tb == Trans::Yes ? K : N;
  if (lda < std::max<int64_t>(1, a_cols) || ldb < std::max<int64_t>(1, b_cols) ||
      ldc < std::max<int64_t>(1, N))
    throw std::invalid_argument(
        "sgemm: leading dimension too small: expected lda >= " + std::to_string(a_cols) +
        ", ldb >= " + std::to_string(b_cols) + ", ldc >= " + std::to_string(N) + ", got " +
        std::to_string(lda) + ", " + std::to_string(ldb) + ", " + std::to_string(ldc));
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);

  const KernelSet& ks = kernels();
  const Problem problem{ta == Trans::Yes, tb == Trans::Yes, K, alpha, A, lda, B, ldb,
                        beta, C, ldc};

  if (M == 1) return gemv(ks, problem, N);

  int threads = 1;
  if (M * N * K >= kMinParallelWork) threads = max_team();
  const Chunking ch = choose_chunking(ks, M, N, threads > 1 ? kChunksPerThread * threads : 1);
  const int64_t chunks = ch.m_chunks * ch.n_chunks;
  if (threads <= 1 || chunks <= 1) {
    for (int64_t c = 0; c < chunks; ++c) run_chunk(ks, problem, ch, M, N, c, thread_buffers());
    return;
  }
  // Chunks are handed out first come, first served: a thread that starts late (its core
  // busy with another process) takes fewer. Which thread computes a chunk does not change
  // its result.
  std::atomic<int64_t> next{0};
  run_team(static_cast<int>(std::min<int64_t>(threads, chunks)), [&](int) {
    ThreadBuffers& buffers = thread_buffers();
    for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed))
      run_chunk(ks, problem, ch, M, N, c, buffers);
  });
}

void set_gemm_isa(GemmIsa isa) {
  const KernelSet* set = kernel_set_for(isa);
  if (set == nullptr)
    throw std::invalid_argument(std::string("set_gemm_isa: this CPU or build lacks ") +
                                gemm_isa_name(isa));
  g_kernels.store(set, std::memory_order_release);
}

GemmIsa gemm_isa() { return kernels().isa; }

bool gemm_isa_available(GemmIsa isa) { return kernel_set_for(isa) != nullptr; }

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::Auto: return "auto";
    case GemmIsa::Avx512: return "avx512";
    case GemmIsa::Avx2: return "avx2";
    case GemmIsa::Generic: return "generic";
  }
  return "unknown";
}

}  // namespace nn::cpu
