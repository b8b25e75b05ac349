// Matrix-vector products for the LSTM at small batch (src/cpu/lstm.cpp): the generation
// step (B = 1, T = 1) streams each weight matrix once from memory, where a GEMM would first
// pack all of it for a handful of rows. Bandwidth-bound, so the kernel only has to keep
// enough loads in flight: 4 weight rows at a time, each against up to 4 vectors.
//
// One implementation per instruction set (lstm_gemv_avx512.cpp; a portable one in
// lstm.cpp), chosen at run time (cpu_features.hpp). Each output is summed by one call in a
// fixed order, so results do not depend on how the caller splits rows between threads.
#pragma once

#include <cstdint>

namespace nn::cpu::lstm_detail {

// The largest batch the kernels take (vectors per weight row).
inline constexpr int kGemvMaxBatch = 4;

// out[b*ldo + r] += sum_k w[r*K + k] * v[b*ldv + k]  for r < rows, b < nb (1 <= nb <= 4).
using GemvFn = void (*)(const float* w, std::int64_t rows, std::int64_t K, const float* v,
                        std::int64_t ldv, int nb, float* out, std::int64_t ldo);

void gemv_generic(const float* w, std::int64_t rows, std::int64_t K, const float* v,
                  std::int64_t ldv, int nb, float* out, std::int64_t ldo);
#if defined(LIBNN_X86)
// Only when cpu_features().avx512.
void gemv_avx512(const float* w, std::int64_t rows, std::int64_t K, const float* v,
                 std::int64_t ldv, int nb, float* out, std::int64_t ldo);
#endif

}  // namespace nn::cpu::lstm_detail
