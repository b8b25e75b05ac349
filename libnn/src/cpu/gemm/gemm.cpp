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
// With several threads and a C of at least kSharedMinRowsPerThread rows per thread, the
// shared-B path (SharedBGemm below) replaces the chunks: the threads pack each KC×NC block
// of B once, together, into a buffer they all read, and share out its rows of C. The
// chunks packed every block of B once per chunk of rows on each thread: 4 times over at
// 1024² on 2 threads, 5 at 4096².
//
// M == 1 (a matrix-vector product: linear at batch 1, the head of a generation step) skips
// all of that: packing B would cost as much as the product, whose every element of B is
// used once. gemv() streams B once with the KernelSet's gemv_rows / gemv_cols, the N
// outputs split between threads in blocks (deterministic the same way: no split of K).
#include <libnn/cpu/gemm.hpp>

#include "cpu/cpu_features.hpp"
#include "cpu/gemm/gemm_kernel.hpp"
#include "cpu/gemm/gemm_testing.hpp"
#include "cpu/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

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
  PackBuffer shared_b;  // the shared-B path's two B blocks, when this thread is the caller
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

// ---------------------------------------------------------------------------------------
// The shared-B path: several threads, C tall enough that B would otherwise be packed again
// by every thread for every chunk of rows. The work is a sequence of stages, one per
// (jc, pc) block: jc over N by NC, pc over K by KC, pc innermost. A stage is
//   its slices: packing the stage's KC×NC block of op(B) into a buffer all threads read,
//               a few NR-column panels per slice;
//   its pieces: the micro-kernel loops over a block of rows of C (a multiple of MR) times
//               the stage's NC columns, against that buffer (A packed one MR×KC
//               micro-panel at a time, as in gemm_chunk).
// All tasks of all stages, in that order, are claimed first come, first served from one
// counter, so a thread that runs late does fewer of them, and every B block is packed once
// in all instead of once per chunk of rows (that chunk's every KC step, on each thread).
// A task waits only for tasks claimed before it:
//   a piece of stage s  for the stage's last slice (its B block is packed), and for the
//                       same rows' piece of stage s - 1 (C's rows are summed over K in
//                       stage order, the same order as gemm_chunk's pc loop);
//   a slice of stage s  for the last piece of stage s - 2 (the B buffers are two, used in
//                       turns: stage s packs over what stage s - 2 read).
// So a thread descheduled while it holds a task stalls the others only after they have done
// about one stage's work, and a wait spins briefly, then yields, then sleeps on a futex. The
// result is the same bits for any thread count and any order of claims: every C tile is
// computed by the same micro-kernel calls over the same KC blocks in the same order.

// How long a wait spins (pause instructions), then yields, before it sleeps.
constexpr int kWaitSpins = 1000;
constexpr int kWaitYields = 50;

// The shared-B path takes products of at least this many rows per thread: below that, C is
// too short for the row pieces to keep every thread busy and B is packed only a few times
// anyway (gemm_chunk's chunks then split N too). 512, not 128: on the quiet 2-core EPYC the
// shared path at 128 rows per thread took 256² from 392-446 to 349-358 GFLOP/s in 3 runs of
// 4, and gained nothing clear at 512²; from 1024² on it gains (docs/perf.md, "Threads sharing
// one packed B block"). Tests lower it (gemm_testing) to reach the path with small products.
constexpr int64_t kSharedMinRowsPerThread = 512;

// A row piece has at most this many register blocks of rows: small enough that a thread
// descheduled while it holds one holds little, large enough that claims cost nothing.
constexpr int64_t kPieceMaxBlocks = 8;

// From N >= kWideN * NC on, a stage's B block is 2 NC columns wide (1.5 MiB for AVX-512, in
// a 2 MiB L2): each A micro-panel is then packed once per 2 NC columns of C instead of once
// per NC. Measured on the 2-core EPYC (docs/perf.md): +4% at 4096², +0-2% at 2048²,
// nothing clear at 1024².
constexpr int64_t kWideN = 4;

std::atomic<std::int64_t> g_task_delay_us{0};
std::atomic<std::int64_t> g_shared_min_rows{kSharedMinRowsPerThread};
std::atomic<std::int64_t> g_shared_b_calls{0};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class SharedBGemm {
 public:
  SharedBGemm(const KernelSet& ks, const Problem& p, int64_t M, int64_t N, int threads,
              PackBuffer& b_buffers)
      : ks_(ks), p_(p), M_(M), N_(N) {
    const int64_t mr = ks.mr, nr = ks.nr;
    nc_step_ = even_chunk(N, N >= kWideN * ks.nc ? 2 * ks.nc : ks.nc, nr);
    kc_step_ = even_chunk(p.K, ks.kc, 1);
    k_blocks_ = (p.K + kc_step_ - 1) / kc_step_;
    stages_ = (N + nc_step_ - 1) / nc_step_ * k_blocks_;
    const int64_t row_blocks = (M + mr - 1) / mr;
    const int64_t per_piece =
        std::clamp<int64_t>(row_blocks / (kChunksPerThread * threads), 1, kPieceMaxBlocks);
    piece_rows_ = per_piece * mr;
    pieces_ = (M + piece_rows_ - 1) / piece_rows_;
    const int64_t panels = (nc_step_ + nr - 1) / nr;
    slice_panels_ = std::max<int64_t>(1, panels / (2 * threads));
    slices_ = (panels + slice_panels_ - 1) / slice_panels_;
    tasks_per_stage_ = slices_ + pieces_;
    buffer_floats_ = round_up(nc_step_, nr) * kc_step_;
    float* buffers = b_buffers.get(2 * buffer_floats_);
    b_[0] = buffers;
    b_[1] = buffers + buffer_floats_;
    packed_ = std::make_unique<std::atomic<int32_t>[]>(static_cast<size_t>(stages_));
    computed_ = std::make_unique<std::atomic<int32_t>[]>(static_cast<size_t>(stages_));
    rows_done_ = std::make_unique<std::atomic<int32_t>[]>(static_cast<size_t>(pieces_));
  }

  // The body of every participant: claims tasks until none is left.
  void work(int slot, ThreadBuffers& own) {
    const int64_t tasks = stages_ * tasks_per_stage_;
    const int64_t delay_us = slot > 0 ? g_task_delay_us.load(std::memory_order_relaxed) : 0;
    // Allocated before the first claim: a task, once claimed, must finish (others wait for
    // it), so nothing after a claim may throw.
    float* a_packed = own.a.get(ks_.mr * kc_step_);
    for (int64_t t = next_.fetch_add(1); t < tasks; t = next_.fetch_add(1)) {
      if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      const int64_t stage = t / tasks_per_stage_, index = t % tasks_per_stage_;
      if (index < slices_) {
        pack_slice(stage, index);
      } else {
        compute_piece(stage, index - slices_, a_packed);
      }
    }
  }

 private:
  struct Block {
    int64_t n0, nc, pc, kc;
  };
  Block block(int64_t stage) const {
    const int64_t n0 = stage / k_blocks_ * nc_step_, pc = stage % k_blocks_ * kc_step_;
    return {n0, std::min(nc_step_, N_ - n0), pc, std::min(kc_step_, p_.K - pc)};
  }

  void pack_slice(int64_t stage, int64_t slice) {
    if (stage >= 2) wait_for(computed_[stage - 2], pieces_);
    const Block b = block(stage);
    const int64_t j0 = slice * slice_panels_ * ks_.nr;
    if (j0 < b.nc) {
      const int64_t n = std::min(b.nc - j0, slice_panels_ * ks_.nr);
      const int64_t col = b.n0 + j0;
      ks_.pack_b(p_.tb, p_.tb ? p_.B + col * p_.ldb + b.pc : p_.B + b.pc * p_.ldb + col, p_.ldb,
                 b.kc, n, b_[stage % 2] + j0 * b.kc);
    }
    signal(packed_[stage]);
  }

  void compute_piece(int64_t stage, int64_t piece, float* a_packed) {
    wait_for(packed_[stage], slices_);
    if (stage > 0) wait_for(rows_done_[piece], stage);
    const Block b = block(stage);
    const int64_t mr = ks_.mr, nr = ks_.nr;
    const float beta = b.pc == 0 ? p_.beta : 1.0f;
    const float* b_packed = b_[stage % 2];
    const int64_t m0 = piece * piece_rows_, m_end = std::min(M_, m0 + piece_rows_);
    for (int64_t row = m0; row < m_end; row += mr) {
      const int m = static_cast<int>(std::min(mr, m_end - row));
      ks_.pack_a(p_.ta, p_.ta ? p_.A + b.pc * p_.lda + row : p_.A + row * p_.lda + b.pc, p_.lda, m,
                 b.kc, a_packed);
      float* c_row = p_.C + row * p_.ldc + b.n0;
      for (int64_t jr = 0; jr < b.nc; jr += nr) {
        const int n = static_cast<int>(std::min(nr, b.nc - jr));
        ks_.kernel(b.kc, a_packed, b_packed + jr * b.kc, c_row + jr, p_.ldc, m, n, p_.alpha, beta);
      }
    }
    signal(rows_done_[piece]);
    signal(computed_[stage]);
  }

  // Counters only grow. Sequentially consistent with sleepers_: either a waiter that is
  // about to sleep sees the new count, or the signaller sees the sleeper and wakes it.
  void signal(std::atomic<int32_t>& counter) {
    counter.fetch_add(1);
    if (sleepers_.load() > 0) counter.notify_all();
  }

  void wait_for(std::atomic<int32_t>& counter, int64_t target) {
    int32_t seen = counter.load();
    if (seen >= target) return;
    for (int spins = 0; spins < kWaitSpins; ++spins) {
      cpu_relax();
      if ((seen = counter.load()) >= target) return;
    }
    for (int yields = 0; yields < kWaitYields; ++yields) {
      std::this_thread::yield();  // the thread we wait for may be waiting for this core
      if ((seen = counter.load()) >= target) return;
    }
    sleepers_.fetch_add(1);
    while ((seen = counter.load()) < target) counter.wait(seen);
    sleepers_.fetch_sub(1);
  }

  const KernelSet& ks_;
  const Problem& p_;
  int64_t M_, N_;
  int64_t nc_step_, kc_step_, k_blocks_, stages_;
  int64_t piece_rows_, pieces_, slice_panels_, slices_, tasks_per_stage_, buffer_floats_;
  float* b_[2];
  std::unique_ptr<std::atomic<int32_t>[]> packed_;     // per stage: slices packed
  std::unique_ptr<std::atomic<int32_t>[]> computed_;   // per stage: pieces computed
  std::unique_ptr<std::atomic<int32_t>[]> rows_done_;  // per row piece: stages computed
  alignas(64) std::atomic<int64_t> next_{0};
  alignas(64) std::atomic<int32_t> sleepers_{0};
};

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
  if (threads > 1 && M >= g_shared_min_rows.load(std::memory_order_relaxed) * threads) {
    g_shared_b_calls.fetch_add(1, std::memory_order_relaxed);
    SharedBGemm shared(ks, problem, M, N, threads, thread_buffers().shared_b);
    run_team(threads, [&](int slot) { shared.work(slot, thread_buffers()); });
    return;
  }
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

namespace gemm_testing {
void set_task_delay(std::chrono::microseconds delay) { g_task_delay_us.store(delay.count()); }
int64_t shared_b_calls() { return g_shared_b_calls.load(); }
int64_t set_shared_min_rows_per_thread(int64_t rows) {
  return g_shared_min_rows.exchange(rows > 0 ? rows : kSharedMinRowsPerThread);
}
}  // namespace gemm_testing

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
