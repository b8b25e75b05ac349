// AVX2 + FMA part of the GEMM: the classic 6×16 micro-kernel (12 ymm accumulators, 2 ymm of
// B, 1 broadcast of A: 15 of the 16 ymm registers). Compiled with -mavx2 -mfma; called only
// when cpu_features().avx2_fma.
#include "cpu/gemm/gemm_kernel.hpp"

#include <immintrin.h>

namespace nn::cpu::gemm_detail {

namespace {

constexpr int kMR = 6;
constexpr int kNR = 16;
constexpr int kPrefetchB = 8;

// Lane mask for _mm256_maskload/maskstore: lanes 0..n-1 on.
inline __m256i lane_mask(int n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
}

template <int M>
void kernel_rows(int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                 int64_t ldc, int n, float alpha, float beta) {
  __m256 acc0[M];
  __m256 acc1[M];
#pragma GCC unroll 6
  for (int i = 0; i < M; ++i) {
    acc0[i] = _mm256_setzero_ps();
    acc1[i] = _mm256_setzero_ps();
  }
#pragma GCC unroll 6
  for (int i = 0; i < M; ++i)
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchB * kNR), _MM_HINT_T0);
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMR;
    b += kNR;
  }

  const __m256 valpha = _mm256_set1_ps(alpha);
  const __m256 vbeta = _mm256_set1_ps(beta);
  if (n == kNR) {
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
      float* row = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(acc0[i], valpha);
      __m256 r1 = _mm256_mul_ps(acc1[i], valpha);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(row), r0);
        r1 = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(row + 8), r1);
      }
      _mm256_storeu_ps(row, r0);
      _mm256_storeu_ps(row + 8, r1);
    }
  } else {
    const __m256i mask0 = lane_mask(n);
    const __m256i mask1 = lane_mask(n - 8);
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
      float* row = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(acc0[i], valpha);
      __m256 r1 = _mm256_mul_ps(acc1[i], valpha);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vbeta, _mm256_maskload_ps(row, mask0), r0);
        r1 = _mm256_fmadd_ps(vbeta, _mm256_maskload_ps(row + 8, mask1), r1);
      }
      _mm256_maskstore_ps(row, mask0, r0);
      _mm256_maskstore_ps(row + 8, mask1, r1);
    }
  }
}

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
            float alpha, float beta) {
  switch (m) {
    case 6: return kernel_rows<6>(kc, a, b, c, ldc, n, alpha, beta);
    case 5: return kernel_rows<5>(kc, a, b, c, ldc, n, alpha, beta);
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

const KernelSet& kernel_set_avx2() {
  static const KernelSet set{GemmIsa::Avx2, kMR, kNR, /*kc=*/256, /*nc=*/512,
                             /*mc=*/kMR * 128, &kernel, &pack_a, &pack_b,
                             &gemv_rows_portable, &gemv_cols_portable};
  return set;
}

}  // namespace nn::cpu::gemm_detail
