// The interface between the GEMM driver (gemm.cpp) and the per-instruction-set parts
// (microkernel_<isa>.cpp): one KernelSet per instruction set, holding its register block
// (MR×NR), its cache blocks (KC, MC, NC), its micro-kernel and its packing routines.
//
// Packed layouts (what the micro-kernel reads):
//   A (m×kc of op(A), m <= MR in the driver): panels of MR rows; panel p holds, for k = 0..kc-1, the MR
//     values op(A)[p*MR + 0..MR-1][k], contiguously (kc*MR floats per panel). Rows past mc
//     are zero.
//   B block (kc×nc of op(B)): panels of NR columns; panel q holds, for k = 0..kc-1, the NR
//     values op(B)[k][q*NR + 0..NR-1] (kc*NR floats per panel). Columns past nc are zero.
// So the micro-kernel streams both panels with unit stride, and an edge tile costs no
// special code in the inner loop.
#pragma once

#include <libnn/cpu/gemm.hpp>

#include <cstdint>

namespace nn::cpu::gemm_detail {

// C[0:m, 0:n] = alpha * (a panel)(b panel) + beta * C[0:m, 0:n], C row-major with
// leading dim ldc; m <= MR, n <= NR (the tile at the lower or right edge of C).
// beta == 0: C is not read.
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c,
                             int64_t ldc, int m, int n, float alpha, float beta);

// Packs the m×kc block of op(A) whose top-left element is at `a` into `dst` (layout above).
// trans == false: op(A)[i][k] = a[i*lda + k]; trans == true: op(A)[i][k] = a[k*lda + i].
using PackA = void (*)(bool trans, const float* a, int64_t lda, int64_t m, int64_t kc,
                       float* dst);

// Packs the kc×n block of op(B) whose top-left element is at `b` into `dst`.
// trans == false: op(B)[k][j] = b[k*ldb + j]; trans == true: op(B)[k][j] = b[j*ldb + k].
using PackB = void (*)(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t n,
                       float* dst);

// The matrix-vector path for M == 1 (gemm.cpp: no packing, B streamed once). a is op(A)'s
// single row, contiguous (K values); c is C's row (n values); beta == 0: c is not read.
//   GemvRows (op(B) = Bᵀ, B stored n×K): c[j] = alpha * sum_k b[j*ldb + k] * a[k] + beta * c[j]
//   GemvCols (op(B) = B,  B stored K×n): c[j] = alpha * sum_k a[k] * b[k*ldb + j] + beta * c[j]
// Each c[j] is summed by the same code in the same order wherever the driver cuts the n
// outputs between calls, so splitting them between threads does not change a bit.
using GemvRows = void (*)(int64_t n, int64_t K, float alpha, const float* a, const float* b,
                          int64_t ldb, float beta, float* c);
using GemvCols = void (*)(int64_t n, int64_t K, float alpha, const float* a, const float* b,
                          int64_t ldb, float beta, float* c);

struct KernelSet {
  GemmIsa isa;
  int mr;      // rows of the register block (values of A broadcast per k)
  int nr;      // columns of the register block (values of B loaded as vectors per k)
  int64_t kc;  // depth of a packed block: an A micro-panel (MR×KC) stays in L1
  int64_t nc;  // columns of a packed B block (KC×NC): stays in L2, a multiple of NR
  int64_t mc;  // rows of a chunk of C (a multiple of MR): B is packed again every MC rows
  MicroKernel kernel;
  PackA pack_a;
  PackB pack_b;
  GemvRows gemv_rows;  // M == 1, op(B) = Bᵀ
  GemvCols gemv_cols;  // M == 1, op(B) = B
};

// Defined in microkernel_<isa>.cpp. The AVX ones exist only on x86 builds, and may be
// called only when cpu_features() says so.
const KernelSet& kernel_set_generic();
#if defined(LIBNN_X86)
const KernelSet& kernel_set_avx2();
const KernelSet& kernel_set_avx512();
#endif

// Portable packing, a template per register block. In an unnamed namespace on purpose:
// each microkernel_<isa>.cpp compiles its own copy with its own instruction set, and
// internal linkage keeps the linker from merging an AVX-512 copy into the generic path.
namespace {

template <int MR>
void pack_a_portable(bool trans, const float* a, int64_t lda, int64_t m, int64_t kc,
                     float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += MR) {
    const int rows = static_cast<int>(m - i0 < MR ? m - i0 : MR);
    if (trans) {
      // op(A)[i][k] = a[k*lda + i]: each k gives MR contiguous values.
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = a + k * lda + i0;
        float* out = dst + k * MR;
        for (int i = 0; i < rows; ++i) out[i] = src[i];
        for (int i = rows; i < MR; ++i) out[i] = 0.0f;
      }
    } else {
      for (int i = 0; i < rows; ++i) {
        const float* src = a + (i0 + i) * lda;
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = src[k];
      }
      for (int i = rows; i < MR; ++i)
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = 0.0f;
    }
    dst += MR * kc;
  }
}

template <int NR>
void pack_b_portable(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t n,
                     float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += NR) {
    const int cols = static_cast<int>(n - j0 < NR ? n - j0 : NR);
    if (trans) {
      for (int j = 0; j < cols; ++j) {
        const float* src = b + (j0 + j) * ldb;
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = src[k];
      }
      for (int j = cols; j < NR; ++j)
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = 0.0f;
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = b + k * ldb + j0;
        float* out = dst + k * NR;
        if (cols == NR) {
          for (int j = 0; j < NR; ++j) out[j] = src[j];
        } else {
          for (int j = 0; j < cols; ++j) out[j] = src[j];
          for (int j = cols; j < NR; ++j) out[j] = 0.0f;
        }
      }
    }
    dst += NR * kc;
  }
}

// The portable matrix-vector kernels (GemvRows / GemvCols above), for the generic and AVX2
// kernel sets: plain loops with explicit partial sums, which the compiler vectorizes for
// the file's instruction set without reordering any sum.

// Each row's dot product in 16 partial sums (lane l takes k ≡ l mod 16), added pairwise.
inline float dot_lanes16(const float* __restrict w, const float* __restrict a, int64_t K) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += w[k + l] * a[k + l];
  for (int l = 0; k + l < K; ++l) acc[l] += w[k + l] * a[k + l];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0];
}

inline void gemv_rows_portable(int64_t n, int64_t K, float alpha, const float* a, const float* b,
                               int64_t ldb, float beta, float* c) {
  for (int64_t j = 0; j < n; ++j) {
    const float sum = alpha * dot_lanes16(b + j * ldb, a, K);
    c[j] = beta == 0.0f ? sum : sum + beta * c[j];
  }
}

// Blocks of 64 columns, each column summed over k in order in its own accumulator.
inline void gemv_cols_portable(int64_t n, int64_t K, float alpha, const float* a, const float* b,
                               int64_t ldb, float beta, float* c) {
  constexpr int64_t kCols = 64;
  for (int64_t j0 = 0; j0 < n; j0 += kCols) {
    const int64_t w = n - j0 < kCols ? n - j0 : kCols;
    float acc[kCols] = {};
    for (int64_t k = 0; k < K; ++k) {
      const float ak = a[k];
      const float* __restrict row = b + k * ldb + j0;
      for (int64_t j = 0; j < w; ++j) acc[j] += ak * row[j];
    }
    for (int64_t j = 0; j < w; ++j) {
      const float sum = alpha * acc[j];
      c[j0 + j] = beta == 0.0f ? sum : sum + beta * c[j0 + j];
    }
  }
}

}  // namespace

}  // namespace nn::cpu::gemm_detail
