// Matrix-vector products for the LSTM at small batch (src/cpu/lstm.cpp) and for
// nn::LSTMStepper (its step kernel table: src/kernels/lstm.hpp, src/cpu/lstm_gemv.cpp): the
// generation step (B = 1, T = 1) streams each weight matrix once from memory, where a GEMM
// would first pack all of it for a handful of rows. Bandwidth-bound, so the kernel only has to keep enough loads in flight: 4 weight
// rows at a time, each against up to 4 vectors.
//
// Weights are float32, or float16 (IEEE half, stored as uint16_t: half the bytes to
// stream) converted to float32 in the kernel; the products and sums are float32 either way
// and in the same order, so a half matrix gives exactly what its float32 copy gives.
//
// One implementation per instruction set (lstm_gemv_avx512.cpp; portable ones in lstm.cpp
// and lstm_gemv.cpp), chosen at run time with the GEMM's (set_gemm_isa forces both, for
// tests). Each output is summed by one call in a fixed order, so results do not depend on
// how the caller splits rows between threads.
#pragma once

#include <cstdint>

// No Tensor here: lstm_gemv_avx512.cpp includes this file with the AVX-512 flags, and an
// inline function it instantiated could replace the base build's copy at link time.

namespace nn::cpu::lstm_detail {

// The largest batch the kernels take (vectors per weight row).
inline constexpr int kGemvMaxBatch = 4;

// out[b*ldo + r] += sum_k w[r*K + k] * v[b*ldv + k]  for r < rows, b < nb (1 <= nb <= 4).
using GemvFn = void (*)(const float* w, std::int64_t rows, std::int64_t K, const float* v,
                        std::int64_t ldv, int nb, float* out, std::int64_t ldo);
// The same with half weights.
using GemvF16Fn = void (*)(const std::uint16_t* w, std::int64_t rows, std::int64_t K,
                           const float* v, std::int64_t ldv, int nb, float* out,
                           std::int64_t ldo);

void gemv_generic(const float* w, std::int64_t rows, std::int64_t K, const float* v,
                  std::int64_t ldv, int nb, float* out, std::int64_t ldo);
// Converts each row to float32 in C++ and runs gemv_generic on it (any CPU).
void gemv_f16_generic(const std::uint16_t* w, std::int64_t rows, std::int64_t K, const float* v,
                      std::int64_t ldv, int nb, float* out, std::int64_t ldo);
#if defined(LIBNN_X86)
// Only when cpu_features().avx512 (which implies the F16C conversions).
void gemv_avx512(const float* w, std::int64_t rows, std::int64_t K, const float* v,
                 std::int64_t ldv, int nb, float* out, std::int64_t ldo);
void gemv_f16_avx512(const std::uint16_t* w, std::int64_t rows, std::int64_t K, const float* v,
                     std::int64_t ldv, int nb, float* out, std::int64_t ldo);
#endif

// IEEE 754 binary16 <-> binary32, in plain C++ (exact bit manipulation, any CPU).
// float_to_half rounds to nearest, ties to even; overflow gives ±infinity, NaN stays a
// (quiet) NaN. half_to_float is exact.
std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t half);

}  // namespace nn::cpu::lstm_detail
