// The AVX-512 matrix-vector kernels of the LSTM's small-batch path and of LSTMStepper
// (lstm_gemv.hpp), for float32 and float16 weights. Compiled with -mf16c among the AVX-512
// flags (libnn/CMakeLists.txt); vcvtph2ps on zmm is AVX-512F itself.
#include <immintrin.h>

#include "cpu/lstm_gemv.hpp"

namespace nn::cpu::lstm_detail {
namespace {

// The sum of the 16 lanes in a fixed order. GCC 12's shuffles start from
// _mm512_undefined_ps(), which its own -Wmaybe-uninitialized then reports (GCC bug 105593,
// as in gemm/microkernel_avx512.cpp); the value is never used. The reports point at the
// callers this is inlined into, so the pragma covers the rest of the file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"  // the same, at -O1 (the asan preset)
#endif
float hsum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));  // + the other 256-bit half
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));  // + the neighbouring 128 bits
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4E));        // + the other 64 bits of each
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xB1));        // + the neighbouring lane
  return _mm512_cvtss_f32(v);
}

// 16 weights from k on (masked: the first `m`), as floats: float32 loaded, float16
// (IEEE half, stored as uint16_t) converted exactly with vcvtph2ps.
__m512 load_w(const float* w) { return _mm512_loadu_ps(w); }
__m512 load_w(const std::uint16_t* w) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
}
__m512 load_w(const float* w, __mmask16 m) { return _mm512_maskz_loadu_ps(m, w); }
__m512 load_w(const std::uint16_t* w, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w));
}

// R weight rows against NB vectors: R*NB independent accumulators, each weight vector loaded
// once for all NB products. The K % 16 tail uses masked loads. W is float or uint16_t
// (half): the products and sums are the same float32 operations either way, so a half
// weight matrix gives exactly the result of its float32 copy.
template <int R, int NB, class W>
void rows_block(const W* w, std::int64_t K, const float* v, std::int64_t ldv, float* out,
                std::int64_t ldo) {
  __m512 acc[R][NB];
  for (int i = 0; i < R; ++i)
    for (int b = 0; b < NB; ++b) acc[i][b] = _mm512_setzero_ps();
  std::int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 vb[NB];
    for (int b = 0; b < NB; ++b) vb[b] = _mm512_loadu_ps(v + b * ldv + k);
    for (int i = 0; i < R; ++i) {
      const __m512 wi = load_w(w + i * K + k);
      for (int b = 0; b < NB; ++b) acc[i][b] = _mm512_fmadd_ps(wi, vb[b], acc[i][b]);
    }
  }
  if (k < K) {
    const __mmask16 m = static_cast<__mmask16>((1u << (K - k)) - 1);
    __m512 vb[NB];
    for (int b = 0; b < NB; ++b) vb[b] = _mm512_maskz_loadu_ps(m, v + b * ldv + k);
    for (int i = 0; i < R; ++i) {
      const __m512 wi = load_w(w + i * K + k, m);
      for (int b = 0; b < NB; ++b) acc[i][b] = _mm512_fmadd_ps(wi, vb[b], acc[i][b]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int b = 0; b < NB; ++b) out[b * ldo + i] += hsum(acc[i][b]);
}

template <int NB, class W>
void gemv_nb(const W* w, std::int64_t rows, std::int64_t K, const float* v, std::int64_t ldv,
             float* out, std::int64_t ldo) {
  std::int64_t r = 0;
  for (; r + 4 <= rows; r += 4) rows_block<4, NB>(w + r * K, K, v, ldv, out + r, ldo);
  for (; r < rows; ++r) rows_block<1, NB>(w + r * K, K, v, ldv, out + r, ldo);
}

template <class W>
void gemv_any(const W* w, std::int64_t rows, std::int64_t K, const float* v, std::int64_t ldv,
              int nb, float* out, std::int64_t ldo) {
  switch (nb) {
    case 1: return gemv_nb<1>(w, rows, K, v, ldv, out, ldo);
    case 2: return gemv_nb<2>(w, rows, K, v, ldv, out, ldo);
    case 3: return gemv_nb<3>(w, rows, K, v, ldv, out, ldo);
    default: return gemv_nb<4>(w, rows, K, v, ldv, out, ldo);
  }
}

}  // namespace

void gemv_avx512(const float* w, std::int64_t rows, std::int64_t K, const float* v,
                 std::int64_t ldv, int nb, float* out, std::int64_t ldo) {
  gemv_any(w, rows, K, v, ldv, nb, out, ldo);
}

void gemv_f16_avx512(const std::uint16_t* w, std::int64_t rows, std::int64_t K, const float* v,
                     std::int64_t ldv, int nb, float* out, std::int64_t ldo) {
  gemv_any(w, rows, K, v, ldv, nb, out, ldo);
}

}  // namespace nn::cpu::lstm_detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
