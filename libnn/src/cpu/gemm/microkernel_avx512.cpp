// AVX-512 part of the GEMM: a 14×32 micro-kernel (28 zmm accumulators, 2 zmm of B,
// A broadcast straight from memory into the FMA), and vectorised packing of B, which is
// what costs for the skinny shapes (M = 64) where each packed value of B is used few times.
// Compiled with -mavx512f/dq/bw/vl -mavx2 -mfma; called only when cpu_features().avx512.
#include "cpu/gemm/gemm_kernel.hpp"

#include <immintrin.h>

namespace nn::cpu::gemm_detail {

namespace {

constexpr int kMR = 14;
constexpr int kNR = 32;
// How far ahead (in k steps) the kernel prefetches the B panel, which streams from L2.
constexpr int kPrefetchB = 8;

inline __mmask16 low_mask(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : static_cast<__mmask16>((1u << (n < 0 ? 0 : n)) - 1u);
}

// M (<= kMR) rows of the tile; the A panel still has kMR values per k (zero padded).
template <int M>
void kernel_rows(int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                 int64_t ldc, int n, float alpha, float beta) {
  __m512 acc0[M];
  __m512 acc1[M];
#pragma GCC unroll 14
  for (int i = 0; i < M; ++i) {
    acc0[i] = _mm512_setzero_ps();
    acc1[i] = _mm512_setzero_ps();
  }
  // Bring the C tile towards L1 while the loop runs; it is read at the end.
#pragma GCC unroll 14
  for (int i = 0; i < M; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchB * kNR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchB * kNR + 16), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMR;
    b += kNR;
  }

  const __m512 valpha = _mm512_set1_ps(alpha);
  const __mmask16 mask0 = low_mask(n);
  const __mmask16 mask1 = low_mask(n - 16);
  if (beta == 0.0f) {
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) {
      _mm512_mask_storeu_ps(c + i * ldc, mask0, _mm512_mul_ps(acc0[i], valpha));
      _mm512_mask_storeu_ps(c + i * ldc + 16, mask1, _mm512_mul_ps(acc1[i], valpha));
    }
  } else if (beta == 1.0f) {
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) {
      const __m512 c0 = _mm512_maskz_loadu_ps(mask0, c + i * ldc);
      const __m512 c1 = _mm512_maskz_loadu_ps(mask1, c + i * ldc + 16);
      _mm512_mask_storeu_ps(c + i * ldc, mask0, _mm512_fmadd_ps(acc0[i], valpha, c0));
      _mm512_mask_storeu_ps(c + i * ldc + 16, mask1, _mm512_fmadd_ps(acc1[i], valpha, c1));
    }
  } else {
    const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) {
      const __m512 c0 = _mm512_mul_ps(vbeta, _mm512_maskz_loadu_ps(mask0, c + i * ldc));
      const __m512 c1 = _mm512_mul_ps(vbeta, _mm512_maskz_loadu_ps(mask1, c + i * ldc + 16));
      _mm512_mask_storeu_ps(c + i * ldc, mask0, _mm512_fmadd_ps(acc0[i], valpha, c0));
      _mm512_mask_storeu_ps(c + i * ldc + 16, mask1, _mm512_fmadd_ps(acc1[i], valpha, c1));
    }
  }
}

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
            float alpha, float beta) {
  switch (m) {
    case 14: return kernel_rows<14>(kc, a, b, c, ldc, n, alpha, beta);
    case 13: return kernel_rows<13>(kc, a, b, c, ldc, n, alpha, beta);
    case 12: return kernel_rows<12>(kc, a, b, c, ldc, n, alpha, beta);
    case 11: return kernel_rows<11>(kc, a, b, c, ldc, n, alpha, beta);
    case 10: return kernel_rows<10>(kc, a, b, c, ldc, n, alpha, beta);
    case 9: return kernel_rows<9>(kc, a, b, c, ldc, n, alpha, beta);
    case 8: return kernel_rows<8>(kc, a, b, c, ldc, n, alpha, beta);
    case 7: return kernel_rows<7>(kc, a, b, c, ldc, n, alpha, beta);
    case 6: return kernel_rows<6>(kc, a, b, c, ldc, n, alpha, beta);
    case 5: return kernel_rows<5>(kc, a, b, c, ldc, n, alpha, beta);
    case 4: return kernel_rows<4>(kc, a, b, c, ldc, n, alpha, beta);
    case 3: return kernel_rows<3>(kc, a, b, c, ldc, n, alpha, beta);
    case 2: return kernel_rows<2>(kc, a, b, c, ldc, n, alpha, beta);
    case 1: return kernel_rows<1>(kc, a, b, c, ldc, n, alpha, beta);
    default: return;
  }
}

// GCC 12's _mm512_shuffle_f32x4 starts from _mm512_undefined_ps(), which its own
// -Wmaybe-uninitialized then reports (GCC bug 105593); the value is never used.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"  // the same, at -O1 (the asan preset)
// Transposes 16 rows of 16 floats in place: afterwards r[c] holds column c.
inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d t0 = _mm512_castps_pd(t[4 * i]), t1 = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * i + 2]), t3 = _mm512_castps_pd(t[4 * i + 3]);
    // Rows 4i..4i+3; in 128-bit lane L, r[4i+c] holds column 4L+c.
    r[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    const __m512 u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
    t[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    t[c + 8] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    t[c + 4] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    t[c + 12] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}
#pragma GCC diagnostic pop

void pack_a(bool trans, const float* a, int64_t lda, int64_t m, int64_t kc, float* dst) {
  constexpr __mmask16 kPanelMask = (1u << kMR) - 1u;
  for (int64_t i0 = 0; i0 < m; i0 += kMR) {
    const int rows = static_cast<int>(m - i0 < kMR ? m - i0 : kMR);
    if (trans) {
      // op(A)[i][k] = a[k*lda + i]: each k is one masked load of up to 14 contiguous values.
      const __mmask16 mask = low_mask(rows);
      for (int64_t k = 0; k < kc; ++k)
        _mm512_mask_storeu_ps(dst + k * kMR, kPanelMask, _mm512_maskz_loadu_ps(mask, a + k * lda + i0));
    } else {
      // op(A)[i][k] = a[i*lda + k]: 16 k values of each row, transposed in registers.
      for (int64_t k0 = 0; k0 < kc; k0 += 16) {
        const int depth = static_cast<int>(kc - k0 < 16 ? kc - k0 : 16);
        const __mmask16 kmask = low_mask(depth);
        __m512 r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = i < rows ? _mm512_maskz_loadu_ps(kmask, a + (i0 + i) * lda + k0) : _mm512_setzero_ps();
        transpose16x16(r);
        for (int kk = 0; kk < depth; ++kk) _mm512_mask_storeu_ps(dst + (k0 + kk) * kMR, kPanelMask, r[kk]);
      }
    }
    dst += kMR * kc;
  }
}

void pack_b(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t n, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += kNR) {
    const int cols = static_cast<int>(n - j0 < kNR ? n - j0 : kNR);
    if (!trans) {
      // op(B)[k][j] = b[k*ldb + j]: each k is a copy of 32 contiguous values.
      const __mmask16 mask0 = low_mask(cols), mask1 = low_mask(cols - 16);
      const float* src = b + j0;
      float* out = dst;
      for (int64_t k = 0; k < kc; ++k) {
        _mm512_store_ps(out, _mm512_maskz_loadu_ps(mask0, src));
        _mm512_store_ps(out + 16, _mm512_maskz_loadu_ps(mask1, src + 16));
        src += ldb;
        out += kNR;
      }
    } else {
      // op(B)[k][j] = b[j*ldb + k]: 16×16 blocks, loaded along k and transposed.
      for (int half = 0; half < 2; ++half) {
        const int rows = cols - half * 16;  // source rows (columns of op(B)) in this half
        for (int64_t k0 = 0; k0 < kc; k0 += 16) {
          const int depth = static_cast<int>(kc - k0 < 16 ? kc - k0 : 16);
          const __mmask16 kmask = low_mask(depth);
          __m512 r[16];
          for (int j = 0; j < 16; ++j) {
            r[j] = j < rows ? _mm512_maskz_loadu_ps(kmask, b + (j0 + half * 16 + j) * ldb + k0)
                            : _mm512_setzero_ps();
          }
          transpose16x16(r);
          for (int kk = 0; kk < depth; ++kk)
            _mm512_store_ps(dst + (k0 + kk) * kNR + half * 16, r[kk]);
        }
      }
    }
    dst += kNR * kc;
  }
}

// --- M == 1: matrix-vector products (gemm_kernel.hpp's GemvRows / GemvCols) ---------------

// The sum of the 16 lanes in a fixed order (halves, quarters, ...). GCC 12 reports its
// shuffles' _mm512_undefined_ps() source as uninitialized (bug 105593, as above).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
inline float hsum16(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4E));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xB1));
  return _mm512_cvtss_f32(v);
}

// R rows of B dotted with a: R independent 16-lane accumulators (a row's result does not
// depend on R), the K % 16 tail with masked loads.
template <int R>
void dot_rows(int64_t K, float alpha, const float* a, const float* b, int64_t ldb, float beta,
              float* c) {
  __m512 acc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m512 va = _mm512_loadu_ps(a + k);
    for (int i = 0; i < R; ++i) acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(b + i * ldb + k), va, acc[i]);
  }
  if (k < K) {
    const __mmask16 m = low_mask(static_cast<int>(K - k));
    const __m512 va = _mm512_maskz_loadu_ps(m, a + k);
    for (int i = 0; i < R; ++i)
      acc[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, b + i * ldb + k), va, acc[i]);
  }
  for (int i = 0; i < R; ++i) {
    const float sum = alpha * hsum16(acc[i]);
    c[i] = beta == 0.0f ? sum : sum + beta * c[i];
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void gemv_rows(int64_t n, int64_t K, float alpha, const float* a, const float* b, int64_t ldb,
               float beta, float* c) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) dot_rows<4>(K, alpha, a, b + j * ldb, ldb, beta, c + j);
  for (; j < n; ++j) dot_rows<1>(K, alpha, a, b + j * ldb, ldb, beta, c + j);
}

// V vectors of 16 columns (masked past n), each column summed over k in order.
template <int V>
void axpy_cols(int64_t n, int64_t K, float alpha, const float* a, const float* b, int64_t ldb,
               float beta, float* c) {
  __m512 acc[V];
  __mmask16 mask[V];
  for (int v = 0; v < V; ++v) {
    acc[v] = _mm512_setzero_ps();
    mask[v] = low_mask(static_cast<int>(n - 16 * v));
  }
  for (int64_t k = 0; k < K; ++k) {
    const __m512 ak = _mm512_set1_ps(a[k]);
    const float* row = b + k * ldb;
    for (int v = 0; v < V; ++v)
      acc[v] = _mm512_fmadd_ps(ak, _mm512_maskz_loadu_ps(mask[v], row + 16 * v), acc[v]);
  }
  const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
  for (int v = 0; v < V; ++v) {
    __m512 r = _mm512_mul_ps(valpha, acc[v]);
    if (beta != 0.0f) {
      r = _mm512_add_ps(r, _mm512_mul_ps(vbeta, _mm512_maskz_loadu_ps(mask[v], c + 16 * v)));
    }
    _mm512_mask_storeu_ps(c + 16 * v, mask[v], r);
  }
}

void gemv_cols(int64_t n, int64_t K, float alpha, const float* a, const float* b, int64_t ldb,
               float beta, float* c) {
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) axpy_cols<4>(64, K, alpha, a, b + j, ldb, beta, c + j);
  for (; j < n; j += 16) axpy_cols<1>(n - j, K, alpha, a, b + j, ldb, beta, c + j);
}

}  // namespace

const KernelSet& kernel_set_avx512() {
  static const KernelSet set{GemmIsa::Avx512, kMR, kNR, /*kc=*/384, /*nc=*/512,
                             /*mc=*/kMR * 72, &kernel, &pack_a, &pack_b, &gemv_rows, &gemv_cols};
  return set;
}

}  // namespace nn::cpu::gemm_detail
