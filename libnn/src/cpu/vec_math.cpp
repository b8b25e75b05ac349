// Run-time choice of the vec_math.hpp implementation: the best instruction set the CPU has,
// looked up once (at the first call) and kept in an atomic pointer; tests and benchmarks
// may force another with set_vec_isa.
#include "cpu/vec_math.hpp"

#include <atomic>
#include <stdexcept>
#include <string>

#include "cpu/cpu_features.hpp"

namespace nn::cpu {
namespace {

using vec_detail::VecMathKernels;

const VecMathKernels* kernels_for(VecIsa isa) {
  switch (isa) {
#if defined(LIBNN_X86)
    case VecIsa::Avx512:
      return cpu_features().avx512 ? &vec_detail::vec_math_avx512() : nullptr;
    case VecIsa::Avx2:
      return cpu_features().avx2_fma ? &vec_detail::vec_math_avx2() : nullptr;
#else
    case VecIsa::Avx512:
    case VecIsa::Avx2:
      return nullptr;
#endif
    case VecIsa::Generic:
      return &vec_detail::vec_math_generic();
    case VecIsa::Auto:
      for (VecIsa candidate : {VecIsa::Avx512, VecIsa::Avx2})
        if (const VecMathKernels* set = kernels_for(candidate)) return set;
      return &vec_detail::vec_math_generic();
  }
  return nullptr;
}

std::atomic<const VecMathKernels*> g_kernels{nullptr};

const VecMathKernels& kernels() {
  const VecMathKernels* set = g_kernels.load(std::memory_order_acquire);
  if (set == nullptr) {
    set = kernels_for(VecIsa::Auto);
    g_kernels.store(set, std::memory_order_release);
  }
  return *set;
}

}  // namespace

void vexp(const float* x, float* y, std::int64_t n) { kernels().exp(x, y, n); }
void vlog(const float* x, float* y, std::int64_t n) { kernels().log(x, y, n); }
void vtanh(const float* x, float* y, std::int64_t n) { kernels().tanh(x, y, n); }
void vsigmoid(const float* x, float* y, std::int64_t n) { kernels().sigmoid(x, y, n); }

void set_vec_isa(VecIsa isa) {
  const VecMathKernels* set = kernels_for(isa);
  if (set == nullptr)
    throw std::invalid_argument(std::string("set_vec_isa: this CPU or build lacks ") +
                                vec_isa_name(isa));
  g_kernels.store(set, std::memory_order_release);
}

VecIsa vec_isa() { return kernels().isa; }

bool vec_isa_available(VecIsa isa) { return kernels_for(isa) != nullptr; }

const char* vec_isa_name(VecIsa isa) {
  switch (isa) {
    case VecIsa::Auto: return "auto";
    case VecIsa::Avx512: return "avx512";
    case VecIsa::Avx2: return "avx2";
    case VecIsa::Generic: return "generic";
  }
  return "unknown";
}

}  // namespace nn::cpu
