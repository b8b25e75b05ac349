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

}  // namespace

}  // namespace nn::cpu::gemm_detail
