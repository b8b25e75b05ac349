// vec_math.hpp's functions for AVX-512 (zmm, 16 floats). Compiled with the avx512 flags
// (libnn/CMakeLists.txt); vec_math.cpp calls them only when cpu_features() says so.
#include "cpu/vec_math.hpp"
#include "cpu/vec_math_impl.hpp"

namespace nn::cpu::vec_detail {

const VecMathKernels& vec_math_avx512() {
  static const VecMathKernels kernels{VecIsa::Avx512, exp_array<16>, log_array<16>, tanh_array<16>,
                                      sigmoid_array<16>};
  return kernels;
}

}  // namespace nn::cpu::vec_detail
