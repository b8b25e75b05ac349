// Run-time CPU feature detection (see cpu_features.hpp). GCC and Clang's
// __builtin_cpu_supports also checks that the OS saves the wide registers (XGETBV), so a
// "true" here means the instructions can actually be executed.
#include "cpu/cpu_features.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

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
  // NN_CPU_CAPABILITY=generic|avx2|avx512 caps what is used (as PyTorch's
  // ATEN_CPU_CAPABILITY): to run the whole suite or a benchmark as on an older CPU. It never
  // enables what the CPU lacks.
  if (const char* cap = std::getenv("NN_CPU_CAPABILITY"); cap != nullptr && *cap != '\0') {
    const std::string_view want(cap);
    if (want == "generic") {
      features.avx2_fma = features.avx512 = false;
    } else if (want == "avx2") {
      features.avx512 = false;
    } else if (want != "avx512") {
      std::fprintf(stderr, "libnn: NN_CPU_CAPABILITY=%s ignored: expected generic, avx2 or avx512\n",
                   cap);
    }
  }
  return features;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace nn::cpu
