// The algorithm behind vec_math.hpp, written once over GCC/Clang vector types of W floats and
// compiled three times: W = 16 in vec_math_avx512.cpp, W = 8 in vec_math_avx2.cpp (both with
// their -m flags, so the vectors become zmm / ymm registers) and W = 4 in
// vec_math_generic.cpp (SSE2 on x86-64, NEON on ARM, scalar code elsewhere).
//
// Everything here has internal linkage (anonymous namespace): each including file gets its
// own copy compiled for its instruction set. With inline functions of external linkage the
// linker would keep one copy, possibly the AVX-512 one, for every caller.
//
// Methods. Each polynomial is a Chebyshev fit (near-minimax) made with mpmath at 40 digits,
// mpmath.chebyfit(g, interval, degree + 1), coefficients rounded to float; g is the function
// the polynomial stands for (e.g. Q(r) = (exp(r) - 1 - r) / r^2 on [-ln2/2, ln2/2]), and
// the error quoted is chebyfit's bound on the fit, before float rounding:
//   exp(x): n = round(x / ln2), r = x - n ln2 (Cody-Waite, |r| <= ln2/2),
//           exp(r) = 1 + r + r^2 Q(r) (Q degree 4, error 8e-9 relative),
//           result = p * 2^n1 * 2^n2 with n1 + n2 = n: two exact-or-once-rounded products,
//           so results in the subnormal range and at the overflow threshold are right.
//   log(x): x = 2^e m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), s = f / (2 + f),
//           log(1 + f) = f - (f^2/2 - s (f^2/2 + s^2 L(s^2))) (fdlibm's arrangement: the
//           rounded division only touches a correction term), L degree 3, error 2e-11.
//   tanh(x): |x| < 0.625: x + x^3 P(x^2) (P degree 5, error 6e-10 relative);
//            else sign(x) (1 - E) / (1 + E) with E = exp(-2|x|) <= 0.29, no cancellation.
//   sigmoid(x): E = exp(-|x|) <= 1; x >= 0: 1 / (1 + E), x < 0: E / (1 + E), so that
//            sigmoid(-100) is the subnormal 3.7e-44, not 1 / (1 + inf) = 0.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__FMA__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace nn::cpu {
namespace {  // see above: one private copy per instruction set

template <int W> struct VecTypes {
  typedef float F __attribute__((vector_size(4 * W)));
  typedef std::int32_t I __attribute__((vector_size(4 * W)));
  typedef std::uint32_t U __attribute__((vector_size(4 * W)));
};

template <int W> using VF = typename VecTypes<W>::F;
template <int W> using VI = typename VecTypes<W>::I;
template <int W> using VU = typename VecTypes<W>::U;

template <int W> inline VF<W> splat(float v) { return VF<W>{} + v; }
template <int W> inline VI<W> splat_i(std::int32_t v) { return VI<W>{} + v; }
template <int W> inline VF<W> as_float(VI<W> v) { return std::bit_cast<VF<W>>(v); }
template <int W> inline VI<W> as_int(VF<W> v) { return std::bit_cast<VI<W>>(v); }

// a * b + c, fused where the instruction set has it (one rounding instead of two).
template <int W> inline VF<W> fmadd(VF<W> a, VF<W> b, VF<W> c) {
#if defined(__AVX512F__)
  if constexpr (W == 16) return _mm512_fmadd_ps(a, b, c);
#endif
#if defined(__FMA__)
  if constexpr (W == 8) return _mm256_fmadd_ps(a, b, c);
  if constexpr (W == 4) return _mm_fmadd_ps(a, b, c);
#endif
  return a * b + c;
}

// mask ? a : b, lane by lane (mask lanes are all ones or all zeros, as comparisons give).
template <int W> inline VF<W> select(VI<W> mask, VF<W> a, VF<W> b) {
  return as_float<W>((mask & as_int<W>(a)) | (~mask & as_int<W>(b)));
}
template <int W> inline VI<W> select_i(VI<W> mask, VI<W> a, VI<W> b) {
  return (mask & a) | (~mask & b);
}

// 2^k for integer lanes k in [-126, 127], built in the exponent field.
template <int W> inline VF<W> pow2(VI<W> k) { return as_float<W>((k + 127) << 23); }

template <int W> VF<W> exp_vec(VF<W> x) {
  // Below -104 the result rounds to 0 and above 89 to inf, as it does at the bounds
  // themselves; clamping keeps n within what the two scale factors can hold. Written so
  // that a NaN lane stays NaN (a comparison with NaN is false).
  x = select<W>(x < -104.0f, splat<W>(-104.0f), x);
  x = select<W>(x > 89.0f, splat<W>(89.0f), x);
  // n = round(x / ln2): adding 1.5 * 2^23 rounds to an integer, whose bits are then
  // 0x4b400000 + n.
  const VF<W> shifter = splat<W>(12582912.0f);
  const VF<W> t = fmadd<W>(x, splat<W>(1.442695022e+00f), shifter);
  const VF<W> n = t - shifter;
  const VI<W> ni = as_int<W>(t) - as_int<W>(shifter);
  // r = x - n ln2 with ln2 = 0.693359375 (9 bits: n * it is exact) - 2.12194442e-4
  VF<W> r = fmadd<W>(n, splat<W>(-0.693359375f), x);
  r = fmadd<W>(n, splat<W>(2.121944417e-04f), r);
  VF<W> q = splat<W>(1.392617589e-03f);
  q = fmadd<W>(q, r, splat<W>(8.363173343e-03f));
  q = fmadd<W>(q, r, splat<W>(4.166655615e-02f));
  q = fmadd<W>(q, r, splat<W>(1.666657776e-01f));
  q = fmadd<W>(q, r, splat<W>(0.5f));
  const VF<W> p = fmadd<W>(r * r, q, r) + 1.0f;  // exp(r), in [0.70, 1.42]
  // n in [-150, 128]: split so that each factor is a normal float
  const VI<W> n1 = ni >> 1;
  return p * pow2<W>(n1) * pow2<W>(ni - n1);
}

template <int W> VF<W> log_vec(VF<W> x) {
  // Subnormals: scale into the normal range first.
  const VI<W> subnormal = x < 1.175494351e-38f;
  const VF<W> xs = select<W>(subnormal, x * 8388608.0f, x);  // 2^23
  const VI<W> e_adjust = select_i<W>(subnormal, splat_i<W>(-23), splat_i<W>(0));
  // Offsetting the bits by those of sqrt(1/2) puts m in [sqrt(1/2), sqrt(2)) and the
  // exponent in the top bits.
  // (Unsigned arithmetic: a negative input's bits would overflow a signed subtraction; such
  // lanes become NaN below anyway.)
  const VI<W> ix = reinterpret_cast<VI<W>>(reinterpret_cast<VU<W>>(as_int<W>(xs)) - 0x3f3504f3u);
  const VI<W> e = (ix >> 23) + e_adjust;
  const VF<W> m = as_float<W>((ix & 0x007fffff) + 0x3f3504f3);
  const VF<W> f = m - 1.0f;
  const VF<W> s = f / (f + 2.0f);
  const VF<W> w = s * s;
  VF<W> l = splat<W>(2.333046794e-01f);
  l = fmadd<W>(l, w, splat<W>(2.855082154e-01f));
  l = fmadd<W>(l, w, splat<W>(4.000012279e-01f));
  l = fmadd<W>(l, w, splat<W>(6.666666865e-01f));
  const VF<W> R = w * l;
  const VF<W> hfsq = 0.5f * f * f;
  const VF<W> ef = __builtin_convertvector(e, VF<W>);
  // e ln2 + log(1 + f), ln2 = 0.693359375 - 2.12194442e-4 (e * 0.693359375 is exact)
  const VF<W> small = fmadd<W>(s, hfsq + R, ef * -2.121944417e-04f);
  VF<W> y = fmadd<W>(ef, splat<W>(0.693359375f), f - (hfsq - small));
  const float inf = __builtin_inff();
  y = select<W>(x == inf, splat<W>(inf), y);
  y = select<W>(x == 0.0f, splat<W>(-inf), y);
  y = select<W>(~(x >= 0.0f), splat<W>(__builtin_nanf("")), y);  // x < 0 or NaN
  return y;
}

template <int W> VF<W> tanh_vec(VF<W> x) {
  const VI<W> sign = as_int<W>(x) & static_cast<std::int32_t>(0x80000000u);
  const VF<W> a = as_float<W>(as_int<W>(x) & 0x7fffffff);
  // |x| < 0.625: x + x^3 P(x^2)
  const VF<W> z = x * x;
  VF<W> p = splat<W>(2.292744815e-03f);
  p = fmadd<W>(p, z, splat<W>(-8.343945257e-03f));
  p = fmadd<W>(p, z, splat<W>(2.176891826e-02f));
  p = fmadd<W>(p, z, splat<W>(-5.395925790e-02f));
  p = fmadd<W>(p, z, splat<W>(1.333330423e-01f));
  p = fmadd<W>(p, z, splat<W>(-3.333333433e-01f));
  const VF<W> near_zero = fmadd<W>(x * z, p, x);
  // else: (1 - E) / (1 + E), E = exp(-2|x|); NaN lanes take this path and stay NaN
  const VF<W> big_e = exp_vec<W>(-2.0f * a);
  const VF<W> far = (1.0f - big_e) / (1.0f + big_e);
  // the sign goes onto both: x + x^3 P(x^2) would make tanh(-0) = +0
  return as_float<W>(as_int<W>(select<W>(a < 0.625f, near_zero, far)) | sign);
}

template <int W> VF<W> sigmoid_vec(VF<W> x) {
  const VF<W> a = as_float<W>(as_int<W>(x) & 0x7fffffff);
  const VF<W> big_e = exp_vec<W>(-a);  // NaN stays NaN
  const VF<W> numerator = select<W>(x >= 0.0f, splat<W>(1.0f), big_e);
  return numerator / (1.0f + big_e);
}

// y[i] = op(x[i]): whole vectors, then the last n % W elements through a padded buffer (so
// nothing is read or written past the ends). x == y is fine: each vector is loaded before
// its result is stored.
template <int W, VF<W> (*Op)(VF<W>)> void apply(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + W <= n; i += W) {
    VF<W> v;
    std::memcpy(&v, x + i, sizeof v);
    v = Op(v);
    std::memcpy(y + i, &v, sizeof v);
  }
  if (i < n) {
    const std::size_t rest = static_cast<std::size_t>(n - i) * sizeof(float);
    VF<W> v{};
    std::memcpy(&v, x + i, rest);
    v = Op(v);
    std::memcpy(y + i, &v, rest);
  }
}

template <int W> void exp_array(const float* x, float* y, std::int64_t n) {
  apply<W, exp_vec<W>>(x, y, n);
}
template <int W> void log_array(const float* x, float* y, std::int64_t n) {
  apply<W, log_vec<W>>(x, y, n);
}
template <int W> void tanh_array(const float* x, float* y, std::int64_t n) {
  apply<W, tanh_vec<W>>(x, y, n);
}
template <int W> void sigmoid_array(const float* x, float* y, std::int64_t n) {
  apply<W, sigmoid_vec<W>>(x, y, n);
}

}  // namespace
}  // namespace nn::cpu
