// Vectorized float32 transcendentals over arrays: exp, log, tanh, sigmoid.
//
// GCC cannot vectorize loops that call std::exp / std::log / std::tanh (they are library
// calls), so the elementwise, softmax and loss kernels call these instead. Each function has
// AVX-512, AVX2+FMA and portable versions (vec_math_avx512.cpp, vec_math_avx2.cpp,
// vec_math_generic.cpp, all built from the one algorithm in vec_math_impl.hpp); the best one
// the CPU runs is chosen once, at the first call (cpu_features.hpp). Accuracy against the
// correctly rounded result, over all floats (tests/libnn/test_vec_math.cpp, docs/perf.md):
// exp, log <= 2 ulp; tanh, sigmoid <= 3 ulp; special values as std:: (exp(-inf) = 0,
// exp(x > 88.72) = inf, log(0) = -inf, log(x < 0) = NaN, tanh(+-inf) = +-1, sigmoid(+inf) = 1,
// sigmoid(-inf) = 0, NaN in -> NaN out). Results below the normal range are subnormals (not
// flushed), e.g. exp(-100) and sigmoid(-100).
#pragma once

#include <cstdint>

namespace nn::cpu {

// y[i] = f(x[i]) for 0 <= i < n. y may be x (in place); otherwise the arrays must not
// overlap. Single-threaded: callers split large arrays across threads themselves.
void vexp(const float* x, float* y, std::int64_t n);
void vlog(const float* x, float* y, std::int64_t n);
void vtanh(const float* x, float* y, std::int64_t n);
void vsigmoid(const float* x, float* y, std::int64_t n);  // 1 / (1 + exp(-x))

// Which implementation the functions above use. Tests and benchmarks force each in turn.
enum class VecIsa { Auto, Avx512, Avx2, Generic };

// Makes every later call use `isa` (Auto: the best available). Throws std::invalid_argument
// when this CPU or build lacks it. Not for use while other threads call the functions.
void set_vec_isa(VecIsa isa);
VecIsa vec_isa();                     // the one in use (never Auto)
bool vec_isa_available(VecIsa isa);   // Generic and Auto: always
const char* vec_isa_name(VecIsa isa);  // "avx512", "avx2", "generic", "auto"

namespace vec_detail {

using ArrayFn = void (*)(const float* x, float* y, std::int64_t n);

struct VecMathKernels {
  VecIsa isa;
  ArrayFn exp, log, tanh, sigmoid;
};

// Defined in vec_math_<isa>.cpp; the x86 ones exist only in x86 builds and may only be
// called when cpu_features() says so.
const VecMathKernels& vec_math_generic();
const VecMathKernels& vec_math_avx2();
const VecMathKernels& vec_math_avx512();

}  // namespace vec_detail

// The largest of v[0..n), ignoring NaN (-inf for n = 0): the max pass of softmax and
// cross-entropy. 16 independent running maxima let the compiler vectorize the loop (a single
// running max is a serial dependency); max is exact, so the result does not depend on the
// order.
inline float row_max(const float* v, std::int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes];
  for (float& lane : lanes) lane = -__builtin_inff();
  std::int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] = v[k + l] > lanes[l] ? v[k + l] : lanes[l];
  }
  float m = -__builtin_inff();
  for (; k < n; ++k) m = v[k] > m ? v[k] : m;
  for (float lane : lanes) m = lane > m ? lane : m;
  return m;
}

}  // namespace nn::cpu
