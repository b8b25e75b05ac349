// vec_math.hpp's functions for AVX2 + FMA (ymm, 8 floats). Compiled with the avx2 flags
// (libnn/CMakeLists.txt); vec_math.cpp calls them only when cpu_features() says so.
#include "cpu/vec_math.hpp"
#include "cpu/vec_math_impl.hpp"

namespace nn::cpu::vec_detail {

const VecMathKernels& vec_math_avx2() {
  static const VecMathKernels kernels{VecIsa::Avx2, exp_array<8>, log_array<8>, tanh_array<8>,
                                      sigmoid_array<8>};
  return kernels;
}

}  // namespace nn::cpu::vec_detail
