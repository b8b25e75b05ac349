// vec_math.hpp's portable functions: the same algorithm on vectors of 4 floats, which the
// compiler maps to SSE2 on x86-64 (no FMA: a * b + c rounds twice, still within the
// accuracy bounds), NEON on ARM, or scalar code.
#include "cpu/vec_math.hpp"
#include "cpu/vec_math_impl.hpp"

namespace nn::cpu::vec_detail {

const VecMathKernels& vec_math_generic() {
  static const VecMathKernels kernels{VecIsa::Generic, exp_array<4>, log_array<4>,
                                      tanh_array<4>, sigmoid_array<4>};
  return kernels;
}

}  // namespace nn::cpu::vec_detail
