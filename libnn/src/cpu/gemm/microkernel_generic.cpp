// Portable part of the GEMM: a 4×8 micro-kernel in plain C++ that the compiler vectorises
// for whatever the base build targets (SSE2 on x86-64, NEON on AArch64). 4×8 because its 8
// accumulators of 4 floats fit SSE2's 16 registers with room for B; 4×16 spilled and ran
// at a quarter of the speed (6 against 22.5 GFLOP/s on one core of the dev VM). It is the fallback
// where no AVX kernel applies and the reference the faster kernels are tested against.
#include "cpu/gemm/gemm_kernel.hpp"

namespace nn::cpu::gemm_detail {

namespace {

constexpr int kMR = 4;
constexpr int kNR = 8;

template <int M>
void kernel_rows(int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                 int64_t ldc, int n, float alpha, float beta) {
  float acc[M][kNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < M; ++i) {
      const float ai = a[i];
      for (int j = 0; j < kNR; ++j) acc[i][j] += ai * b[j];
    }
    a += kMR;
    b += kNR;
  }
  for (int i = 0; i < M; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < n; ++j) row[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < n; ++j) row[j] = alpha * acc[i][j] + beta * row[j];
    }
  }
}

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
            float alpha, float beta) {
  switch (m) {
    case 4: return kernel_rows<4>(kc, a, b, c, ldc, n, alpha, beta);
    case 3: return kernel_rows<3>(kc, a, b, c, ldc, n, alpha, beta);
    case 2: return kernel_rows<2>(kc, a, b, c, ldc, n, alpha, beta);
    case 1: return kernel_rows<1>(kc, a, b, c, ldc, n, alpha, beta);
    default: return;
  }
}

void pack_a(bool trans, const float* a, int64_t lda, int64_t m, int64_t kc, float* dst) {
  pack_a_portable<kMR>(trans, a, lda, m, kc, dst);
}

void pack_b(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t n, float* dst) {
  pack_b_portable<kNR>(trans, b, ldb, kc, n, dst);
}

}  // namespace

const KernelSet& kernel_set_generic() {
  static const KernelSet set{GemmIsa::Generic, kMR, kNR, /*kc=*/256, /*nc=*/512,
                             /*mc=*/kMR * 128, &kernel, &pack_a, &pack_b,
                             &gemv_rows_portable, &gemv_cols_portable};
  return set;
}

}  // namespace nn::cpu::gemm_detail
