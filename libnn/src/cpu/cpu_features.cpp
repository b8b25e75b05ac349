// Run-time CPU feature detection (see cpu_features.hpp). GCC and Clang's
// __builtin_cpu_supports also checks that the OS saves the wide registers (XGETBV), so a
// "true" here means the instructions can actually be executed.
#include "cpu/cpu_features.hpp"

namespace nn::cpu {

namespace {

CpuFeatures detect() {
  CpuFeatures features;
#if defined(LIBNN_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  features.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  features.avx512 = features.avx2_fma && __builtin_cpu_supports("avx512f") &&
                    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl");
#endif
  return features;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace nn::cpu
