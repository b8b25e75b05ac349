// lstm_units.hpp's step kernels compiled for AVX-512 (the avx512 flags come from
// libnn/CMakeLists.txt); lstm.cpp calls them only when the GEMM uses its AVX-512 kernels.
#include "cpu/lstm_units.hpp"

namespace nn::cpu::lstm_detail {

const UnitKernels& unit_kernels_avx512() {
  static const UnitKernels kernels{units_forward, units_backward};
  return kernels;
}

}  // namespace nn::cpu::lstm_detail
